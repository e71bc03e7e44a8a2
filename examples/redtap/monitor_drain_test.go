package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// monitorDrain is one consumer of TestMonitorDrainBenchmark: a bare
// replica (subs 0), or a monitor on it with subs subscribers of filter
// match ("" for every key).
type monitorDrain struct {
	subs  int
	match string
}

func (d monitorDrain) String() string {
	switch {
	case d.subs == 0:
		return "bare replica.Next"
	case d.match == "":
		return fmt.Sprintf("monitor, %d sub(s), all", d.subs)
	}
	return fmt.Sprintf("monitor, %d sub(s), 1%%", d.subs)
}

// monitorDrainResult is one round of one consumer.
type monitorDrainResult struct {
	d      monitorDrain
	cmds   int64   // commands piled up
	secs   float64 // wall time of the drain
	cpu    float64 // CPU seconds of this process meanwhile (all goroutines)
	events int64   // events the subscribers received, all of them together
}

// drainPattern selects 1% of redis-benchmark's keys: with -r 100000000 they
// are key:000000000000 to key:000099999999, and key:000000* are those below
// 1,000,000. drainMarker, the last command's key, matches it.
const (
	drainPattern = "key:000000*"
	drainMarker  = "key:000000done"
)

// TestMonitorDrainBenchmark is issue 7's benchmark (not a unit test: it
// runs only with REDTAP_BENCH=1). It is TestTapDrainBenchmark's drain, in
// process: a consumer attached to a master stops reading after the
// snapshot, redis-benchmark piles up REDTAP_BENCH_N (default 3,000,000)
// SETs in the master's output buffer for it, a last SET of drainMarker
// follows, and the clock runs from the moment the consumer reads again
// until it has seen the marker. The consumers: the bare replica's Next
// loop, and a monitor on the replica with 1, 10 and 100 subscribers, each
// draining in its own goroutine (the clock stops when the last one has
// seen the marker), all matching every key or all matching drainPattern
// (1% of the keys). It reports commands per second and the ratio to the
// bare replica of the same round. REDTAP_BENCH_ROUNDS repeats the rounds.
func TestMonitorDrainBenchmark(t *testing.T) {
	if os.Getenv("REDTAP_BENCH") == "" {
		t.Skip("a benchmark: set REDTAP_BENCH=1 (and optionally REDTAP_BENCH_N, REDTAP_BENCH_ROUNDS, REDTAP_BENCH_SUBS=1,10)")
	}
	n := envInt("REDTAP_BENCH_N", 3_000_000)
	rounds := envInt("REDTAP_BENCH_ROUNDS", 1)
	subsList := []int{1, 10, 100}
	if s := os.Getenv("REDTAP_BENCH_SUBS"); s != "" {
		subsList = nil
		for _, f := range strings.Split(s, ",") {
			k, err := strconv.Atoi(f)
			require.NoError(t, err)
			subsList = append(subsList, k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	benchBin := redistest.Binary(t, "redis-benchmark")
	m := redistest.Start(t, redistest.Options{Args: []string{
		"--client-output-buffer-limit", "replica 0 0 0", // keep stopped consumers attached
		"--repl-timeout", "3600", "--repl-diskless-sync-delay", "0",
	}})
	mc := redis.NewClient(&redis.Options{Addr: m.Addr, ReadTimeout: -1, Protocol: 2, DisableIdentity: true})
	defer mc.Close()
	// online waits until one replica is online and has acknowledged
	// everything.
	online := func() {
		redistest.WaitFor(t, 5*time.Minute, "consumer online", func() bool {
			info, err := m.Info(ctx, "replication")
			if err != nil || info["connected_slaves"] != "1" || !strings.Contains(info["slave0"], "state=online") {
				return false
			}
			return strings.Contains(info["slave0"], "offset="+info["master_repl_offset"]+",")
		})
	}
	pileUp := func() {
		out, err := exec.CommandContext(ctx, benchBin, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port),
			"-t", "set", "-n", strconv.Itoa(n), "-r", "100000000", "-d", "16", "-P", "64", "-q").CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.NoError(t, mc.Set(ctx, drainMarker, 1, 0).Err())
	}
	marker := []byte(drainMarker)

	drain := func(d monitorDrain) monitorDrainResult {
		require.NoError(t, mc.FlushAll(ctx).Err())
		r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr})
		require.NoError(t, err)
		defer r.Close()
		res := monitorDrainResult{d: d, cmds: int64(n) + 1}
		if d.subs == 0 {
			for {
				ev, err := r.Next(ctx)
				require.NoError(t, err)
				if _, ok := ev.(*replica.SnapshotDone); ok {
					break
				}
			}
			online()
			pileUp()
			start, cpu0 := time.Now(), cpuTime()
			for {
				ev, err := r.Next(ctx)
				require.NoError(t, err)
				if c, ok := ev.(*replica.Command); ok && len(c.Args) > 1 && bytes.Equal(c.Args[1], marker) {
					break
				}
			}
			res.secs, res.cpu = time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds()
			return res
		}
		mon, err := monitor.New(r)
		require.NoError(t, err)
		defer mon.Close()
		f := monitor.Filter{}
		if d.match != "" {
			f.Match = []string{d.match}
		}
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		counts := make([]int64, d.subs)
		errs := make(chan error, d.subs)
		for i := range d.subs {
			sub, err := mon.Subscribe(f)
			require.NoError(t, err)
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				readyDone := false
				defer func() {
					if !readyDone {
						ready.Done()
					}
				}()
				for { // the snapshot
					b, err := sub.Next(ctx)
					if err != nil {
						errs <- err
						return
					}
					if b.Events[0].Kind == monitor.KindSnapshotDone {
						break
					}
				}
				ready.Done()
				readyDone = true
				<-start
				for {
					b, err := sub.Next(ctx)
					if err != nil {
						errs <- err
						return
					}
					counts[i] += int64(len(b.Events))
					if e := &b.Events[len(b.Events)-1]; bytes.Equal(e.Key, marker) {
						return
					}
				}
			}()
		}
		ready.Wait()
		online()
		pileUp()
		t0, cpu0 := time.Now(), cpuTime()
		close(start)
		done.Wait()
		res.secs, res.cpu = time.Since(t0).Seconds(), (cpuTime() - cpu0).Seconds()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for _, c := range counts {
			res.events += c
		}
		return res
	}

	var consumers []monitorDrain
	consumers = append(consumers, monitorDrain{})
	for _, s := range subsList {
		consumers = append(consumers, monitorDrain{subs: s}, monitorDrain{subs: s, match: drainPattern})
	}
	// The rounds interleave the consumers, so that a burst of load on a
	// shared machine spreads over all of them; best is each consumer's
	// best round (wall time and CPU time apart).
	var lines []string
	best := make([]monitorDrainResult, len(consumers))
	for round := 1; round <= rounds; round++ {
		var bare monitorDrainResult
		for i, d := range consumers {
			r := drain(d)
			if d.subs == 0 {
				bare = r
			}
			if best[i].secs == 0 || r.secs < best[i].secs {
				best[i].secs = r.secs
			}
			if best[i].cpu == 0 || r.cpu < best[i].cpu {
				best[i].cpu = r.cpu
			}
			best[i].d, best[i].cmds, best[i].events = d, r.cmds, r.events
			line := drainLine(strconv.Itoa(round), r, bare)
			t.Log(line)
			lines = append(lines, line)
		}
	}
	for i := range best {
		lines = append(lines, drainLine("best", best[i], best[0]))
	}
	t.Log("\n| round | consumer | commands | drain (s) | cmd/s | vs bare | CPU (s) | cmd/CPU-s vs bare | events delivered |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|---:|\n" + strings.Join(lines, "\n"))
}

// drainLine is one row of TestMonitorDrainBenchmark's table.
func drainLine(round string, r, bare monitorDrainResult) string {
	rate := float64(r.cmds) / r.secs
	return fmt.Sprintf("| %s | %s | %d | %.2f | %.3f M | %.0f%% | %.2f | %.0f%% | %d |",
		round, r.d, r.cmds, r.secs, rate/1e6, 100*bare.secs/r.secs, r.cpu, 100*bare.cpu/r.cpu, r.events)
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
