#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, types, unit, fault and integration tests.
# Needs only the package registries (PyPI, npm, Maven Central, Debian). Downloads are cached in
# ${BMEFHIR_CACHE:-~/.cache/bmefhir} and ~/.m2, so later runs on the same machine start fast.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "Python environment"
scripts/setup.sh

step "System packages (Debian): Redis, PostgreSQL, Chromium"
scripts/system-packages.sh

step "HL7 FHIR R4 examples (npm hl7.fhir.r4.examples 4.0.1)"
scripts/fetch-r4-examples.sh

step "HAPI FHIR JPA server (Maven Central)"
scripts/hapi-build.sh

step "HL7 FHIR validator (ig/validator, Maven Central)"
scripts/validator-build.sh >/dev/null

step "SUSHI (npm fsh-sushi, ig/sushi) and the FHIR R4 core package it reads (assembled offline)"
scripts/sushi.sh --setup >/dev/null

step "Browser-test prerequisites (Debian chromium, npm oauth2-mock-server)"
scripts/browser-test-setup.sh

step "ruff"
.venv/bin/ruff check bmefhir tests scripts examples benchmarks
.venv/bin/ruff format --check bmefhir tests scripts examples benchmarks
step "mypy (strict)"
.venv/bin/mypy

step "pytest"
# CI=true makes missing prerequisites fail instead of skip.
export CI="${CI:-true}"
# Two pytest-xdist workers taking whole modules (module fixtures and test order kept) in collection
# order (tests/conftest.py puts server-less and slow modules first); each worker has its own HAPI
# sandbox. Later arguments win: `scripts/test.sh -n 0` runs in one process.
exec .venv/bin/pytest -n "${BMEFHIR_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
