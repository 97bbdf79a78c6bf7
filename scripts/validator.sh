#!/usr/bin/env bash
# Run the HL7 FHIR validator (org.hl7.fhir.validation 6.6.7) over a folder of JSON resources, offline,
# in one JVM (ig/validator, built by scripts/validator-build.sh with Maven from Maven Central only).
#
#   scripts/validator.sh INPUT_DIR > results.jsonl     # one JSON line per file: file, resourceType, issues
#
# The FHIR R4 core package is assembled from ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4 into
# ${BMEFHIR_CACHE:-~/.cache/bmefhir}/validator/home/.fhir/packages (the JVM runs with that user.home),
# so no FHIR package registry is contacted; urn:ietf:bcp:13 comes from org.webjars.npm:mime-db.
# Profiles: profiles/. See docs/validation.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${BMEFHIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bmefhir}/validator
[ $# -eq 1 ] || { echo "usage: $0 INPUT_DIR" >&2; exit 2; }
build=$("$repo_root/scripts/validator-build.sh")
# C1 only (TieredStopAtLevel=1): one run is too short for C2's compilations to pay off; the same
# results for about 37 % less CPU (docs/validation.md).
exec java ${BMEFHIR_VALIDATOR_JAVA_OPTS:--Xmx1500m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} -Duser.home="$cache/home" \
    -cp "$build/classes:$build/lib/*" org.bmefhir.validator.Main \
    "$cache/home" "$repo_root/profiles" "$1"
