#!/usr/bin/env bash
# Compile a FHIR Shorthand project with SUSHI (npm fsh-sushi, pinned in ig/sushi/package-lock.json), offline.
#
#   scripts/sushi.sh PROJECT_DIR OUT_DIR     # resources land in OUT_DIR/fsh-generated/resources/
#   scripts/sushi.sh --setup                 # only install SUSHI and assemble the core package
#
# SUSHI reads its dependencies from the FHIR package cache ($HOME/.fhir/packages). The R4 core package
# (hl7.fhir.r4.core#4.0.1) is assembled there from Maven Central's hapi-fhir-validation-resources-r4 by
# the validator runner (ig/validator, org.bmefhir.validator.AssembleCore), in
# ${BMEFHIR_CACHE:-~/.cache/bmefhir}/validator/home, and SUSHI runs with HOME set to that folder, so no
# FHIR package registry is needed. SUSHI's automatic dependencies (hl7.fhir.uv.tools.r4,
# hl7.terminology.r4, hl7.fhir.uv.extensions.r4, all "#latest") are only on the FHIR package registry:
# SUSHI warns that it cannot load them and goes on; bmefhir's FSH uses none of them. SUSHI also asks the
# npm registry for its latest version (information only; a warning when unreachable). Any other warning
# or error fails the build. Called by scripts/build_profiles.py and scripts/test.sh; docs/profiles.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
npm_dir=$repo_root/ig/sushi
cache=${BMEFHIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bmefhir}/validator
home=$cache/home

die() { echo "sushi: $*" >&2; exit 1; }
command -v node >/dev/null || die "node not found (need Node 18+)"
command -v npm >/dev/null || die "npm not found"

# 1. SUSHI from the npm registry, exactly the locked version, in ig/sushi/node_modules (gitignored).
lock_hash=$(sha256sum "$npm_dir/package-lock.json" | cut -c1-16)
stamp=$npm_dir/node_modules/.bmefhir-lock-$lock_hash
if [ ! -f "$stamp" ]; then
    mkdir -p "$cache"
    exec 8>"$cache/.sushi-install.lock"   # one npm ci at a time (parallel test workers)
    flock 8
    if [ ! -f "$stamp" ]; then
        echo "sushi: npm ci (fsh-sushi, ig/sushi/package-lock.json)" >&2
        npm ci --prefix "$npm_dir" --no-audit --no-fund --silent >&2 || die "npm ci failed"
        touch "$stamp"
    fi
    exec 8>&-
fi
sushi=$npm_dir/node_modules/.bin/sushi

# 2. The R4 core package in the cache SUSHI reads.
if [ ! -f "$home/.fhir/packages/hl7.fhir.r4.core#4.0.1/package/.index.json" ]; then
    command -v java >/dev/null || die "java not found (need Java 17+ to assemble the FHIR core package)"
    build=$("$repo_root/scripts/validator-build.sh")
    java -cp "$build/classes:$build/lib/*" org.bmefhir.validator.AssembleCore "$home" >/dev/null \
        || die "could not assemble hl7.fhir.r4.core#4.0.1"
fi

[ "${1:-}" = "--setup" ] && { echo "$sushi"; exit 0; }
[ $# -eq 2 ] || { echo "usage: $0 PROJECT_DIR OUT_DIR | --setup" >&2; exit 2; }

# 3. Compile. SUSHI's exit status counts its errors; its warnings are checked here.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
HOME=$home npm_config_cache=${npm_config_cache:-$HOME/.npm} npm_config_update_notifier=false "$sushi" build "$1" --out "$2" >"$log" 2>&1 || status=$?
unexpected=$(grep -E '^(warn|error)' "$log" \
    | grep -vE 'Failed to load automatically-provided (hl7\.fhir\.uv\.tools\.r4|hl7\.terminology\.r4|hl7\.fhir\.uv\.extensions\.r4)#latest' \
    | grep -vE 'Unable to determine the latest version of sushi' \
    || true)
if [ "$status" -ne 0 ] || [ -n "$unexpected" ]; then
    cat "$log" >&2
    die "SUSHI reported errors or unexpected warnings (above)"
fi
