#!/usr/bin/env bash
# The production failure and its cure: a tap of a big, busy master whose
# client-output-buffer-limit for replicas is small.
#
# One channel: while the snapshot travels, the master keeps every write for
# the tap in the tap's output buffer; past the limit it drops the tap, which
# reconnects and starts a new full sync: it never gets through.
# Dual channel (Valkey 8, dual-channel-replication-enabled yes): the master
# streams those writes at once on the main connection, the tap holds them
# (memory, then a temporary file) and applies them after the snapshot.
#
# Usage: scripts/repro-dual-channel.sh   (from the repository root)
# Knobs (environment): KEYS (1000000) x SIZE (1000 bytes) of data, LIMIT
# (the replica output buffer hard limit, 16mb), SECS (seconds per run, 120),
# VALKEY (the server binary), WORK (scratch directory).
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-1000}
LIMIT=${LIMIT:-16mb}
SECS=${SECS:-120}
VALKEY=${VALKEY:-$( (ls ../shared/servers/valkey-8*/valkey-server ../../shared/servers/valkey-8*/valkey-server 2>/dev/null || true) | head -1)}
WORK=${WORK:-$(mktemp -d)}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
test -x "$VALKEY" || { echo "no valkey-server 8 (set VALKEY)"; exit 1; }
echo "work dir $WORK, master $VALKEY on port $PORT"

go build -o "$WORK/redtap" ./examples/redtap

cleanup() {
  [ -n "${BENCH:-}" ] && kill "$BENCH" 2>/dev/null || true
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$VALKEY" --port "$PORT" --bind 127.0.0.1 --dir "$WORK" --logfile "$WORK/master.log" --daemonize yes \
  --save '' --appendonly no --enable-debug-command yes \
  --repl-diskless-sync yes --repl-diskless-sync-delay 0 --repl-backlog-size 1mb \
  --dual-channel-replication-enabled yes \
  --client-output-buffer-limit "replica $LIMIT $LIMIT 0"
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done
redis-cli -p "$PORT" debug populate "$KEYS" key "$SIZE" >/dev/null
echo "dataset: $(redis-cli -p "$PORT" info memory | grep '^used_memory_human' | tr -d '\r')," \
  "$(redis-cli -p "$PORT" dbsize) keys"

# Writes at full speed for the whole experiment.
redis-benchmark -p "$PORT" -t set -n 2000000000 -r 1000000 -d 200 -P 32 -c 4 -q >/dev/null 2>&1 &
BENCH=$!
sleep 2

run() { # run <mode>
  local mode=$1 before
  before=$(grep -c "output buffer limits" "$WORK/master.log" || true)
  /usr/bin/time -f "    tap peak RSS %M KiB, CPU %U s user %S s sys" \
    "$WORK/redtap" tap --addr "127.0.0.1:$PORT" --format none --dual-channel "$mode" 2>"$WORK/tap-$mode.err" &
  local pid=$!
  sleep "$SECS"
  pkill -INT -P "$pid" || kill -INT "$pid"
  wait "$pid" || true
  local after
  after=$(grep -c "output buffer limits" "$WORK/master.log" || true)
  echo "--- dual-channel $mode, $SECS s:"
  grep -E "sync with|disconnected|snapshot done" "$WORK/tap-$mode.err" | sed 's/^/    /' | head -6
  echo "    ($(grep -c 'sync with' "$WORK/tap-$mode.err") syncs, $(grep -c disconnected "$WORK/tap-$mode.err") disconnections)"
  tail -2 "$WORK/tap-$mode.err" | sed 's/^/    /'
  echo "    master dropped the tap for its output buffer $((after - before)) times"
}
run off
run on
echo "master log, BGSAVE for SYNC:"
grep -oE "using: (dual-channel|normal sync)" "$WORK/master.log" | sort | uniq -c | sed 's/^/    /'
