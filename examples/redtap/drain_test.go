package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

// drainResult is one round of TestTapDrainBenchmark.
type drainResult struct {
	name   string
	cmds   int64   // commands written while the consumer was stopped
	bytes  int64   // replication stream bytes they took
	secs   float64 // from SIGCONT to the consumer having processed the last one
	cpu    float64 // CPU seconds (user+sys) the consumer process used meanwhile
	writeS float64 // how long redis-benchmark took to write them
}

func (r drainResult) String() string {
	return fmt.Sprintf("%-22s %9d cmds %7.1f MB  drain %6.2f s = %9.0f cmd/s (%6.1f MB/s)  consumer CPU %6.2f s = %9.0f cmd/CPU-s  (written in %.2f s)",
		r.name, r.cmds, float64(r.bytes)/1e6, r.secs, float64(r.cmds)/r.secs, float64(r.bytes)/1e6/r.secs, r.cpu, float64(r.cmds)/r.cpu, r.writeS)
}

// procCPU returns the user+system CPU seconds of a process (Linux /proc).
func procCPU(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, err := strconv.ParseFloat(f[11], 64)
	require.NoError(t, err)
	stime, err := strconv.ParseFloat(f[12], 64)
	require.NoError(t, err)
	return (utime + stime) / 100 // USER_HZ
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestTapDrainBenchmark is acceptance 5 (not a unit test: it runs only
// with REDTAP_BENCH=1). For each consumer in turn (the tap with --format
// none; a real `redis-server --replicaof`; `redis-cli --replica`) attached
// alone to the same master: stop it with SIGSTOP, let redis-benchmark write
// REDTAP_BENCH_N (default 3,000,000) SETs, which pile up in the master's
// output buffer for it, SIGCONT it and time until it has processed the last
// one. The finish line is the master's WAIT 1 0 after a last SET (the tap
// and the replica acknowledge only what they have processed, and answer the
// REPLCONF GETACK that WAIT queues behind the data); redis-cli sends no
// acknowledgements, so its finish line is the last SET appearing on its
// stdout. REDTAP_BENCH_ROUNDS repeats the three rounds.
func TestTapDrainBenchmark(t *testing.T) {
	if os.Getenv("REDTAP_BENCH") == "" {
		t.Skip("a benchmark: set REDTAP_BENCH=1 (and optionally REDTAP_BENCH_N, REDTAP_BENCH_ROUNDS)")
	}
	n := envInt("REDTAP_BENCH_N", 3_000_000)
	rounds := envInt("REDTAP_BENCH_ROUNDS", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bin := buildRedtap(t)
	benchBin := redistest.Binary(t, "redis-benchmark")
	cliBin := redistest.Binary(t, "redis-cli")
	srvBin := redistest.Binary(t, "redis-server")
	m := redistest.Start(t, redistest.Options{Args: []string{
		"--client-output-buffer-limit", "replica 0 0 0", // keep stopped consumers attached
		"--repl-timeout", "3600", "--repl-diskless-sync-delay", "0",
	}})
	// No read timeout: WAIT blocks for as long as the drain takes.
	mc := redis.NewClient(&redis.Options{Addr: m.Addr, ReadTimeout: -1, Protocol: 2, DisableIdentity: true})
	defer mc.Close()
	offset := func() int64 {
		info, err := m.Info(ctx, "replication")
		require.NoError(t, err)
		o, err := strconv.ParseInt(info["master_repl_offset"], 10, 64)
		require.NoError(t, err)
		return o
	}
	// online waits until one replica is online and, when it acknowledges,
	// has acknowledged everything.
	online := func(acks bool) {
		redistest.WaitFor(t, 5*time.Minute, "consumer online", func() bool {
			info, err := m.Info(ctx, "replication")
			if err != nil || info["connected_slaves"] != "1" || !strings.Contains(info["slave0"], "state=online") {
				return false
			}
			return !acks || strings.Contains(info["slave0"], "offset="+info["master_repl_offset"]+",")
		})
	}
	// pileUp writes n SETs and a marker while the consumer is stopped.
	pileUp := func(r *drainResult) {
		require.NoError(t, mc.FlushAll(ctx).Err())
		before := offset()
		start := time.Now()
		out, err := exec.CommandContext(ctx, benchBin, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port),
			"-t", "set", "-n", strconv.Itoa(n), "-r", "100000000", "-d", "16", "-P", "64", "-q").CombinedOutput()
		require.NoError(t, err, "%s", out)
		r.writeS = time.Since(start).Seconds()
		r.cmds = int64(n)
		r.bytes = offset() - before
	}
	var results []drainResult

	// waitAcked stops the clock when the master's WAIT says one replica
	// has acknowledged the marker SET.
	waitAcked := func(conn *redis.Conn) {
		acked, err := conn.Do(ctx, "WAIT", 1, 0).Int()
		require.NoError(t, err)
		require.Equal(t, 1, acked)
	}

	for round := 0; round < rounds; round++ {
		// A: the tap.
		{
			require.NoError(t, mc.FlushAll(ctx).Err())
			p := startTapProc(t, bin, filepath.Join(t.TempDir(), "out"), "--addr", m.Addr, "--format", "none")
			online(true)
			r := drainResult{name: "redtap tap --format none"}
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGSTOP))
			pileUp(&r)
			conn := mc.Conn()
			require.NoError(t, conn.Set(ctx, "bench:done", 1, 0).Err())
			cpu0 := procCPU(t, p.cmd.Process.Pid)
			start := time.Now()
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGCONT))
			waitAcked(conn)
			r.secs = time.Since(start).Seconds()
			r.cpu = procCPU(t, p.cmd.Process.Pid) - cpu0
			conn.Close()
			require.NoError(t, p.signal(t, syscall.SIGTERM), "%s", p.stderr.String())
			results = append(results, r)
			t.Log(r)
		}
		// B: a real replica.
		{
			require.NoError(t, mc.FlushAll(ctx).Err())
			port := redistest.FreePort(t)
			dir := t.TempDir()
			rs := exec.Command(srvBin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
				"--logfile", filepath.Join(dir, "log"), "--save", "", "--appendonly", "no",
				"--replicaof", "127.0.0.1", strconv.Itoa(m.Port))
			require.NoError(t, rs.Start())
			online(true)
			r := drainResult{name: "redis-server replica"}
			require.NoError(t, rs.Process.Signal(syscall.SIGSTOP))
			pileUp(&r)
			conn := mc.Conn()
			require.NoError(t, conn.Set(ctx, "bench:done", 1, 0).Err())
			cpu0 := procCPU(t, rs.Process.Pid)
			start := time.Now()
			require.NoError(t, rs.Process.Signal(syscall.SIGCONT))
			waitAcked(conn)
			r.secs = time.Since(start).Seconds()
			r.cpu = procCPU(t, rs.Process.Pid) - cpu0
			conn.Close()
			rs.Process.Kill() //nolint:errcheck
			rs.Wait()         //nolint:errcheck
			results = append(results, r)
			t.Log(r)
		}
		// C: redis-cli --replica.
		{
			require.NoError(t, mc.FlushAll(ctx).Err())
			rc := exec.Command(cliBin, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "--replica")
			stdout, err := rc.StdoutPipe()
			require.NoError(t, err)
			rc.Stderr = io.Discard
			require.NoError(t, rc.Start())
			seen := make(chan struct{})
			go func() {
				marker := []byte(`"bench:done"`)
				buf := make([]byte, 1<<20)
				var window, carry []byte // carry: the last bytes of the previous read
				for {
					k, err := stdout.Read(buf)
					window = append(append(window[:0], carry...), buf[:k]...)
					if bytes.Contains(window, marker) {
						close(seen)
						io.Copy(io.Discard, stdout) //nolint:errcheck
						return
					}
					carry = append(carry[:0], window[max(0, len(window)-len(marker)):]...)
					if err != nil {
						return
					}
				}
			}()
			online(false)
			time.Sleep(1500 * time.Millisecond) // redis-cli sleeps 1 s before its first ACK after a diskless sync
			r := drainResult{name: "redis-cli --replica"}
			require.NoError(t, rc.Process.Signal(syscall.SIGSTOP))
			pileUp(&r)
			require.NoError(t, mc.Set(ctx, "bench:done", 1, 0).Err())
			cpu0 := procCPU(t, rc.Process.Pid)
			start := time.Now()
			require.NoError(t, rc.Process.Signal(syscall.SIGCONT))
			select {
			case <-seen:
			case <-ctx.Done():
				t.Fatal("redis-cli --replica never printed the marker")
			}
			r.secs = time.Since(start).Seconds()
			r.cpu = procCPU(t, rc.Process.Pid) - cpu0
			rc.Process.Kill() //nolint:errcheck
			rc.Wait()         //nolint:errcheck
			results = append(results, r)
			t.Log(r)
		}
	}
	for _, r := range results {
		t.Log(r)
	}
	for i := 0; i+2 < len(results); i += 3 {
		a, b, c := results[i], results[i+1], results[i+2]
		t.Logf("round %d: tap/replica %.1fx (CPU %.1fx), tap/redis-cli %.1fx (CPU %.1fx)", i/3+1,
			b.secs/a.secs, b.cpu/a.cpu, c.secs/a.secs, c.cpu/a.cpu)
	}
}
