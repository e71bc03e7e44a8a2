package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/cluster"
	"github.com/redtap/redtap/internal/testkit/clustertest"
	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// freezable is a checkpointer that can stop saving, to simulate a crash:
// Close's final save is then lost, as if the process had been killed after
// the last periodic save.
type freezable struct {
	inner  cluster.Checkpointer
	mu     sync.Mutex
	frozen bool
	last   cluster.Checkpoint
}

func (f *freezable) Load(ctx context.Context) (cluster.Checkpoint, error) { return f.inner.Load(ctx) }

func (f *freezable) Save(ctx context.Context, c cluster.Checkpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		return nil
	}
	f.last = c
	return f.inner.Save(ctx, c)
}

func (f *freezable) saved() cluster.Checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *freezable) freeze(v bool) {
	f.mu.Lock()
	f.frozen = v
	f.mu.Unlock()
}

// consumer replays the merged stream on one empty server.
type consumer struct {
	t      *testing.T
	tap    *cluster.Tap
	app    *oracle.Applier
	cancel context.CancelFunc
	done   chan error

	openKey string // a snapshot key whose chunks are coming

	mu      sync.Mutex
	fences  map[string]string
	last    replica.Position
	syncs   []replica.SyncMode
	movesIn int
}

func startConsumer(t *testing.T, tap *cluster.Tap, app *oracle.Applier) *consumer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{t: t, tap: tap, app: app, cancel: cancel, done: make(chan error, 1), fences: map[string]string{}}
	go func() { c.done <- c.loop(ctx) }()
	return c
}

func (c *consumer) loop(ctx context.Context) error {
	n := 0
	for {
		ev, err := c.tap.Next(ctx)
		if err != nil {
			return err
		}
		if c.tap.Origin().Move != cluster.MoveNone {
			c.mu.Lock()
			c.movesIn++
			c.mu.Unlock()
			continue
		}
		switch e := ev.(type) {
		case *replica.Sync:
			c.mu.Lock()
			c.syncs = append(c.syncs, e.Mode)
			c.mu.Unlock()
			if e.Mode == replica.SyncFull {
				c.app.Reset()
			}
		case *replica.SnapshotRecord:
			if en, ok := e.Record.(*rdb.Entry); ok {
				if en.Chunk > 0 && string(en.Key) != c.openKey {
					return fmt.Errorf("chunk %d of %q after a record of %q", en.Chunk, en.Key, c.openKey)
				}
				c.openKey = string(en.Key)
			}
			if err := c.app.Record(e.Record); err != nil {
				return err
			}
		case *replica.Command:
			c.app.Command(e.DB, e.Args)
			if len(e.Args) == 3 && strings.EqualFold(string(e.Args[0]), "SET") && len(e.Args[1]) > 6 && string(e.Args[1][:6]) == "fence:" {
				if err := c.app.Flush(ctx); err != nil {
					return err
				}
				c.mu.Lock()
				c.fences[string(e.Args[1])] = string(e.Args[2])
				c.mu.Unlock()
			}
		case *replica.Transaction:
			cmds := make([]oracle.Cmd, len(e.Commands))
			for i, cm := range e.Commands {
				cmds[i] = oracle.Cmd{DB: cm.DB, Args: cm.Args}
			}
			c.app.Transaction(e.DB, cmds)
		}
		if p := replica.PosOf(ev); !p.IsZero() {
			c.mu.Lock()
			c.last = p
			c.mu.Unlock()
			if n++; n%200 == 0 {
				if err := c.app.Flush(ctx); err != nil {
					return err
				}
				c.tap.Commit(p)
			}
		}
	}
}

// stop ends the loop and flushes what it replayed.
func (c *consumer) stop(ctx context.Context) replica.Position {
	c.cancel()
	err := <-c.done
	require.ErrorIs(c.t, err, context.Canceled)
	require.NoError(c.t, c.app.Flush(ctx))
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *consumer) fence(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fences[key]
}

// writer runs the workload until stopped.
type writer struct {
	cancel context.CancelFunc
	done   chan error
}

func startWriter(w *clustertest.Workload, cc *redis.ClusterClient) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	wr := &writer{cancel: cancel, done: make(chan error, 1)}
	go func() {
		for ctx.Err() == nil {
			if err := w.Run(ctx, cc, 20); err != nil && ctx.Err() == nil {
				wr.done <- err
				return
			}
		}
		wr.done <- nil
	}()
	return wr
}

