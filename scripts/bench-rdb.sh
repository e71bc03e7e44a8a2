#!/usr/bin/env bash
# Whole-program RDB decoding comparison (BENCHMARKS.md): builds the ~150 MB
# mixed dataset with a real redis-server when it is missing, builds the
# binaries, runs redtap, redis-check-rdb and hdt3213/rdb on the same file in
# the same run (interleaved, BENCH_RUNS rounds), prints a table, then runs
# the Go benchmarks.
#
#   scripts/bench-rdb.sh                 # everything
#   BENCH_RUNS=10 BENCH_GO=0 scripts/bench-rdb.sh
#
# Environment:
#   BENCH_DIR   work directory (default /tmp/redtap-bench): binaries, results
#   BENCH_RDB   the RDB file (default $BENCH_DIR/mixed-150mb.rdb; built if missing)
#   BENCH_RUNS  rounds of the whole-program runs (default 5)
#   BENCH_GO    0 to skip the Go benchmarks (default 1)
#   BENCH_GO_COUNT  -count of the Go benchmarks (default 3)
#   BENCH_SCALE divide the dataset's counts by this when building it (default 1)
#
# Needs: go, redis-server, redis-cli, redis-check-rdb, GNU time at
# /usr/bin/time; hyperfine is used when present. On Debian:
#   apt-get install -y redis-server time hyperfine
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-/tmp/redtap-bench}
BENCH_RDB=${BENCH_RDB:-$BENCH_DIR/mixed-150mb.rdb}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_GO=${BENCH_GO:-1}
BENCH_GO_COUNT=${BENCH_GO_COUNT:-3}
BENCH_SCALE=${BENCH_SCALE:-1}
BIN=$BENCH_DIR/bin
RES=$BENCH_DIR/results
mkdir -p "$BIN" "$RES"

for tool in go redis-server redis-cli redis-check-rdb; do
	command -v "$tool" >/dev/null || { echo "bench-rdb: $tool not found (apt-get install -y redis-server)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench-rdb: /usr/bin/time not found (apt-get install -y time)" >&2; exit 1; }

# 1. The dataset.
if [ ! -s "$BENCH_RDB" ]; then
	srv=$(mktemp -d)
	sock=$srv/redis.sock
	echo "== building $BENCH_RDB with redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') in $srv"
	redis-server --port 0 --unixsocket "$sock" --dir "$srv" --save '' --appendonly no \
		--logfile "$srv/redis.log" --daemonize no &
	srv_pid=$!
	trap 'kill $srv_pid 2>/dev/null || true; rm -rf "$srv"' EXIT
	for _ in $(seq 100); do redis-cli -s "$sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
	go run ./internal/testkit/benchdata/cmd/benchdata --addr "unix:$sock" --out "$BENCH_RDB" --scale "$BENCH_SCALE"
	redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
	wait $srv_pid 2>/dev/null || true
	trap - EXIT
	rm -rf "$srv"
fi
echo "== redtap $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- rdb examples/redtap ':!*_test.go' || echo ' + uncommitted changes in rdb/ or examples/redtap'), $(go version | cut -d' ' -f3), $(nproc) CPUs, load:$(cut -d' ' -f1-3 /proc/loadavg)"
size=$(stat -c %s "$BENCH_RDB")
echo "== dataset: $BENCH_RDB, $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.1f MiB", s/1048576}'))"

# 2. The binaries.
echo "== building binaries in $BIN"
go build -o "$BIN/redtap" ./examples/redtap
go build -o "$BIN/hdt3213-parse" ./internal/testkit/benchdata/cmd/hdt3213-parse
# hdt3213's own CLI, built outside our module (its JSON helper needs
# dependencies our go.mod does not carry)
# (a scratch module: `go install ...@v1.3.2` would ask the proxy for the
# version list, which it refuses here)
hdt_mod=$(mktemp -d)
(cd "$hdt_mod" && go mod init hdt3213build >/dev/null 2>&1 &&
	go get github.com/hdt3213/rdb@v1.3.2 >/dev/null 2>&1 &&
	go build -o "$BIN/hdt3213-rdb" github.com/hdt3213/rdb)
