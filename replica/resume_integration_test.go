package replica_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/faultproxy"
	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/replica"
)

const seqKey = "seq:log"

// seqLoop writes numbered writes with c until ctx ends, keeping at most
// maxLag writes ahead of what the tap has delivered (so that the master's
// backlog always covers the tap's position), and between batches a write
// with noise, a client of another database, so that the stream switches
// databases (SELECT) all the time. It stores the last number written.
func seqLoop(ctx context.Context, c, noise *redis.Client, tp *tap, maxLag int64, written *atomic.Int64) error {
	sw := &oracle.SeqWriter{Key: seqKey}
	for ctx.Err() == nil {
		if err := noise.Incr(ctx, "noise").Err(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		tp.mu.Lock()
		delivered := int64(len(tp.seqs))
		tp.mu.Unlock()
		if sw.Last()-delivered >= maxLag {
			time.Sleep(time.Millisecond)
			continue
		}
		if err := sw.Write(ctx, c, 10); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		written.Store(sw.Last())
	}
	return nil
}

// waitSeq waits until the tap has delivered write n.
func (tp *tap) waitSeq(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	tp.waitFor(t, ctx, "write "+strconv.FormatInt(n, 10), func() bool {
		return len(tp.seqs) > 0 && tp.seqs[len(tp.seqs)-1] >= n
	})
}

// TestResumeRandomCuts is acceptance 2's cut test: a workload of numbered
// writes runs while a TCP proxy between master and tap cuts the connection
// 100 times (half at a random moment, half after a random number of stream
// bytes, so mid-command). Every reconnect must be a +CONTINUE at the
// position delivered last, and every write is delivered exactly once, in
// order.
func TestResumeRandomCuts(t *testing.T) {
	cuts := 100
	if testing.Short() {
		cuts = 25
	}
	runResumeCuts(t, redistest.Kind{}, nil, cuts)
}

// runResumeCuts is TestResumeRandomCuts on a server k, with extra master
// arguments and tap configuration.
func runResumeCuts(t *testing.T, k redistest.Kind, mut func(*replica.Config, *redistest.Options), cuts int) {
	ctx := testCtx(t)
	mopts := redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}}
	cfg := replica.Config{Snapshot: replica.SnapshotSkip}
	if mut != nil {
		mut(&cfg, &mopts)
	}
	m := redistest.Start(t, k.Options(mopts))
	mc := m.Client()
	// The numbered writes go to db 3, noise to db 0: a resumed stream
	// goes on in the database selected before the cut without a SELECT.
	mc3 := redis.NewClient(&redis.Options{Addr: m.Addr, DB: 3, Protocol: 2, DisableIdentity: true})
	defer mc3.Close()
	p, err := faultproxy.New(m.Addr)
	require.NoError(t, err)
	defer p.Close()

	cfg.Addr = p.Addr()
	tp := startTap(t, ctx, cfg, nil, seqKey)
	tp.waitFor(t, ctx, "snapshot", func() bool { return tp.snapDone > 0 })

	wctx, stopWriter := context.WithCancel(ctx)
	var written atomic.Int64
	werr := make(chan error, 1)
	go func() { werr <- seqLoop(wctx, mc3, mc, tp, 3000, &written) }()

	rnd := rand.New(rand.NewPCG(7, 7))
	for i := 1; i <= cuts; i++ {
		// Let the new session deliver something first.
		tp.mu.Lock()
		base := len(tp.seqs)
		tp.mu.Unlock()
		tp.waitFor(t, ctx, "writes after reconnect", func() bool { return len(tp.seqs) > base+rnd.IntN(20) })
		before := p.Cuts()
		if i%2 == 0 {
			p.CutAfter(1 + rnd.Int64N(4000))
		} else {
			time.Sleep(time.Duration(rnd.IntN(3000)) * time.Microsecond)
			p.Cut()
		}
		require.Eventually(t, func() bool { return p.Cuts() > before }, time.Minute, time.Millisecond, "cut %d", i)
		tp.waitFor(t, ctx, "sync after cut "+strconv.Itoa(i), func() bool { return len(tp.syncs) > i })
	}
	stopWriter()
	require.NoError(t, <-werr)
	last := written.Load()
	tp.waitSeq(t, ctx, last)
	tp.checkErrors(t)
	tp.stop(t)

	syncs, seqs := tp.snapshot()
	require.Len(t, syncs, cuts+1)
	require.Equal(t, replica.SyncFull, syncs[0].Mode)
	for i, s := range syncs[1:] {
		require.Equal(t, replica.SyncContinue, s.Mode, "reconnect %d: %+v", i+1, s)
		require.Empty(t, s.Reason)
	}
	require.NoError(t, oracle.CheckSeq(seqs, 1, last))
	require.Equal(t, map[int]int{3: len(seqs)}, tp.seqDBs, "every numbered write in db 3")
	require.Positive(t, tp.names["INCR"], "noise from db 0 interleaved")
	st := tp.r.Stats()
	require.EqualValues(t, 1, st.FullSyncs)
	require.EqualValues(t, cuts, st.PartialSyncs)
	t.Logf("%d cuts survived (%d proxy connections), %d numbered writes delivered exactly once in order; stats %+v",
		cuts, p.Accepted(), len(seqs), st)
}

