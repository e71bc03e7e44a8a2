package jetstream_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/jetstream"
	"github.com/redtap/redtap/publish/jetstream/jetstreamtest"
	"github.com/redtap/redtap/replica"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.RetryOnFailedConnect(true)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// consumeInBackground replays the stream into target until the returned
// stop is called.
func consumeInBackground(t *testing.T, ctx context.Context, url, stream string, r *jetstreamtest.Replayer) (stop func() error) {
	nc := connect(t, url)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- jetstream.Consume(cctx, nc, jetstream.ConsumeConfig{Stream: stream, Durable: "replay"}, r.Apply)
	}()
	return func() error {
		cancel()
		err := <-done
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
}

// TestPublishReplayNATSRestart publishes a snapshot and a random workload
// from a real redis-server through the in-process publisher while the NATS
// server restarts once; a consumer replays the stream into an empty server,
// which ends equal to the master, and no message id arrives twice.
func TestPublishReplayNATSRestart(t *testing.T) {
	ctx := testCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-backlog-size", "64mb", "--repl-diskless-sync-delay", "0"}})
	target := redistest.Start(t, redistest.Options{})
	ns := jetstreamtest.Start(t, "", nil)
	w := &oracle.Workload{Seed: 7, BigElems: 200, Swaps: true}
	defer w.Close()
	require.NoError(t, w.Preload(ctx, m.Client()))

	// Without a reconnect buffer, publishing while the server is away
	// fails at once, and the sink's retries are what carries the stream over.
	nc := connect(t, ns.URL(), nats.ReconnectBufSize(-1))
	created, err := jetstream.EnsureStream(ctx, nc, jetstream.StreamConfig{Name: "REDTAP"})
	require.NoError(t, err)
	require.True(t, created)
	sink, err := jetstream.NewSink(ctx, nc, jetstream.Config{Stream: "REDTAP", MaxPending: 256, AckTimeout: time.Second})
	require.NoError(t, err)
	defer sink.Close()
	r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr, ManualCommit: true})
	require.NoError(t, err)
	defer r.Close()
	p, err := publish.New(r, sink, publish.Config{})
	require.NoError(t, err)
	defer p.Close()
	runCtx, stopRun := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()

	rep, err := jetstreamtest.NewReplayer(ctx, target.Addr)
	require.NoError(t, err)
	stopConsume := consumeInBackground(t, ctx, ns.URL(), "REDTAP", rep)

	require.NoError(t, w.Run(ctx, m.Client(), 300))
	redistest.WaitFor(t, time.Minute, "messages acknowledged", func() bool { return p.Stats().Acked > 100 })
	ns.Shutdown()
	require.NoError(t, w.Run(ctx, m.Client(), 300)) // the publisher waits and retries meanwhile
	ns.Restart()
	require.NoError(t, w.Run(ctx, m.Client(), 200))
	require.NoError(t, w.Settle(ctx, m.Client()))
	fence, err := w.Fence(ctx, m.Client())
	require.NoError(t, err)
	redistest.WaitFor(t, time.Minute, "the fence replayed", func() bool { return rep.Fence() == fence })

	stopRun()
	require.ErrorIs(t, <-runErr, context.Canceled)
	require.NoError(t, p.Drain(ctx))
	require.NoError(t, stopConsume())
	errs, err := rep.Close(ctx)
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Empty(t, rep.Duplicates())
	require.Positive(t, sink.Stats().Retries, "the NATS restart went unnoticed")
	require.Equal(t, p.Stats().Messages, p.Stats().Acked)
	copyFunctions(t, ctx, m, target)
	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, w.DBs)
	require.NoError(t, err)
	require.Empty(t, diffs)
	t.Logf("%d messages, %d retries, %d duplicates dropped", rep.Messages(), sink.Stats().Retries, sink.Stats().Duplicates)
}

