package replica_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/replica"
)

// dualChannelArgs make a Valkey 8 master grant dual-channel replication
// (it needs diskless sync too).
var dualChannelArgs = []string{"--dual-channel-replication-enabled", "yes",
	"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}

// requireDualChannelLog checks the master's own word that it synchronised
// over two connections: Valkey logs "Starting BGSAVE for SYNC with target:
// replicas sockets using: dual-channel" (replication.c,
// startBgsaveForReplication).
func requireDualChannelLog(t *testing.T, m *redistest.Server) {
	t.Helper()
	log, err := os.ReadFile(m.Log)
	require.NoError(t, err)
	require.Contains(t, string(log), "using: dual-channel", "the master's log shows a dual-channel sync")
	require.NotContains(t, string(log), "using: normal sync")
}

// TestDualChannelOracle is the oracle test against a Valkey master that
// grants dual-channel replication, with DualChannel on.
func TestDualChannelOracle(t *testing.T) {
	k := redistest.ServerWith(t, redistest.DualChannel)
	runOracle(t, oracleCase{name: "dual-channel " + k.Name, kind: k, master: redistest.Options{Args: dualChannelArgs},
		tapCfg: func(t *testing.T, ctx context.Context, m *redistest.Server, cfg *replica.Config) {
			cfg.DualChannel.Mode = replica.DualChannelOn
		},
		after: func(t *testing.T, m *redistest.Server, st replica.Stats) {
			require.EqualValues(t, 1, st.DualChannelSyncs)
			requireDualChannelLog(t, m)
		}}, 21)
}

// TestDualChannelResume is the cut test over a dual-channel first sync:
// every reconnect is a +CONTINUE and nothing is lost.
func TestDualChannelResume(t *testing.T) {
	k := redistest.ServerWith(t, redistest.DualChannel)
	cuts := 20
	if testing.Short() {
		cuts = 8
	}
	runResumeCuts(t, k, func(cfg *replica.Config, o *redistest.Options) {
		cfg.DualChannel.Mode = replica.DualChannelOn
		o.Args = dualChannelArgs
	}, cuts)
}

// TestDualChannelHold writes numbered writes at full speed while the
// consumer takes a snapshot over the second connection: it holds on to the
// first snapshot record until 2000 more writes are made, so these are held
// (in memory, then in the temporary file, the memory bound being tiny) and
// delivered after SnapshotDone. The replay of everything on an empty
// server equals the master, and the writes after the snapshot arrive
// exactly once, in order.
func TestDualChannelHold(t *testing.T) {
	k := redistest.ServerWith(t, redistest.DualChannel)
	ctx := testCtx(t)
	m := redistest.Start(t, k.Options(redistest.Options{Args: dualChannelArgs}))
	target := redistest.Start(t, k.Options(redistest.Options{}))
	mc := m.Client()
	w := (&oracle.Workload{Seed: 3, BigElems: 5000}).On(k)
	defer w.Close()
	require.NoError(t, w.Preload(ctx, mc))

	wctx, stopWriter := context.WithCancel(ctx)
	defer stopWriter()
	var written atomic.Int64
	werr := make(chan error, 1)
	go func() {
		sw := &oracle.SeqWriter{Key: seqKey}
		for wctx.Err() == nil {
			if err := sw.Write(wctx, mc, 20); err != nil && wctx.Err() == nil {
				werr <- err
				return
			}
			written.Store(sw.Last())
		}
		werr <- nil
	}()
	// Some writes before the sync: they are in the snapshot.
	require.Eventually(t, func() bool { return written.Load() > 100 }, time.Minute, time.Millisecond)

	a, err := oracle.NewApplier(ctx, target.Addr, oracle.ApplierOptions{})
	require.NoError(t, err)
	defer a.Close()
	cfg := replica.Config{Addr: m.Addr, DualChannel: replica.DualChannelConfig{
		Mode: replica.DualChannelOn, HoldMemory: 16 << 10, HoldDir: t.TempDir()}}
	var once sync.Once
	var heldFrom int64
	tp := startTapWith(t, ctx, cfg, a, seqKey, func(tp *tap) {
		tp.onRecord = func() {
			once.Do(func() {
				// The sync has begun: whatever is written now comes after
				// the snapshot's end offset.
				heldFrom = written.Load()
				for written.Load() < heldFrom+2000 && wctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
			})
		}
	})
	tp.waitFor(t, ctx, "snapshot", func() bool { return tp.snapDone > 0 })
	st := tp.r.Stats()
	stopWriter()
	require.NoError(t, <-werr)
	last := written.Load()
	tp.waitSeq(t, ctx, last)
	require.NoError(t, w.Settle(ctx, mc))
	tp.fence(t, ctx, w, mc)
	tp.checkErrors(t)

	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, w.DBs, oracle.CompareOn(k)...)
	require.NoError(t, err)
	require.Empty(t, diffs, "the rebuilt dataset differs from the master's")

	tp.stop(t)
	syncs, seqs := tp.snapshot()
	require.Len(t, syncs, 1)
	require.Equal(t, replica.SyncFull, syncs[0].Mode)
	require.NotEmpty(t, seqs)
	require.NoError(t, oracle.CheckSeq(seqs, seqs[0], last), "every write after the snapshot, once, in order")
	require.LessOrEqual(t, seqs[0], heldFrom+1, "the writes made while the snapshot was held up came in the stream")
	t.Logf("snapshot %d keys, held %d bytes (%d on disk) at SnapshotDone; stats %+v; writes %d..%d in the stream",
		tp.snapKeys, st.Held, st.HeldOnDisk, tp.r.Stats(), seqs[0], last)
	require.EqualValues(t, 1, st.DualChannelSyncs)
	require.Positive(t, st.Held, "writes made during the snapshot were held")
	require.Positive(t, st.HeldOnDisk, "past HoldMemory, in the file")
	requireDualChannelLog(t, m)
}

// TestDualChannelAutoFallback: with DualChannel auto, a master that does
// not grant it (Redis, or Valkey without dual-channel-replication-enabled)
// gets an ordinary one-connection sync; with DualChannel on, Dial fails
// with ErrSyncRefused.
func TestDualChannelAutoFallback(t *testing.T) {
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		ctx := testCtx(t)
		m := redistest.Start(t, k.Options(redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}}))
		tp := startTap(t, ctx, replica.Config{Addr: m.Addr}, nil, "")
		tp.waitFor(t, ctx, "snapshot", func() bool { return tp.snapDone > 0 })
		require.Zero(t, tp.r.Stats().DualChannelSyncs)
		_, err := replica.Dial(ctx, replica.Config{Addr: m.Addr, DualChannel: replica.DualChannelConfig{Mode: replica.DualChannelOn}, MaxRetries: -1})
		require.ErrorIs(t, err, replica.ErrSyncRefused)
	})
}