// TestBacklogOverrun: while the tap is cut off, the master writes far more
// than its 16 KiB backlog; the reconnect is a full resynchronisation that
// says why, and the new snapshot plus the stream rebuild the dataset.
func TestBacklogOverrun(t *testing.T) {
	ctx := testCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-backlog-size", "16kb", "--repl-diskless-sync-delay", "0"}})
	target := redistest.Start(t, redistest.Options{})
	mc := m.Client()
	p, err := faultproxy.New(m.Addr)
	require.NoError(t, err)
	defer p.Close()
	a, err := oracle.NewApplier(ctx, target.Addr, oracle.ApplierOptions{})
	require.NoError(t, err)
	defer a.Close()

	tp := startTap(t, ctx, replica.Config{Addr: p.Addr()}, a, seqKey)
	tp.waitFor(t, ctx, "snapshot", func() bool { return tp.snapDone > 0 })
	sw := &oracle.SeqWriter{Key: seqKey}
	require.NoError(t, sw.Write(ctx, mc, 100))
	tp.waitSeq(t, ctx, sw.Last())
	pos := tp.r.Position()

	p.SetDown(true)
	tp.waitFor(t, ctx, "disconnect", func() bool { return tp.disc > 0 })
	require.NoError(t, sw.Write(ctx, mc, 3000)) // ~100 KB of stream
	info, err := m.Info(ctx, "replication")
	require.NoError(t, err)
	t.Logf("master offset %s, backlog first byte %s, tap position %v", info["master_repl_offset"], info["repl_backlog_first_byte_offset"], pos)
	p.SetDown(false)

	tp.waitFor(t, ctx, "resync", func() bool { return len(tp.syncs) == 2 && tp.snapDone == 2 })
	require.NoError(t, sw.Write(ctx, mc, 100))
	w := &oracle.Workload{}
	defer w.Close()
	tp.fence(t, ctx, w, mc)
	tp.checkErrors(t)

	syncs, _ := tp.snapshot()
	require.Equal(t, replica.SyncFull, syncs[1].Mode)
	require.NotEmpty(t, syncs[1].Reason, "a full resync after a resume attempt says why")
	t.Logf("second sync: %+v", syncs[1])
	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, 1)
	require.NoError(t, err)
	require.Empty(t, diffs)
	n, err := mc.LLen(ctx, seqKey).Result()
	require.NoError(t, err)
	require.EqualValues(t, sw.Last(), n)
}

