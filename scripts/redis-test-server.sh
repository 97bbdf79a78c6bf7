#!/usr/bin/env bash
# A throwaway Redis for tests: loopback only, a free port, a temp dir, no persistence.
#
#   scripts/redis-test-server.sh            start; prints the URL, then the state dir, one per line
#   scripts/redis-test-server.sh stop DIR   stop the server started with state dir DIR and delete DIR
#
# Needs Debian's redis-server (apt-get install -y redis-server).
set -euo pipefail

if [[ "${1:-start}" == "stop" ]]; then
    dir="${2:?usage: $0 stop DIR}"
    if [[ -f "$dir/redis.pid" ]]; then
        pid="$(cat "$dir/redis.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    [[ -f "$dir/redis.conf" ]] && rm -rf -- "$dir"  # only a dir this script made
    exit 0
fi

command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server" >&2; exit 127; }
dir="$(mktemp -d "${TMPDIR:-/tmp}/bmefhir-redis.XXXXXX")"

for _ in $(seq 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    cat >"$dir/redis.conf" <<EOF
bind 127.0.0.1
protected-mode yes
port $port
daemonize yes
pidfile $dir/redis.pid
dir $dir
logfile $dir/redis.log
save ""
appendonly no
EOF
    rm -f "$dir/redis.pid"
    redis-server "$dir/redis.conf" >/dev/null 2>&1 || continue
    for _ in $(seq 50); do  # until it answers (or it failed to bind: pick another port)
        if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            echo "redis://127.0.0.1:$port/0"
            echo "$dir"
            exit 0
        fi
        [[ -f "$dir/redis.pid" ]] && ! kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null && break
        sleep 0.1
    done
    [[ -f "$dir/redis.pid" ]] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
done
echo "could not start redis-server on a loopback port; log: $dir/redis.log" >&2
exit 1
