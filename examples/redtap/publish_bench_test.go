package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/jetstream"
	"github.com/redtap/redtap/publish/jetstream/jetstreamtest"
	"github.com/redtap/redtap/replica"
)

// selfCPU returns the CPU seconds (user+system) this process has used.
func selfCPU(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// startNATSProcess builds nats-server from the module go.mod requires (into
// a temporary directory) and runs it as a separate process with JetStream,
// file storage in a temporary directory, on a free loopback port. It
// returns the server's URL and its pid; the server is stopped at the end of
// the test.
func startNATSProcess(t *testing.T) (url string, pid int) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	require.NoError(t, err, "building nats-server: %s", out)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	store := filepath.Join(dir, "store")
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", store, "-n", "redtap-bench", "-l", filepath.Join(dir, "nats-server.log"))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	url = fmt.Sprintf("nats://127.0.0.1:%d", port)
	redistest.WaitFor(t, 30*time.Second, "nats-server accepts connections", func() bool {
		nc, err := nats.Connect(url)
		if err != nil {
			return false
		}
		nc.Close()
		return true
	})
	return url, cmd.Process.Pid
}

// TestPublishBenchmark is issue 11's benchmark (not a unit test: it runs
// only with REDTAP_BENCH=1). The NATS server (JetStream, file storage) runs
// as a separate process, built from the nats-server module go.mod requires,
// so that the publisher's CPU (this process's) and the server's are
// measured apart; REDTAP_BENCH_NATS=embedded runs it inside the test
// process instead (the CPU figure is then the sum).
//
//  1. Latency: a live publisher on an empty master; a writer SETs
//     REDTAP_BENCH_RATE (default 2,000) keys per second for 5 s with the
//     write time in the value, and a Consume reader (its own durable
//     consumer) records the time from the write to the message's arrival:
//     p50 and p99.
//  2. Throughput: a replica reads the empty snapshot and notes its
//     position; redis-benchmark writes REDTAP_BENCH_N (default 1,000,000)
//     SETs, which stay in the master's backlog. Then, in turn, a bare
//     replica's Next loop and a publisher to a fresh stream resume from that
//     position, and the clock runs until the last command is processed (the
//     bare loop) or committed after JetStream acknowledged it (the
//     publisher). REDTAP_BENCH_ROUNDS repeats the pair.
func TestPublishBenchmark(t *testing.T) {
	if os.Getenv("REDTAP_BENCH") == "" {
		t.Skip("a benchmark: set REDTAP_BENCH=1 (and optionally REDTAP_BENCH_N, REDTAP_BENCH_ROUNDS, REDTAP_BENCH_RATE)")
	}
	n := envInt("REDTAP_BENCH_N", 1_000_000)
	rounds := envInt("REDTAP_BENCH_ROUNDS", 1)
	rate := envInt("REDTAP_BENCH_RATE", 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	benchBin := redistest.Binary(t, "redis-benchmark")
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-backlog-size", "1gb", "--repl-diskless-sync-delay", "0"}})
	var natsURL string
	natsPID := 0 // 0: embedded
	if os.Getenv("REDTAP_BENCH_NATS") == "embedded" {
		natsURL = jetstreamtest.Start(t, "", nil).URL()
	} else {
		natsURL, natsPID = startNATSProcess(t)
	}
	serverCPU := func() float64 {
		if natsPID == 0 {
			return 0
		}
		return procCPU(t, natsPID)
	}
	nc, err := nats.Connect(natsURL, nats.ReconnectBufSize(-1))
	require.NoError(t, err)
	defer nc.Close()

	// startPublisher publishes from pos (zero: a fresh full sync) to stream.
	startPublisher := func(stream string, pos replica.Position) (p *publish.Publisher, stop func()) {
		_, err := jetstream.EnsureStream(ctx, nc, jetstream.StreamConfig{Name: stream, Prefix: stream})
		require.NoError(t, err)
		sink, err := jetstream.NewSink(ctx, nc, jetstream.Config{Stream: stream})
		require.NoError(t, err)
		r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr, Start: pos, ManualCommit: true})
		require.NoError(t, err)
		p, err = publish.New(r, sink, publish.Config{Prefix: stream, CommitInterval: 2 * time.Millisecond})
		require.NoError(t, err)
		runCtx, stopRun := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()
		return p, func() {
			stopRun()
			require.ErrorIs(t, <-done, context.Canceled)
			p.Close()
			sink.Close()
			r.Close()
		}
	}

	// 1. Latency.
	{
		p, stop := startPublisher("LAT", replica.Position{})
		var mu sync.Mutex
		var lat []time.Duration
		cctx, stopConsume := context.WithCancel(ctx)
		consumed := make(chan error, 1)
		go func() {
			consumed <- jetstream.Consume(cctx, nc, jetstream.ConsumeConfig{Stream: "LAT", Durable: "lat"}, func(msg *jetstream.Message) error {
				now := time.Now()
				rec, err := jsonl.Decode(msg.Body)
				if err != nil || rec.Kind != "cmd" || len(rec.Args) != 3 {
					return err
				}
				sent, err := strconv.ParseInt(string(rec.Args[2]), 10, 64)
				if err != nil {
					return err
				}
				mu.Lock()
				lat = append(lat, now.Sub(time.Unix(0, sent)))
				mu.Unlock()
				return nil
			})
		}()
		c := m.Client()
		total := rate * 5
		start := time.Now()
		for i := range total {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
			}
			require.NoError(t, c.Set(ctx, "lat:"+strconv.Itoa(i%100), time.Now().UnixNano(), 0).Err())
		}
		achieved := float64(total) / time.Since(start).Seconds()
		redistest.WaitFor(t, time.Minute, "every write consumed", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(lat) >= total
		})
		stopConsume()
		require.ErrorIs(t, <-consumed, context.Canceled)
		stop()
		slices.Sort(lat)
		t.Logf("latency master write -> JetStream consumer: %d writes at %.0f/s: p50 %v, p99 %v, max %v (published %d)",
			total, achieved, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], p.Stats().Messages)
	}

	// 2. Throughput on a backlog.
	require.NoError(t, m.Client().FlushAll(ctx).Err())
	r0, err := replica.Dial(ctx, replica.Config{Addr: m.Addr})
	require.NoError(t, err)
	var start replica.Position
	for start.IsZero() {
		ev, err := r0.Next(ctx)
		require.NoError(t, err)
		if d, ok := ev.(*replica.SnapshotDone); ok {
			start = d.Pos
		}
	}
	r0.Close()
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, benchBin, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port),
		"-t", "set", "-n", strconv.Itoa(n), "-r", "100000000", "-d", "16", "-P", "64", "-q").CombinedOutput()
	require.NoError(t, err, "%s", out)
	info, err := m.Info(ctx, "replication")
	require.NoError(t, err)
	end, err := strconv.ParseInt(info["master_repl_offset"], 10, 64)
	require.NoError(t, err)
	t.Logf("backlog: %d SETs, %.1f MB of stream, written in %.2f s", n, float64(end-start.Offset)/1e6, time.Since(t0).Seconds())

	for round := range rounds {
		// A: the bare replica.
		cpu0, t0 := selfCPU(t), time.Now()
		r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr, Start: start})
		require.NoError(t, err)
		cmds := 0
		for {
			ev, err := r.Next(ctx)
			require.NoError(t, err)
			if c, ok := ev.(*replica.Command); ok {
				cmds++
				if c.Offset >= end {
					break
				}
			}
		}
		bare := time.Since(t0).Seconds()
		bareCPU := selfCPU(t) - cpu0
		r.Close()
		t.Logf("round %d: bare replica.Next: %d commands in %.2f s = %.0f cmd/s, CPU %.2f s", round+1, cmds, bare, float64(cmds)/bare, bareCPU)

		// B: the publisher to JetStream, acknowledged and committed.
		stream := fmt.Sprintf("THRU%d", round)
		cpu0, srv0, t0 := selfCPU(t), serverCPU(), time.Now()
		p, stop := startPublisher(stream, start)
		for p.Stats().Committed.Offset < end {
			time.Sleep(2 * time.Millisecond)
		}
		secs := time.Since(t0).Seconds()
		cpu, srv := selfCPU(t)-cpu0, serverCPU()-srv0
		st := p.Stats()
		stop()
		perMsg := func(s float64) float64 { return s / float64(st.Acked) * 1e6 }
		if natsPID == 0 {
			t.Logf("round %d: publish to JetStream (embedded): %d messages acknowledged in %.2f s = %.0f msg/s (%.0f%% of bare), CPU %.2f s = %.1f µs/msg (publisher and NATS server)",
				round+1, st.Acked, secs, float64(st.Acked)/secs, 100*bare/secs, cpu, perMsg(cpu))
		} else {
			t.Logf("round %d: publish to JetStream (nats-server process): %d messages acknowledged in %.2f s = %.0f msg/s (%.0f%% of bare), CPU publisher %.2f s = %.1f µs/msg, NATS server %.2f s = %.1f µs/msg",
				round+1, st.Acked, secs, float64(st.Acked)/secs, 100*bare/secs, cpu, perMsg(cpu), srv, perMsg(srv))
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatal("out of time")
		}
	}
}
