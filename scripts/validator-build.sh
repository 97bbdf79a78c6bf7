#!/usr/bin/env bash
# Build bmefhir's offline HL7 FHIR validator runner (ig/validator: org.hl7.fhir.validation 6.6.7) into
# the cache. Called by scripts/test.sh and, on demand, by scripts/validator.sh.
#
#   scripts/validator-build.sh        # prints the build directory (classes/, lib/) on stdout
#
# Cache: ${BMEFHIR_CACHE:-${XDG_CACHE_HOME:-~/.cache}/bmefhir}/validator
#   build-<hash>/classes, build-<hash>/lib   compiled runner + runtime jars
# <hash> covers ig/validator/pom.xml and ig/validator/src, so an unchanged module returns at once and a
# changed one is rebuilt. Maven's downloads are cached in ~/.m2 (the jars are mostly HAPI's, shared
# with sandbox/hapi). Needs java >= 17 and mvn >= 3.6; only Maven Central is contacted.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module=$repo_root/ig/validator
cache=${BMEFHIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bmefhir}/validator

die() { echo "validator-build: $*" >&2; exit 1; }

[ -f "$module/pom.xml" ] || die "no Maven project at $module"
command -v java >/dev/null || die "java not found (need Java 17+)"

stamp=$(cd "$module" && find pom.xml src -type f -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-16)
out=$cache/build-$stamp

mkdir -p "$cache/home"
exec 9>"$cache/.build.lock"
flock 9   # one build at a time per cache (parallel test workers)

if [ ! -f "$out/.complete" ]; then
    command -v mvn >/dev/null || die "mvn not found (need Maven 3.6+)"
    java_major=$(java -XshowSettings:properties -version 2>&1 \
                 | sed -n 's/^ *java.specification.version = //p')
    [ "${java_major:-0}" -ge 17 ] 2>/dev/null || die "Java 17+ required, found ${java_major:-unknown}"
    echo "validator-build: building ig/validator ($stamp); the first build downloads from Maven Central" >&2
    work=$(mktemp -d "$cache/tmp.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    cp -R "$module/pom.xml" "$module/src" "$work/"
    start=$(date +%s)
    mvn -q -B -Dstyle.color=never -f "$work/pom.xml" package >&2 || die "maven build failed (see output above)"
    rm -rf "$cache"/build-*
    mkdir -p "$out"
    mv "$work/target/classes" "$work/target/lib" "$out/"
    touch "$out/.complete"
    echo "validator-build: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