// TestFailover: the tap follows master M; replica R is promoted (REPLICAOF
// NO ONE) and the tap is redirected to it: R answers +CONTINUE with its new
// replication id through replid2, with no second snapshot, and writes on R
// arrive after the ones from M, each exactly once.
func TestFailover(t *testing.T) {
	ctx := testCtx(t)
	args := []string{"--repl-diskless-sync-delay", "0"}
	m := redistest.Start(t, redistest.Options{Args: args})
	r := redistest.Start(t, redistest.Options{Args: args, ReplicaOf: m.Addr})
	mc, rc := m.Client(), r.Client()
	redistest.WaitFor(t, time.Minute, "replica link up", func() bool {
		info, err := r.Info(ctx, "replication")
		return err == nil && info["master_link_status"] == "up"
	})

	tp := startTap(t, ctx, replica.Config{Addr: m.Addr}, nil, seqKey)
	tp.waitFor(t, ctx, "snapshot", func() bool { return tp.snapDone > 0 })
	sw := &oracle.SeqWriter{Key: seqKey}
	require.NoError(t, sw.Write(ctx, mc, 500))
	tp.waitSeq(t, ctx, sw.Last())
	// R must hold everything the tap has before it takes over.
	minfo, err := m.Info(ctx, "replication")
	require.NoError(t, err)
	redistest.WaitFor(t, time.Minute, "replica caught up", func() bool {
		info, err := r.Info(ctx, "replication")
		return err == nil && info["master_repl_offset"] == minfo["master_repl_offset"]
	})
	oldID := tp.r.Position().ReplID

	require.NoError(t, rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
	tp.r.Redirect(r.Addr)
	tp.waitFor(t, ctx, "sync with the promoted replica", func() bool { return len(tp.syncs) == 2 })
	require.NoError(t, sw.Write(ctx, rc, 500))
	tp.waitSeq(t, ctx, sw.Last())
	tp.checkErrors(t)
	tp.stop(t)

	syncs, seqs := tp.snapshot()
	require.Equal(t, replica.SyncContinue, syncs[1].Mode, "%+v", syncs[1])
	require.Equal(t, r.Addr, syncs[1].Addr)
	require.NotEqual(t, oldID, syncs[1].ReplID, "the promoted replica has a new replication id")
	rinfo, err := r.Info(ctx, "replication")
	require.NoError(t, err)
	require.Equal(t, oldID, rinfo["master_replid2"])
	require.NoError(t, oracle.CheckSeq(seqs, 1, sw.Last()))
	require.EqualValues(t, 1, tp.r.Stats().FullSyncs)
	require.Equal(t, 1, tp.snapDone, "no second snapshot")
	t.Logf("failover: %+v -> %+v, %d writes delivered once", syncs[0], syncs[1], len(seqs))
}

// TestSlowConsumerDropped: the caller stops pulling events, so the replica
// stops reading its socket; the master's output buffer for it passes
// client-output-buffer-limit and the master drops it. When the caller pulls
// again it gets what was buffered, a Disconnected event, then a full
// resynchronisation that says why (the backlog was overrun meanwhile),
// and the rebuilt dataset equals the master's.
func TestSlowConsumerDropped(t *testing.T) {
	ctx := testCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0",
		"--client-output-buffer-limit", "replica 1mb 0 0", "--repl-backlog-size", "1mb"}})
	target := redistest.Start(t, redistest.Options{})
	mc := m.Client()
	a, err := oracle.NewApplier(ctx, target.Addr, oracle.ApplierOptions{})
	require.NoError(t, err)
	defer a.Close()
	r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr, MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	defer r.Close()

	var disconnected *replica.Disconnected
	var syncs []*replica.Sync
	fences := map[string]bool{}
	snapshots := 0
	pull := func(until func() bool) {
		for !until() {
			ev, err := r.Next(ctx)
			require.NoError(t, err, "stats %+v", r.Stats())
			switch e := ev.(type) {
			case *replica.Sync:
				syncs = append(syncs, e)
				if e.Mode == replica.SyncFull {
					a.Reset()
				}
			case *replica.SnapshotRecord:
				require.NoError(t, a.Record(e.Record))
			case *replica.Command:
				a.Command(e.DB, e.Args)
				if string(e.Args[1]) == oracle.FenceKey {
					fences[string(e.Args[2])] = true
				}
			case *replica.Transaction:
				cmds := make([]oracle.Cmd, len(e.Commands))
				for i, c := range e.Commands {
					cmds[i] = oracle.Cmd{DB: c.DB, Args: c.Args}
				}
				a.Transaction(e.DB, cmds)
			case *replica.Disconnected:
				disconnected = e
			case *replica.SnapshotDone:
				snapshots++
			}
		}
	}
	w := &oracle.Workload{}
	defer w.Close()
	token, err := w.Fence(ctx, mc)
	require.NoError(t, err)
	pull(func() bool { return fences[token] })

	// The caller stops pulling; about 20 MB of writes follow.
	sw := &oracle.SeqWriter{Key: seqKey}
	big := strings.Repeat("x", 10000)
	for i := 0; i < 2000; i++ {
		require.NoError(t, mc.Set(ctx, "big:"+strconv.Itoa(i%100), big, 0).Err())
	}
	require.NoError(t, sw.Write(ctx, mc, 100))
	redistest.WaitFor(t, time.Minute, "the master drops the replica", func() bool {
		info, err := m.Info(ctx, "replication")
		return err == nil && info["connected_slaves"] == "0"
	})

	pull(func() bool { return snapshots == 2 })
	require.NoError(t, sw.Write(ctx, mc, 100))
	token, err = w.Fence(ctx, mc)
	require.NoError(t, err)
	pull(func() bool { return fences[token] })
	require.NoError(t, a.Flush(ctx))
	require.Empty(t, a.Errors())
	require.NotNil(t, disconnected, "the drop is reported")
	t.Logf("disconnected: %v; then %+v", disconnected.Err, *syncs[len(syncs)-1])
	require.Len(t, syncs, 2)
	require.Equal(t, replica.SyncFull, syncs[1].Mode)
	require.NotEmpty(t, syncs[1].Reason)
	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, 1)
	require.NoError(t, err)
	require.Empty(t, diffs)
	require.Contains(t, mustRead(t, m.Log), "scheduled to be closed ASAP for overcoming of output buffer limits")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestAcksOnlyProcessed: the replica acknowledges (REPLCONF ACK) only what