func (wr *writer) stop(t *testing.T) {
	wr.cancel()
	require.NoError(t, <-wr.done)
}

// fenceKeys returns one key per primary.
func fenceKeys(t *testing.T, ctx context.Context, cc *redis.ClusterClient, primaries int) []string {
	seen := map[string]bool{}
	var keys []string
	for i := 0; len(keys) < primaries && i < 10000; i++ {
		k := "fence:" + strconv.Itoa(i)
		n, err := cc.MasterForKey(ctx, k)
		require.NoError(t, err)
		if a := n.Options().Addr; !seen[a] {
			seen[a] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// settle writes a fence on every shard, waits until the consumer has
// replayed all of them, and compares the replay with the cluster.
func settle(t *testing.T, ctx context.Context, cl *clustertest.Cluster, c *consumer, target *redis.Client, round int) {
	t.Helper()
	t0 := time.Now()
	cc := cl.Client()
	keys := fenceKeys(t, ctx, cc, len(cl.Primaries()))
	t.Logf("fence keys in %v", time.Since(t0))
	val := fmt.Sprintf("round-%d", round)
	for _, k := range keys {
		require.NoError(t, cc.Set(ctx, k, val, 0).Err())
	}
	t.Logf("fences written in %v", time.Since(t0))
	defer func() { t.Logf("settle %v", time.Since(t0)) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, k := range keys {
			ok = ok && c.fence(k) == val
		}
		if ok {
			break
		}
		select {
		case err := <-c.done:
			c.done <- err // for stop
			t.Fatalf("the consumer stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			st := c.tap.Stats()
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("fences not replayed after 30s: %+v; %s\ngoroutines:\n%s", st, c.tap.Debug(), buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Empty(t, c.app.Errors())
	diffs, err := cl.Compare(ctx, target)
	require.NoError(t, err)
	require.Empty(t, diffs)
}

func fullSyncs(tap *cluster.Tap) int64 {
	var n int64
	for _, s := range tap.Stats().PerShard {
		n += s.FullSyncs
	}
	return n
}

// TestCluster follows one cluster through its life: the initial snapshots,
// a SIGKILLed primary, a CLUSTER FAILOVER, a reshard under writes, and a
// crash and restart of the tap; after each, the merged stream replayed on
// one empty server equals the cluster, and no shard was fully resynced
// after the start.
func TestCluster(t *testing.T) {
	redistest.ForEachServer(t, testCluster)
}

func testCluster(t *testing.T, k redistest.Kind) {
	cl := clustertest.Start(t, clustertest.Options{Kind: &k})
	cc := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := &clustertest.Workload{Seed: 10}
	require.NoError(t, w.Run(ctx, cc, 1500))
	// Big keys: their snapshot records come in chunks, which the merged
	// stream keeps together.
	for i := range 6 {
		vals := make([]any, 3000)
		for j := range vals {
			vals[j] = j
		}
		require.NoError(t, cc.RPush(ctx, "big:"+strconv.Itoa(i), vals...).Err())
	}

	target := redistest.Start(t, k.Options(redistest.Options{}))
	tc := target.Client()
	app, err := oracle.NewApplier(ctx, target.Addr, oracle.ApplierOptions{})
	require.NoError(t, err)
	defer app.Close()

	fcp, err := cluster.NewFileCheckpointer(filepath.Join(t.TempDir(), "checkpoint.json"))
	require.NoError(t, err)
	cp := &freezable{inner: fcp}
	cfg := cluster.Config{
		Addrs:              cl.Seeds()[:2],
		Checkpointer:       cp,
		CheckpointInterval: 20 * time.Millisecond,
		ManualCommit:       true,
		PollInterval:       200 * time.Millisecond,
		Logger:             debugLogger(),
		Replica:            replica.Config{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
	tap, err := cluster.Dial(ctx, cfg)
	require.NoError(t, err)
	defer func() { tap.Close() }()
	require.Len(t, tap.Shards(), 3)
	c := startConsumer(t, tap, app)
	round := 0

	t.Run("snapshot and stream", func(t *testing.T) {
		wr := startWriter(w, cc)
		time.Sleep(500 * time.Millisecond)
		wr.stop(t)
		round++
		settle(t, ctx, cl, c, tc, round)
		require.Equal(t, []replica.SyncMode{replica.SyncFull}, c.syncs)
		require.EqualValues(t, 3, fullSyncs(tap))
	})

	t.Run("SIGKILL a primary", func(t *testing.T) {
		wr := startWriter(w, cc)
		time.Sleep(300 * time.Millisecond)
		victim := cl.Primaries()[0]
		// Writes go on; the victim's replica has everything it
		// acknowledged when it dies (else Redis itself loses writes).
		cl.QuiesceForKill(victim.Addr)
		cl.Node(victim.Addr).Kill()
		t0 := time.Now()
		cl.WaitHealthy()
		t.Logf("failed over in %v", time.Since(t0))
		time.Sleep(300 * time.Millisecond)
		t0 = time.Now()
		wr.stop(t)
		t.Logf("writer stopped in %v", time.Since(t0))
		round++
		settle(t, ctx, cl, c, tc, round)
		t.Logf("settled in %v", time.Since(t0))
		st := tap.Stats()
		require.EqualValues(t, 3, fullSyncs(tap), "a shard was fully resynchronised")
		require.GreaterOrEqual(t, st.Redirects, int64(1))
		require.Len(t, tap.Shards(), 3)
	})

	t.Run("CLUSTER FAILOVER", func(t *testing.T) {
		var rep clustertest.NodeInfo
		for _, p := range cl.Primaries() {
			if r, ok := cl.ReplicaOf(p.ID); ok {
				rep = r
				break
			}
		}
		require.NotEmpty(t, rep.Addr)
		before := tap.Stats().Redirects
		wr := startWriter(w, cc)
		time.Sleep(300 * time.Millisecond)
		cl.Failover(rep.Addr)
		cl.WaitHealthy()
		time.Sleep(300 * time.Millisecond)
		wr.stop(t)
		round++
		settle(t, ctx, cl, c, tc, round)
		require.EqualValues(t, 3, fullSyncs(tap), "a shard was fully resynchronised")
		require.Greater(t, tap.Stats().Redirects, before)
	})

	t.Run("reshard under writes", func(t *testing.T) {
		p := cl.Primaries()
		wr := startWriter(w, cc)
		time.Sleep(200 * time.Millisecond)
		cl.Reshard(p[0].Addr, p[0].ID, p[1].ID, 200)
		time.Sleep(200 * time.Millisecond)
		wr.stop(t)
		cl.WaitHealthy()
		round++
		settle(t, ctx, cl, c, tc, round)
		st := tap.Stats()
		t.Logf("moves %d, unpaired %d, barriers %d (timeouts %d)", st.Moves, st.UnpairedMoves, st.Barriers, st.BarrierTimeouts)
		require.Positive(t, st.Moves)
		require.Zero(t, st.UnpairedMoves)
		require.Zero(t, c.movesIn, "MovesHide delivered a move")
		require.EqualValues(t, 3, fullSyncs(tap))
	})

	t.Run("crash and restart from the checkpoint", func(t *testing.T) {
		wr := startWriter(w, cc)
		time.Sleep(300 * time.Millisecond)
		// The crash: the consumer stops; what it replayed is committed
		// and saved by the periodic save; then nothing more is saved.
		last := c.stop(ctx)
		tap.Commit(last)
		redistest.WaitFor(t, 10*time.Second, "checkpoint saved", func() bool { return cp.saved().Offset >= last.Offset })
		cp.freeze(true)
		require.NoError(t, tap.Close())
		cp.freeze(false)
		saved, err := fcp.Load(ctx)
		require.NoError(t, err)
		require.Len(t, saved.Shards, 3)

		tap2, err := cluster.Dial(ctx, cfg)
		require.NoError(t, err)
		defer tap2.Close()
		tap = tap2
		c = startConsumer(t, tap2, app)
		time.Sleep(300 * time.Millisecond)
		wr.stop(t)
		round++
		settle(t, ctx, cl, c, tc, round)
		require.Equal(t, []replica.SyncMode{replica.SyncContinue}, c.syncs)
		for id, s := range tap2.Stats().PerShard {
			require.Zero(t, s.FullSyncs, "shard %s", id)
			require.EqualValues(t, 1, s.PartialSyncs, "shard %s", id)
		}
		c.stop(ctx)
	})
}

func debugLogger() *slog.Logger {
	if os.Getenv("REDTAP_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
