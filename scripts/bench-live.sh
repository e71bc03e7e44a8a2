#!/usr/bin/env bash
# Live delivery from the outside (BENCHMARKS.md, "Live delivery"): a
# redis-server, `redtap serve` on one sorted set, and livebench (writer + SSE
# clients) in a third process. For each interval and each rate x
# subscribers it prints livebench's line: achieved rate, latency
# p50/p99/max from the write to the clients' sockets, the server's CPU per
# 1,000 delivered messages and its RSS. Then it holds IDLE idle subscribers
# on a fresh server and prints what they cost.
#
#   scripts/bench-live.sh
#   RATES="1000 10000" SUBS="100 1000" INTERVALS="0 50ms" DUR=10s IDLE=10000 scripts/bench-live.sh
#   REDTAP_BIN=/path/to/old/redtap RUNS=5 ...   # another build of the CLI, each configuration 5 times
#
# Needs: go, redis-server; ulimit -n above IDLE + SUBS + 100.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"1000 10000"}
SUBS=${SUBS:-"100 1000"}
INTERVALS=${INTERVALS:-"0 50ms"}
DUR=${DUR:-10s}
IDLE=${IDLE:-10000}
WINDOW=${WINDOW:-100}
RUNS=${RUNS:-1}
DIR=${BENCH_DIR:-/tmp/redtap-bench-live}
mkdir -p "$DIR"

BIN=${REDTAP_BIN:-$DIR/redtap}
[ -n "${REDTAP_BIN:-}" ] || go build -o "$BIN" ./examples/redtap
go build -o "$DIR/livebench" ./internal/testkit/benchdata/cmd/livebench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
	--repl-diskless-sync-delay 0 --logfile "$DIR/redis.log" --daemonize yes --pidfile "$DIR/redis.pid"
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
	redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

start_serve() { # interval
	LPORT=$(free_port)
	"$BIN" serve --addr "127.0.0.1:$RPORT" --match lat --window "$WINDOW" \
		--interval "$1" --listen "127.0.0.1:$LPORT" >"$DIR/serve.log" 2>&1 &
	SPID=$!
	for _ in $(seq 100); do grep -q serving "$DIR/serve.log" && return; sleep 0.1; done
	echo "serve did not start:" >&2; cat "$DIR/serve.log" >&2; exit 1
}
stop_serve() { kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for iv in $INTERVALS; do
	for subs in $SUBS; do
		for rate in $RATES; do
			for _ in $(seq "$RUNS"); do
				redis-cli -p "$RPORT" del lat >/dev/null
				start_serve "$iv"
				"$DIR/livebench" --redis "127.0.0.1:$RPORT" --url "http://127.0.0.1:$LPORT/events?match=lat" \
					--pid "$SPID" --rate "$rate" --subs "$subs" --dur "$DUR" --bare --label "interval=$iv"
				stop_serve
			done
		done
	done
done
if [ "$IDLE" -gt 0 ]; then
	redis-cli -p "$RPORT" del lat >/dev/null
	redis-cli -p "$RPORT" zadd lat 1 a >/dev/null
	start_serve 50ms
	"$DIR/livebench" --url "http://127.0.0.1:$LPORT/events?match=lat" --pid "$SPID" --idle "$IDLE" --dur 5s --label "interval=50ms"
	stop_serve
fi
echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