// Next has returned, so the master's WAIT is an honest finish line: while
// the caller does not pull, a WAIT for the last write times out with no
// replica; once Next has returned that write, WAIT counts the tap.
func TestAcksOnlyProcessed(t *testing.T) {
	ctx := testCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr, Snapshot: replica.SnapshotSkip, AckInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	defer r.Close()
	for {
		ev, err := r.Next(ctx)
		require.NoError(t, err)
		if _, ok := ev.(*replica.SnapshotDone); ok {
			break
		}
	}
	conn := redis.NewClient(&redis.Options{Addr: m.Addr, ReadTimeout: -1, Protocol: 2, DisableIdentity: true}).Conn()
	defer conn.Close()
	sw := &oracle.SeqWriter{Key: seqKey}
	require.NoError(t, sw.Write(ctx, conn, 1000))
	// Pull half of it: the rest is on its way, partly read into the
	// replica's buffer already.
	upTo := func(last int64) {
		for {
			ev, err := r.Next(ctx)
			require.NoError(t, err)
			var args [][]byte
			switch e := ev.(type) {
			case *replica.Command:
				args = e.Args
			case *replica.Transaction:
				args = e.Commands[len(e.Commands)-1].Args
			}
			if s, ok := oracle.SeqOf(seqKey, args); ok && s == last {
				return
			}
		}
	}
	upTo(500)
	n, err := conn.Do(ctx, "WAIT", 1, 300).Int()
	require.NoError(t, err)
	require.Equal(t, 0, n, "half pulled, the last write not acknowledged (stats %+v)", r.Stats())
	upTo(sw.Last())
	n, err = conn.Do(ctx, "WAIT", 1, 0).Int()
	require.NoError(t, err)
	require.Equal(t, 1, n)
}
