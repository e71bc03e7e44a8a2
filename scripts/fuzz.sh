#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each: `make fuzz`.
#
# go1.26's fuzzing coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime runs out while a worker is still inside a call
# (golang/go#75804, fixed in go1.27). Such a failure names no input and writes
# none. A target that fails in exactly that way is run once more; any other
# failure, or that one twice in a row, fails the run.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# deadline_only LOG TARGET: the run's one failure is the target's bare
# "context deadline exceeded", and no failing input was written.
deadline_only() {
  grep -q 'Failing input written' "$1" && return 1
  awk -v t="--- FAIL: $2 (" '
    index($0, t) == 1 { in_fail = 1; fails++; next }
    in_fail && /^FAIL$/ { in_fail = 0; next }
    in_fail { lines++; if ($0 == "    context deadline exceeded") bare++ }
    /^--- FAIL: / { other++ }
    /^panic: / { other++ }
    END { exit !(fails == 1 && lines == 1 && bare == 1 && other == 0) }
  ' "$1"
}

for pkg in $($GO list ./...); do
  for f in $($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
    for try in 1 2; do
      echo "fuzz $pkg $f"
      $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$log"
      [ "${PIPESTATUS[0]}" -eq 0 ] && break
      if [ "$try" -eq 1 ] && deadline_only "$log" "$f"; then
        echo "fuzz: $f stopped with the fuzzing engine's deadline error and no failing input (golang/go#75804); running it once more"
        continue
      fi
      exit 1
    done
  done
done