// copyFunctions copies the master's function libraries to the target:
// FUNCTION LOAD has no key, so it is no monitor event, and not published.
func copyFunctions(t *testing.T, ctx context.Context, m, target *redistest.Server) {
	t.Helper()
	dump, err := m.Client().Do(ctx, "FUNCTION", "DUMP").Text()
	require.NoError(t, err)
	require.NoError(t, target.Client().Do(ctx, "FUNCTION", "RESTORE", dump, "REPLACE").Err())
}

const replid = "0123456789abcdef0123456789abcdef01234567"

// eventSource delivers a full sync, an empty snapshot and n SETs, then
// io.EOF.
type eventSource struct {
	evs []replica.Event
}

func newEventSource(n int) *eventSource {
	s := &eventSource{evs: []replica.Event{
		&replica.Sync{Mode: replica.SyncFull, ReplID: replid, Offset: 10},
		&replica.SnapshotDone{Offset: 10, Pos: replica.Position{ReplID: replid, Offset: 10}},
	}}
	for i := range n {
		off := int64(100 + 10*i)
		s.evs = append(s.evs, &replica.Command{Args: [][]byte{[]byte("SET"), []byte("k" + strconv.Itoa(i)), []byte("v")}, Offset: off, Pos: replica.Position{ReplID: replid, Offset: off}})
	}
	return s
}

func (s *eventSource) Next(context.Context) (replica.Event, error) {
	if len(s.evs) == 0 {
		return nil, io.EOF
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	return ev, nil
}

// publishAll publishes src's events to stream through nc and waits for
// their acknowledgements.
func publishAll(t *testing.T, ctx context.Context, nc *nats.Conn, stream string, src monitor.Source, cfg jetstream.Config) (*jetstream.Sink, error) {
	t.Helper()
	cfg.Stream = stream
	sink, err := jetstream.NewSink(ctx, nc, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { sink.Close() })
	p, err := publish.New(src, sink, publish.Config{})
	require.NoError(t, err)
	defer p.Close()
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		return sink, err
	}
	return sink, p.Drain(ctx)
}

func streamMsgs(t *testing.T, ctx context.Context, nc *nats.Conn, name string) uint64 {
	t.Helper()
	js, err := natsjs.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(ctx, name)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

// TestRepublish: the same events published again are not stored twice:
// skipped when the stream's last message shows them stored, dropped by the
// duplicate window when it does not (a foreign message came last).
func TestRepublish(t *testing.T) {
	ctx := testCtx(t)
	ns := jetstreamtest.Start(t, "", nil)
	nc := connect(t, ns.URL())
	_, err := jetstream.EnsureStream(ctx, nc, jetstream.StreamConfig{Name: "S", Memory: true})
	require.NoError(t, err)
	_, err = publishAll(t, ctx, nc, "S", newEventSource(20), jetstream.Config{})
	require.NoError(t, err)
	require.EqualValues(t, 22, streamMsgs(t, ctx, nc, "S")) // reset, snapshot end, 20 SETs

	sink, err := publishAll(t, ctx, nc, "S", newEventSource(25), jetstream.Config{})
	require.NoError(t, err)
	require.EqualValues(t, 27, streamMsgs(t, ctx, nc, "S"))
	require.EqualValues(t, 22, sink.Stats().Skipped)

	require.NoError(t, nc.Publish("redtap.foreign", []byte("x"))) // no message id
	require.NoError(t, nc.Flush())
	redistest.WaitFor(t, 10*time.Second, "the foreign message", func() bool { return streamMsgs(t, ctx, nc, "S") == 28 })
	sink, err = publishAll(t, ctx, nc, "S", newEventSource(26), jetstream.Config{})
	require.NoError(t, err)
	require.EqualValues(t, 29, streamMsgs(t, ctx, nc, "S"))
	require.EqualValues(t, 27, sink.Stats().Duplicates)
}

// TestStreamLimit: a stream that refuses messages (MaxMsgs with DiscardNew)
// stops the publisher with ErrLimit.
func TestStreamLimit(t *testing.T) {
	ctx := testCtx(t)
	ns := jetstreamtest.Start(t, "", nil)
	nc := connect(t, ns.URL())
	js, err := natsjs.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, natsjs.StreamConfig{Name: "S", Subjects: []string{"redtap.>"}, MaxMsgs: 5, Discard: natsjs.DiscardNew, Storage: natsjs.MemoryStorage})
	require.NoError(t, err)
	_, err = publishAll(t, ctx, nc, "S", newEventSource(20), jetstream.Config{})
	require.ErrorIs(t, err, jetstream.ErrLimit)
	var e *jetstream.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "S", e.Stream)
	t.Log(err)
}

