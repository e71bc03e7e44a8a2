package main

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/jetstream"
	"github.com/redtap/redtap/publish/jetstream/jetstreamtest"
)

// publishProc is `redtap publish` running as a child process.
type publishProc struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan error
}

func startPublishProc(t *testing.T, bin string, args ...string) *publishProc {
	t.Helper()
	p := &publishProc{cmd: exec.Command(bin, append([]string{"publish"}, args...)...), stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill() //nolint:errcheck
		p.done <- <-p.done
		if t.Failed() {
			t.Logf("redtap publish %q stderr:\n%s", args, p.stderr.String())
		}
	})
	return p
}

// stop sends sig and waits for the process to end.
func (p *publishProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(time.Minute):
		t.Fatalf("publish did not exit on %v; stderr:\n%s", sig, p.stderr.String())
		return nil
	}
}

// TestPublishKillRestart is issue 11's acceptance test: `redtap publish`
// with a checkpoint is SIGKILLed twice in the middle of a random workload
// and restarted, and the NATS server restarts once in between. A consumer
// of the stream, with its own durable consumer, replays it into an empty
// server, which ends equal to the master; no message id arrives twice, and
// the restarts resumed from the checkpoint (one snapshot only).
func TestPublishKillRestart(t *testing.T) {
	ctx := tapTestCtx(t)
	bin := buildRedtap(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-backlog-size", "64mb", "--repl-diskless-sync-delay", "0"}})
	target := redistest.Start(t, redistest.Options{})
	ns := jetstreamtest.Start(t, "", nil)
	w := &oracle.Workload{Seed: 13, BigElems: 300, Swaps: true}
	defer w.Close()
	require.NoError(t, w.Preload(ctx, m.Client()))

	cp := filepath.Join(t.TempDir(), "checkpoint.json")
	args := []string{"--addr", m.Addr, "--nats", ns.URL(), "--stream", "REDTAP", "--checkpoint", cp, "-v"}

	nc, err := nats.Connect(ns.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := natsjs.New(nc)
	require.NoError(t, err)
	stored := func() uint64 {
		st, err := js.Stream(ctx, "REDTAP")
		if err != nil {
			return 0
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	// lastOffset is the replication offset of the stream's last message.
	lastOffset := func() int64 {
		st, err := js.Stream(ctx, "REDTAP")
		if err != nil {
			return 0
		}
		info, err := st.Info(ctx)
		if err != nil || info.State.LastSeq == 0 {
			return 0
		}
		msg, err := st.GetMsg(ctx, info.State.LastSeq)
		if err != nil {
			return 0
		}
		off, _ := strconv.ParseInt(msg.Header.Get(publish.HeaderOffset), 10, 64)
		return off
	}
	rep, err := jetstreamtest.NewReplayer(ctx, target.Addr)
	require.NoError(t, err)
	cctx, stopConsume := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() {
		for cctx.Err() == nil { // the stream appears once the publisher has created it
			err := jetstream.Consume(cctx, nc, jetstream.ConsumeConfig{Stream: "REDTAP", Durable: "replay"}, rep.Apply)
			if !errors.Is(err, natsjs.ErrStreamNotFound) {
				consumed <- err
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		consumed <- cctx.Err()
	}()

	// killDuring runs ops of the workload, 20 at a time, and SIGKILLs the
	// publisher in the middle of them, once its checkpoint has moved past
	// where it was: the checkpoint then lags behind what the stream holds
	// (it is saved once a second), and the next run publishes a tail again.
	killDuring := func(p *publishProc, ops int) {
		t.Helper()
		before := loadCheckpoint(t, ctx, cp)
		n := stored()
		killed := false
		for i := 0; i < ops || !killed; i += 20 {
			require.Less(t, i, 50*ops, "the checkpoint never moved; stderr:\n%s", p.stderr.String())
			require.NoError(t, w.Run(ctx, m.Client(), 20))
			if cpOff := loadCheckpoint(t, ctx, cp).Offset; !killed && stored() > n && cpOff > before.Offset && lastOffset() > cpOff {
				require.Error(t, p.stop(t, syscall.SIGKILL))
				killed = true
			}
		}
	}

	p := startPublishProc(t, bin, args...)
	killDuring(p, 600)
	require.NoError(t, w.Run(ctx, m.Client(), 200)) // while no publisher runs

	n := stored()
	p = startPublishProc(t, bin, args...)
	redistest.WaitFor(t, time.Minute, "the restarted publisher to publish", func() bool { return stored() > n })
	ns.Shutdown()
	require.NoError(t, w.Run(ctx, m.Client(), 200)) // the publisher waits, retries and holds back
	ns.Restart()
	n = stored()
	redistest.WaitFor(t, time.Minute, "the publisher to publish after the NATS restart", func() bool { return stored() > n })
	killDuring(p, 600)

	p = startPublishProc(t, bin, args...)
	require.NoError(t, w.Run(ctx, m.Client(), 200))
	require.NoError(t, w.Settle(ctx, m.Client()))
	fence, err := w.Fence(ctx, m.Client())
	require.NoError(t, err)
	redistest.WaitFor(t, time.Minute, "the fence to be replayed", func() bool { return rep.Fence() == fence })
	require.NoError(t, p.stop(t, syscall.SIGTERM), "stderr:\n%s", p.stderr.String())

	stopConsume()
	require.ErrorIs(t, <-consumed, context.Canceled)
	errs, err := rep.Close(ctx)
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Empty(t, rep.Duplicates(), "message ids that arrived twice")
	require.Equal(t, 1, rep.Resets(), "the restarts did not resume from the checkpoint")
	skipped := regexp.MustCompile(`; (\d+) skipped as stored, (\d+) duplicates`).FindStringSubmatch(p.stderr.String())
	require.NotNil(t, skipped, "stderr:\n%s", p.stderr.String())
	require.NotEqual(t, "0 0", skipped[1]+" "+skipped[2], "the last restart published no tail again")
	copyFunctions(t, ctx, m, target)
	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, w.DBs)
	require.NoError(t, err)
	require.Empty(t, diffs)
	t.Logf("%d messages replayed, %d stored; last run:\n%s", rep.Messages(), stored(), p.stderr.String())
}

// copyFunctions copies the master's function libraries to the target:
// FUNCTION LOAD names no key, so it is no monitor event, and not published.
func copyFunctions(t *testing.T, ctx context.Context, m, target *redistest.Server) {
	t.Helper()
	dump, err := m.Client().Do(ctx, "FUNCTION", "DUMP").Text()
	require.NoError(t, err)
	require.NoError(t, target.Client().Do(ctx, "FUNCTION", "RESTORE", dump, "REPLACE").Err())
}

func TestPublishUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--addr", "h:1"},
		{"--addr", "h:1", "--nats", "nats://h:2"},
		{"--addr", "h:1", "--kafka", "h:3"},
		{"--addr", "h:1", "--nats", "nats://h:2", "--stream", "S", "--kafka", "h:3", "--topic", "t"},
		{"--addr", "h:1", "--nats", "nats://h:2", "--stream", "S", "--subjects", "x"},
		{"--addr", "h:1", "--nats", "nats://h:2", "--stream", "S", "--subject-prefix", ""},
		{"--addr", "h:1", "--kafka", "h:3", "--topic", "t", "--partitions", "0"},
		{"--addr", "h:1", "--nats", "nats://h:2", "--stream", "S", "extra"},
	} {
		var stderr syncbuf.Buffer
		code := run(context.Background(), append([]string{"publish"}, args...), nil, io.Discard, &stderr)
		require.Equal(t, exitUsage, code, "%q: %s", args, stderr.String())
	}
}

// TestPublishKafka runs `redtap publish --kafka` in process against kfake (a
// protocol fake, see package publish/kafka) and a real master: the topic is
// created, and every write arrives as a record keyed by its Redis key.
func TestPublishKafka(t *testing.T) {
	ctx := tapTestCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	runCtx, stop := context.WithCancel(ctx)
	var stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"publish", "--addr", m.Addr, "--kafka", c.ListenAddrs()[0], "--topic", "t", "--partitions", "2"}, nil, io.Discard, &stderr)
	}()
	for i := range 50 {
		require.NoError(t, m.Client().Set(ctx, "k"+strconv.Itoa(i%5), i, 0).Err())
	}
	require.NoError(t, m.Client().Set(ctx, "fence", 1, 0).Err())
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	for fenced := false; !fenced; {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "stderr:\n%s", stderr.String())
		fs.EachRecord(func(r *kgo.Record) {
			if r.Key == nil {
				return
			}
			rec, err := jsonl.Decode(r.Value)
			require.NoError(t, err)
			if rec.Kind == "cmd" {
				require.Equal(t, r.Key, rec.Args[1])
			} else {
				require.Equal(t, r.Key, rec.Entry.Key)
			}
			fenced = fenced || string(r.Key) == "fence"
		})
	}
	stop()
	require.Equal(t, exitOK, <-done, "stderr:\n%s", stderr.String())
	require.Contains(t, stderr.String(), "created topic t (2 partitions)")
}
