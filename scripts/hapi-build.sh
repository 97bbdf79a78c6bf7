#!/usr/bin/env bash
# Build the HAPI FHIR R4 JPA sandbox server (sandbox/hapi) into the cache.
#
#   scripts/hapi-build.sh          # prints the build directory on stdout
#
# Cache: ${BMEFHIR_CACHE:-${XDG_CACHE_HOME:-~/.cache}/bmefhir}/hapi
#   builds/<hash>/classes, builds/<hash>/lib   compiled app + runtime jars
#   current -> builds/<hash>                    last successful build
# <hash> covers sandbox/hapi/pom.xml and sandbox/hapi/src, so an unchanged
# source tree returns at once; a changed one is rebuilt.  Maven's downloads are
# cached in ~/.m2 as usual (first build: ~300 MB from Maven Central).
# Needs: java >= 17, mvn >= 3.6.  Only Maven Central is contacted.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${BMEFHIR_HAPI_SRC:-$repo_root/sandbox/hapi}
cache=${BMEFHIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bmefhir}/hapi

die() { echo "hapi-build: $*" >&2; exit 1; }

[ -f "$src/pom.xml" ] || die "no Maven project at $src"
command -v java >/dev/null || die "java not found (need Java 17+)"
command -v mvn >/dev/null || die "mvn not found (need Maven 3.6+)"

stamp=$(cd "$src" && find pom.xml src -type f -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-16)
out=$cache/builds/$stamp

mkdir -p "$cache/builds"
exec 9>"$cache/.build.lock"
flock 9   # one build at a time per cache (parallel test workers)

if [ ! -f "$out/.complete" ]; then
    java_major=$(java -XshowSettings:properties -version 2>&1 \
                 | sed -n 's/^ *java.specification.version = //p')
    [ "${java_major:-0}" -ge 17 ] 2>/dev/null || die "Java 17+ required, found ${java_major:-unknown}"

    echo "hapi-build: building HAPI sandbox ($stamp); the first build downloads from Maven Central" >&2
    work=$(mktemp -d "$cache/tmp.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    cp -R "$src/pom.xml" "$src/src" "$work/"
    start=$(date +%s)
    mvn -q -B -Dstyle.color=never -f "$work/pom.xml" package >&2 \
        || die "maven build failed (see output above)"
    rm -rf "$out"
    mkdir -p "$out"
    mv "$work/target/classes" "$work/target/lib" "$out/"
    touch "$out/.complete"
    echo "hapi-build: built in $(( $(date +%s) - start ))s" >&2
fi

ln -sfn "builds/$stamp" "$cache/current"
# keep only the current build (each holds ~300 MB of jars)
for old in "$cache"/builds/*; do
    [ "$old" = "$out" ] || rm -rf "$old"
done
echo "$out"