// TestPermission: a user who may not publish to the subjects stops the
// publisher with ErrPermission.
func TestPermission(t *testing.T) {
	ctx := testCtx(t)
	ns := jetstreamtest.Start(t, "", func(o *server.Options) {
		o.Users = []*server.User{{Username: "u", Password: "p", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{"$JS.API.>", "other.>"}},
		}}}
	})
	nc := connect(t, ns.URL(), nats.UserInfo("u", "p"))
	js, err := natsjs.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, natsjs.StreamConfig{Name: "S", Subjects: []string{"redtap.>"}, Storage: natsjs.MemoryStorage})
	require.NoError(t, err)
	_, err = publishAll(t, ctx, nc, "S", newEventSource(3), jetstream.Config{AckTimeout: 300 * time.Millisecond})
	require.ErrorIs(t, err, jetstream.ErrPermission)
	t.Log(err)
}

// TestPublishFullResync: a publisher that resumes from a position the
// master's backlog no longer holds gets a full resynchronisation, and
// publishes a reset marker and the new snapshot; the consumer, which
// dropped its state at the marker, ends equal to the master.
func TestPublishFullResync(t *testing.T) {
	ctx := testCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-backlog-size", "16kb", "--repl-diskless-sync-delay", "0"}})
	target := redistest.Start(t, redistest.Options{})
	ns := jetstreamtest.Start(t, "", nil)
	nc := connect(t, ns.URL())
	_, err := jetstream.EnsureStream(ctx, nc, jetstream.StreamConfig{Name: "REDTAP"})
	require.NoError(t, err)
	w := &oracle.Workload{Seed: 3, BigElems: -1}
	defer w.Close()
	require.NoError(t, w.Preload(ctx, m.Client()))
	rep, err := jetstreamtest.NewReplayer(ctx, target.Addr)
	require.NoError(t, err)
	stopConsume := consumeInBackground(t, ctx, ns.URL(), "REDTAP", rep)

	// run publishes from start until the fence written after ops is
	// replayed, and returns the position committed.
	run := func(start replica.Position, ops int) replica.Position {
		sink, err := jetstream.NewSink(ctx, nc, jetstream.Config{Stream: "REDTAP"})
		require.NoError(t, err)
		defer sink.Close()
		r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr, Start: start, ManualCommit: true})
		require.NoError(t, err)
		defer r.Close()
		p, err := publish.New(r, sink, publish.Config{})
		require.NoError(t, err)
		defer p.Close()
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()
		require.NoError(t, w.Run(ctx, m.Client(), ops))
		require.NoError(t, w.Settle(ctx, m.Client()))
		fence, err := w.Fence(ctx, m.Client())
		require.NoError(t, err)
		redistest.WaitFor(t, time.Minute, "the fence replayed", func() bool { return rep.Fence() == fence })
		stop()
		require.ErrorIs(t, <-done, context.Canceled)
		require.NoError(t, p.Drain(ctx))
		return p.Stats().Committed
	}
	pos := run(replica.Position{}, 100)
	require.NoError(t, w.Run(ctx, m.Client(), 1500)) // past the 16 kB backlog, with no publisher
	run(pos, 100)

	require.NoError(t, stopConsume())
	errs, err := rep.Close(ctx)
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Empty(t, rep.Duplicates())
	require.Equal(t, 2, rep.Resets())
	copyFunctions(t, ctx, m, target)
	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, w.DBs)
	require.NoError(t, err)
	require.Empty(t, diffs)
}
