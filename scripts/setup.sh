#!/usr/bin/env bash
# Create .venv and install bmefhir with its test tools. Idempotent; needs only PyPI.
#
# The wheels of one resolution are kept in ${BMEFHIR_CACHE:-~/.cache/bmefhir}/wheels/<key> (key:
# pyproject.toml, the cache layout, the Python build and the machine), so a later clone on the same
# machine installs without the network: pip's own HTTP cache keeps nothing from the registry here,
# and downloading the ~140 wheels again took most of the set-up of a clean clone. A fresh machine
# (or a changed pyproject.toml) resolves and downloads once, as before. The installed modules are
# byte-compiled on both cores (compileall -j 0) instead of one by one by pip. They must be compiled
# before the tests import them: pytest's filterwarnings=error turns a compile-time warning of a
# dependency (pysbd's invalid escape sequences) into a SyntaxError.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip=(.venv/bin/python -m pip --quiet)
layout=2  # what a cache folder holds; change it when the download below changes
key=$({ cat pyproject.toml; echo "$layout"; .venv/bin/python -VV; uname -m; } | sha256sum | cut -c1-16)
cache="${BMEFHIR_CACHE:-$HOME/.cache/bmefhir}/wheels"
wheels="$cache/$key"
if [ ! -f "$wheels/.complete" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.partial-$key-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # pip itself and the build backend of the editable install below (hatchling needs editables for
  # it), then everything ".[test]" needs.
  "${pip[@]}" download --dest "$tmp" pip hatchling editables
  "${pip[@]}" wheel --wheel-dir "$tmp" ".[test]"
  rm -f "$tmp"/bmefhir-*.whl  # this checkout is installed editable instead
  touch "$tmp/.complete"
  rm -rf "$wheels"
  mv "$tmp" "$wheels"  # whole or not at all: a run cut short leaves only a .partial folder
  trap - EXIT
fi
touch "$wheels"  # in use: kept by the clean-up below
find "$cache" -mindepth 1 -maxdepth 1 -mtime +14 -exec rm -rf {} +  # resolutions unused for two weeks
offline=("${pip[@]}" install --no-index --find-links "$wheels")
"${offline[@]}" --upgrade pip
"${offline[@]}" --no-compile -e ".[test]"
.venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null || true  # like pip: a file that does not compile is left to fail where imported
echo "bmefhir installed in .venv ($(.venv/bin/bmefhir --help >/dev/null && echo ok))" >&2