rm -rf "$hdt_mod"

names=(redtap redis-check-rdb hdt3213-parse hdt3213-json)
cmds=(
	"$BIN/redtap dump --format none $BENCH_RDB"
	"redis-check-rdb $BENCH_RDB"
	"$BIN/hdt3213-parse $BENCH_RDB"
	"$BIN/hdt3213-rdb -c json -o /dev/null $BENCH_RDB"
)

# 3. One checked run of each (also warms the page cache).
echo "== check runs"
for i in "${!names[@]}"; do
	if ! ${cmds[$i]} >"$RES/${names[$i]}.out" 2>&1; then
		echo "bench-rdb: ${names[$i]} failed:" >&2
		tail -5 "$RES/${names[$i]}.out" >&2
		exit 1
	fi
	summary=$(grep -v -e '^\[offset' -e 'already expired' -e 'expires$' "$RES/${names[$i]}.out" | tail -1 || true)
	printf '%-16s %s\n' "${names[$i]}" "${summary:-(no output, exit 0)}"
done
grep -q 'RDB looks OK' "$RES/redis-check-rdb.out" || { echo "bench-rdb: redis-check-rdb did not accept the file" >&2; exit 1; }

# 4. Timed runs, interleaved so that background load hits every program alike.
echo "== $BENCH_RUNS interleaved rounds: wall s, user s, sys s, peak RSS KB"
for n in "${names[@]}"; do : >"$RES/$n.time"; done
for r in $(seq "$BENCH_RUNS"); do
	for i in "${!names[@]}"; do
		/usr/bin/time -f '%e %U %S %M' -a -o "$RES/${names[$i]}.time" ${cmds[$i]} >/dev/null 2>&1
	done
	echo "round $r done"
done

table() {
	local base
	base=$(sort -n "$RES/redtap.time" | head -1 | cut -d' ' -f1)
	echo
	echo "| program | best wall (s) | median wall (s) | best user+sys (s) | peak RSS (MiB) | best wall / redtap's |"
	echo "|---|---:|---:|---:|---:|---:|"
	for n in "${names[@]}"; do
		sort -n "$RES/$n.time" | awk -v n="$n" -v base="$base" '
			{ w[NR] = $1; cpu = $2 + $3; if (NR == 1 || cpu < bc) bc = cpu; if ($4 > rss) rss = $4 }
			END {
				med = (NR % 2) ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2
				printf "| %s | %.2f | %.2f | %.2f | %.1f | %.2fx |\n", n, w[1], med, bc, rss / 1024, w[1] / base
			}'
	done
	echo
}
table | tee "$RES/table.md"
echo "(raw samples: $RES/*.time; load average now:$(cut -d' ' -f1-3 /proc/loadavg))"

# 5. hyperfine, when present: the same commands, its own statistics.
if command -v hyperfine >/dev/null; then
	echo "== hyperfine"
	hargs=()
	for i in "${!names[@]}"; do hargs+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
	hyperfine -N --warmup 1 --runs "$BENCH_RUNS" --export-markdown "$RES/hyperfine.md" "${hargs[@]}"
	cat "$RES/hyperfine.md"
fi

# 6. The Go benchmarks (mixed: a 1/10 dataset built with redis-server; file: this file).
if [ "$BENCH_GO" != 0 ]; then
	echo "== go test -bench"
	if [ -z "${REDTAP_CORPUS:-}" ] && [ -f ../shared/rdb-corpus/MANIFEST.md ]; then
		export REDTAP_CORPUS=$(cd ../shared/rdb-corpus && pwd)
	fi
	REDTAP_BENCH_RDB=$BENCH_RDB go test -run '^$' -bench 'Decode' -benchmem -count "$BENCH_GO_COUNT" ./rdb/ | tee "$RES/gobench.txt"
fi
