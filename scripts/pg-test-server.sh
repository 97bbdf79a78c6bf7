#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for tests (Debian's postgresql package; no system service used).
#
#   scripts/pg-test-server.sh start DIR [PORT]   # initdb in DIR, start on 127.0.0.1:PORT, print the URL
#   scripts/pg-test-server.sh stop DIR           # stop it (DIR can then be deleted)
#
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user (or `nobody`).
# Fast and unsafe on purpose (fsync off, trust auth on loopback only): test data only.
set -euo pipefail

cmd="${1:?usage: $0 start DIR [PORT] | stop DIR}"
dir="${2:?usage: $0 start DIR [PORT] | stop DIR}"
port="${3:-}"

bindir="$(pg_config --bindir 2>/dev/null || true)"
if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
  echo "PostgreSQL server binaries not found: apt-get install -y postgresql" >&2
  exit 3
fi

as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    local user=postgres
    id -u postgres >/dev/null 2>&1 || user=nobody
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    if [[ -z "$port" ]]; then
      port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    fi
    mkdir -p "$dir"
    if [[ "$(id -u)" == 0 ]]; then
      owner=postgres; id -u postgres >/dev/null 2>&1 || owner=nobody
      chown "$owner" "$dir"
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U bmefhir --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { cat "$dir/data/server.log" >&2; exit 1; }
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U bmefhir bmefhir_test
    echo "postgresql://bmefhir@127.0.0.1:$port/bmefhir_test"
    ;;
  stop)
    [[ -d "$dir/data" ]] && as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start DIR [PORT] | stop DIR" >&2
    exit 2
    ;;
esac
