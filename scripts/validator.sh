#!/usr/bin/env bash
# Run the HL7 FHIR validator (org.hl7.fhir.validation 6.6.7) over a folder of JSON resources, offline,
# in one JVM (ig/validator, built with Maven from Maven Central only).
#
#   scripts/validator.sh INPUT_DIR > results.jsonl     # one JSON line per file: file, resourceType, issues
#
# The FHIR R4 core package is assembled from ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4 into
# ${BMEFHIR_CACHE:-~/.cache/bmefhir}/validator/home/.fhir/packages (the JVM runs with that user.home),
# so no FHIR package registry is contacted. Profiles: profiles/. See docs/validation.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module=$repo_root/ig/validator
cache=${BMEFHIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bmefhir}/validator
[ $# -eq 1 ] || { echo "usage: $0 INPUT_DIR" >&2; exit 2; }
mkdir -p "$cache/home"
exec 9>"$cache/.build.lock"
flock 9
stamp=$(cd "$module" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ ! -f "$cache/build-$stamp/.complete" ]; then
    rm -rf "$cache"/build-*
    mvn -q -B -Dstyle.color=never -f "$module/pom.xml" package >&2
    mkdir -p "$cache/build-$stamp"
    cp -R "$module/target/classes" "$module/target/lib" "$cache/build-$stamp/"
    touch "$cache/build-$stamp/.complete"
fi
flock -u 9
exec java ${BMEFHIR_VALIDATOR_JAVA_OPTS:--Xmx1500m -XX:+UseSerialGC} -Duser.home="$cache/home" \
    -cp "$cache/build-$stamp/classes:$cache/build-$stamp/lib/*" org.bmefhir.validator.Main \
    "$cache/home" "$repo_root/profiles" "$1"
