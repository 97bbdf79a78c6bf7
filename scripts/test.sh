#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, types, unit, fault and integration tests.
# Needs only the package registries (PyPI, npm, Maven Central, Debian). Downloads are cached in
# ${BMEFHIR_CACHE:-~/.cache/bmefhir} and ~/.m2, so later runs on the same machine start fast.
#
# The set-up runs in three lanes at once, since its steps wait on the network or one core each:
# Python (then ruff and mypy), Debian + npm (then the browser prerequisites, the R4 examples and
# SUSHI: one apt and one node_modules writer at a time), and Maven (HAPI, then the validator, one
# ~/.m2 writer at a time). Each lane's output is printed when it ends; a failed lane fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

python_lane() {
  step "Python environment"
  scripts/setup.sh
  step "ruff"
  .venv/bin/ruff check bmefhir tests scripts examples benchmarks
  .venv/bin/ruff format --check bmefhir tests scripts examples benchmarks
  step "mypy (strict)"
  # A cache shared by the clones of this machine: mypy re-checks a module whose content (hash)
  # changed and what depends on it, so a clean clone costs 2 s of CPU instead of 42 s.
  .venv/bin/mypy --cache-dir "${BMEFHIR_CACHE:-$HOME/.cache/bmefhir}/mypy"
}

system_lane() {
  step "System packages (Debian): Redis, PostgreSQL, Chromium"
  scripts/system-packages.sh
  step "Browser-test prerequisites (Debian chromium, npm oauth2-mock-server)"
  scripts/browser-test-setup.sh
  step "HL7 FHIR R4 examples (npm hl7.fhir.r4.examples 4.0.1)"
  scripts/fetch-r4-examples.sh
  step "SUSHI (npm fsh-sushi, ig/sushi) and the FHIR R4 core package it reads (assembled offline)"
  scripts/sushi.sh --setup >/dev/null
}

maven_lane() {
  step "HAPI FHIR JPA server (Maven Central)"
  scripts/hapi-build.sh
  step "HL7 FHIR validator (ig/validator, Maven Central)"
  scripts/validator-build.sh >/dev/null
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
lanes=(python_lane system_lane maven_lane)
pids=()
for lane in "${lanes[@]}"; do
  (set -euo pipefail; "$lane") >"$logs/$lane" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!lanes[@]}"; do
  status=0
  wait "${pids[$i]}" || status=$?
  cat "$logs/${lanes[$i]}" >&2
  if [ "$status" -ne 0 ]; then
    printf '\n==> set-up lane %s failed (exit %s)\n' "${lanes[$i]}" "$status" >&2
    failed=1
  fi
done
[ "$failed" -eq 0 ] || exit 1

step "pytest"
# CI=true makes missing prerequisites fail instead of skip.
export CI="${CI:-true}"
# Two pytest-xdist workers taking whole modules (module fixtures and test order kept) in collection
# order (tests/conftest.py puts server-less and slow modules first); each worker has its own HAPI
# sandbox. Later arguments win: `scripts/test.sh -n 0` runs in one process.
exec .venv/bin/pytest -n "${BMEFHIR_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
