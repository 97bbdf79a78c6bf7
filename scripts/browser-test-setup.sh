#!/usr/bin/env bash
# Browser-test prerequisites for the SMART app (tests/browser): Debian's chromium and the npm
# oauth2-mock-server (the stand-in EHR authorization server) in a project-local folder.
# Playwright's own browser download is never used: the tests pass /usr/bin/chromium explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_DIR="${BMEFHIR_NODE_DIR:-.cache/node}"   # gitignored (/.cache/)
OAUTH2_MOCK_SERVER_VERSION="8.2.3"  # 9.x needs Node 22; Debian bookworm-era CI has Node 20

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
chromium --version

if [ ! -f "$NODE_DIR/node_modules/oauth2-mock-server/package.json" ] \
   || ! grep -q "\"version\": \"$OAUTH2_MOCK_SERVER_VERSION\"" "$NODE_DIR/node_modules/oauth2-mock-server/package.json"; then
  mkdir -p "$NODE_DIR"
  [ -f "$NODE_DIR/package.json" ] || printf '{"private": true}\n' > "$NODE_DIR/package.json"
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent "oauth2-mock-server@$OAUTH2_MOCK_SERVER_VERSION"
fi
echo "oauth2-mock-server $(node -p "require('./$NODE_DIR/node_modules/oauth2-mock-server/package.json').version")"
