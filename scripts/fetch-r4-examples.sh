#!/usr/bin/env bash
# Fetch the official FHIR R4 example resources (npm package hl7.fhir.r4.examples 4.0.1)
# into a local cache, for tests/normalize/test_r4_examples.py.
#
# Idempotent: does nothing when the package is already unpacked and its
# tarball checksum matches. Usage:
#   scripts/fetch-r4-examples.sh            # into ${BMEFHIR_CACHE:-$HOME/.cache/bmefhir}/r4-examples/
#   scripts/fetch-r4-examples.sh DIR        # into DIR
# Then point the tests at it (optional when the default path is used):
#   export BMEFHIR_R4_EXAMPLES=DIR/package
set -euo pipefail

PACKAGE="hl7.fhir.r4.examples"
VERSION="4.0.1"
# npm registry dist.shasum of hl7.fhir.r4.examples-4.0.1.tgz (`npm view hl7.fhir.r4.examples@4.0.1 dist.shasum`).
SHA1="537ea7db3f3c7b3575fe2eaa7808bad21261cca3"

DEST="${1:-${BMEFHIR_CACHE:-$HOME/.cache/bmefhir}/r4-examples}"
TARBALL="$PACKAGE-$VERSION.tgz"
STAMP="$DEST/.complete-$VERSION"

command -v npm >/dev/null || { echo "error: npm is required (apt-get install npm)" >&2; exit 1; }

if [[ -f "$STAMP" && -d "$DEST/package" ]]; then
  echo "$PACKAGE $VERSION already in $DEST/package"
  exit 0
fi

mkdir -p "$DEST"
tmp="$(mktemp -d "$DEST/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "fetching $PACKAGE@$VERSION from the npm registry ..."
(cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)

actual="$(sha1sum "$tmp/$TARBALL" | cut -d' ' -f1)"
if [[ "$actual" != "$SHA1" ]]; then
  echo "error: checksum mismatch for $TARBALL (expected $SHA1, got $actual)" >&2
  exit 1
fi

mkdir -p "$tmp/unpacked"
tar -xzf "$tmp/$TARBALL" -C "$tmp/unpacked"
rm -rf "$DEST/package"
mv "$tmp/unpacked/package" "$DEST/package"
mv "$tmp/$TARBALL" "$DEST/$TARBALL"
touch "$STAMP"
echo "$PACKAGE $VERSION unpacked into $DEST/package ($(find "$DEST/package" -name '*.json' | wc -l) JSON files)"
