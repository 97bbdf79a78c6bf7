#!/usr/bin/env bash
# Create .venv and install bmefhir with its test tools. Idempotent; needs only PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "bmefhir installed in .venv ($(.venv/bin/bmefhir --help >/dev/null && echo ok))" >&2
