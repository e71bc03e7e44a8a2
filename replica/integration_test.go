package replica_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// The integration tests in this package start real redis-server processes
// (internal/testkit/redistest) and check the replica against them: the oracle tests
// rebuild the master's dataset from the tap's events on an empty server and
// compare; the resume tests number every write and check that each one is
// delivered exactly once, in order, across cuts, restarts and failovers.

// testTimeout bounds every integration test: a hang fails instead of
// blocking the suite.
const testTimeout = 3 * time.Minute

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// tap consumes a replica in a goroutine, applies what it delivers to an
// optional oracle.Applier and records what a test checks afterwards.
type tap struct {
	r       *replica.Replica
	applier *oracle.Applier
	seqKey  string // when set, RPUSH <seqKey> n writes are collected in seqs

	mu        sync.Mutex
	cond      *sync.Cond
	syncs     []replica.Sync
	disc      int
	fences    map[string]bool
	seqs      []int64
	snapDone  int
	snapKeys  int64
	commands  int64
	lastOff   int64
	offErr    error
	applyErr  error
	err       error
	running   bool
	stopped   chan struct{}
	onSync    func(*replica.Sync)
	onRecord  func() // called before each snapshot record is handled, without the lock
	cancel    context.CancelFunc
	chunked   int
	snapBytes int64
	names     map[string]int // command names delivered, upper case; "MULTI" counts transactions
	expired   int            // DEL/UNLINK of "ttl:*" keys: expirations (the workload never deletes them itself)
	seqDBs    map[int]int    // numbered writes by the database they were delivered in
}

func startTap(t *testing.T, ctx context.Context, cfg replica.Config, applier *oracle.Applier, seqKey string) *tap {
	t.Helper()
	return startTapWith(t, ctx, cfg, applier, seqKey, nil)
}

// startTapWith is startTap with setup called on the tap before its
// goroutine starts (to set hooks).
func startTapWith(t *testing.T, ctx context.Context, cfg replica.Config, applier *oracle.Applier, seqKey string, setup func(*tap)) *tap {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 5 * time.Millisecond
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	if cfg.AckInterval == 0 {
		cfg.AckInterval = 100 * time.Millisecond
	}
	r, err := replica.Dial(ctx, cfg)
	require.NoError(t, err)
	tp := &tap{r: r, applier: applier, seqKey: seqKey, fences: map[string]bool{}, running: true, stopped: make(chan struct{}), names: map[string]int{}, seqDBs: map[int]int{}}
	tp.cond = sync.NewCond(&tp.mu)
	if setup != nil {
		setup(tp)
	}
	runCtx, cancel := context.WithCancel(ctx)
	tp.cancel = cancel
	go tp.run(runCtx)
	t.Cleanup(func() { tp.stop(t) })
	return tp
}

func (tp *tap) run(ctx context.Context) {
	defer close(tp.stopped)
	err := tp.loop(ctx)
	tp.mu.Lock()
	tp.err = err
	tp.running = false
	tp.cond.Broadcast()
	tp.mu.Unlock()
}

func (tp *tap) loop(ctx context.Context) error {
	for {
		ev, err := tp.r.Next(ctx)
		if err != nil {
			return err
		}
		if err := tp.handle(ctx, ev); err != nil {
			return err
		}
	}
}

func (tp *tap) checkOffset(off int64) {
	if off <= tp.lastOff && tp.offErr == nil {
		tp.offErr = fmt.Errorf("offset %d after %d: not increasing", off, tp.lastOff)
	}
	tp.lastOff = off
}

func (tp *tap) command(db int, args [][]byte, off int64) {
	tp.commands++
	tp.checkOffset(off)
	name := strings.ToUpper(string(args[0]))
	tp.names[name]++
	if (name == "DEL" || name == "UNLINK") && len(args) == 2 && strings.HasPrefix(string(args[1]), "ttl:") {
		tp.expired++
	}
	if n, ok := oracle.SeqOf(tp.seqKey, args); ok && tp.seqKey != "" {
		tp.seqs = append(tp.seqs, n)
		tp.seqDBs[db]++
	}
	if len(args) == 3 && strings.EqualFold(string(args[0]), "SET") && string(args[1]) == oracle.FenceKey {
		tp.fences[string(args[2])] = true
	}
}

func (tp *tap) handle(ctx context.Context, ev replica.Event) error {
	if _, ok := ev.(*replica.SnapshotRecord); ok && tp.onRecord != nil {
		tp.onRecord()
	}
	a := tp.applier
	var flush bool
	tp.mu.Lock()
	switch e := ev.(type) {
	case *replica.Sync:
		tp.syncs = append(tp.syncs, *e)
		if e.Mode == replica.SyncFull {
			tp.lastOff = e.Offset - 1 // a new history
			if a != nil {
				a.Reset()
			}
		} else {
			tp.lastOff = e.Offset
		}
		if tp.onSync != nil {
			tp.onSync(e)
		}
	case *replica.SnapshotRecord:
		if en, ok := e.Record.(*rdb.Entry); ok && en.Chunk > 0 {
			tp.chunked++
		}
		if a != nil {
			if err := a.Record(e.Record); err != nil && tp.applyErr == nil {
				tp.applyErr = err
			}
		}
	case *replica.SnapshotDone:
		tp.snapDone++
		tp.snapKeys += e.Keys
		tp.snapBytes += e.Bytes
		flush = true
	case *replica.Command:
		tp.command(e.DB, e.Args, e.Offset)
		if a != nil {
			a.Command(e.DB, e.Args)
		}
		flush = true
	case *replica.Transaction:
		cmds := make([]oracle.Cmd, len(e.Commands))
		for i, c := range e.Commands {
			tp.command(c.DB, c.Args, c.Offset)
			cmds[i] = oracle.Cmd{DB: c.DB, Args: c.Args}
		}
		tp.checkOffset(e.Offset)
		tp.names["MULTI"]++
		if a != nil {
			a.Transaction(e.DB, cmds)
		}
		flush = true
	case *replica.Disconnected:
		tp.disc++
	}
	tp.mu.Unlock()
	// Flush after the events that can end a burst, so that a waiting test
	// sees the target up to date; the target's replies are awaited only
	// for fences.
	if a != nil && flush {
		if err := a.Flush(ctx); err != nil {
			return err
		}
	}
	tp.mu.Lock()
	tp.cond.Broadcast()
	tp.mu.Unlock()
	return nil
}

// waitFor waits until cond (called with tp.mu held) holds, the loop ends,
// or ctx ends.
func (tp *tap) waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	stop := context.AfterFunc(ctx, func() {
		tp.mu.Lock()
		tp.cond.Broadcast()
		tp.mu.Unlock()
	})
	defer stop()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for !cond() {
		if !tp.running {
			t.Fatalf("tap stopped while waiting for %s: %v", what, tp.err)
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s (syncs %+v, commands %d, stats %+v)", what, tp.syncs, tp.commands, tp.r.Stats())
		}
		tp.cond.Wait()
	}
}

// fence writes a marker on the master and waits until the tap has
// delivered it (and applied everything before it).
func (tp *tap) fence(t *testing.T, ctx context.Context, w *oracle.Workload, c *redis.Client) {
	t.Helper()
	token, err := w.Fence(ctx, c)
	require.NoError(t, err)
	tp.waitFor(t, ctx, "fence "+token, func() bool { return tp.fences[token] })
}

// stop ends the tap goroutine (it is safe to call again) and closes the
// replica; the tap's fields can then be read without the lock.
func (tp *tap) stop(t *testing.T) {
	tp.cancel()
	<-tp.stopped
	require.NoError(t, tp.r.Close())
}

func (tp *tap) snapshot() (syncs []replica.Sync, seqs []int64) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]replica.Sync(nil), tp.syncs...), append([]int64(nil), tp.seqs...)
}

func (tp *tap) checkErrors(t *testing.T) {
	t.Helper()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	require.NoError(t, tp.offErr)
	require.NoError(t, tp.applyErr)
	if tp.err != nil && !errors.Is(tp.err, context.Canceled) && !errors.Is(tp.err, io.EOF) {
		require.NoError(t, tp.err)
	}
	if tp.applier != nil {
		require.Empty(t, tp.applier.Errors(), "the target refused replayed commands")
	}
}

func workOps(t *testing.T) int {
	if testing.Short() {
		return 400
	}
	return 2000
}

type oracleCase struct {
	name   string
	kind   redistest.Kind // the server (zero: the Debian redis-server)
	master redistest.Options
	tapCfg func(t *testing.T, ctx context.Context, m *redistest.Server, cfg *replica.Config)
	after  func(t *testing.T, m *redistest.Server, st replica.Stats) // extra checks at the end
}

// TestOracle is acceptance 1: after a mixed workload (every type,
// MULTI/EXEC, EVAL, FUNCTION LOAD and FCALL, long and short expiries,
// several databases, SWAPDB, FLUSHDB, big keys), the tap's snapshot and
// commands, applied to an empty server, rebuild the master's dataset key
// by key and by DEBUG DIGEST; with disk-based and diskless sync, a
// password, a least-privilege ACL user and TLS with client certificates.
func TestOracle(t *testing.T) {
	diskless := []string{"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}
	disk := []string{"--repl-diskless-sync", "no"}
	tlsFiles := redistest.GenerateTLS(t)
	cases := []oracleCase{
		{name: "disk", master: redistest.Options{Args: disk}},
		{name: "diskless", master: redistest.Options{Args: diskless}},
		{name: "password", master: redistest.Options{Args: diskless, Password: "s3cret"},
			tapCfg: func(t *testing.T, ctx context.Context, m *redistest.Server, cfg *replica.Config) {
				cfg.Password = "s3cret"
			}},
		{name: "acl-user", master: redistest.Options{Args: disk, Password: "admin"},
			tapCfg: func(t *testing.T, ctx context.Context, m *redistest.Server, cfg *replica.Config) {
				// The least a replica needs on Redis 7.0: PSYNC (or SYNC
				// for the fallback), REPLCONF (handshake and ACKs) and
				// PING (the first handshake step). AUTH needs no
				// permission. No key or channel permissions are needed.
				err := m.Client().Do(ctx, "ACL", "SETUSER", "tap", "on", ">tap-pw", "+psync", "+replconf", "+ping").Err()
				require.NoError(t, err)
				cfg.Username, cfg.Password = "tap", "tap-pw"
			}},
		{name: "tls", master: redistest.Options{Args: diskless, TLS: tlsFiles, ClientAuth: true},
			tapCfg: func(t *testing.T, ctx context.Context, m *redistest.Server, cfg *replica.Config) {
				cfg.TLS = tlsFiles.ClientConfig(t)
			}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runOracle(t, tc, uint64(i+1))
		})
	}
}

func masterOptions(m *redistest.Server, o redistest.Options, t *testing.T) *redis.Options {
	ro := &redis.Options{Addr: m.Addr, Password: o.Password, Protocol: 2, DisableIdentity: true}
	if o.TLS != nil {
		ro.TLSConfig = o.TLS.ClientConfig(t)
	}
	return ro
}

func runOracle(t *testing.T, tc oracleCase, seed uint64) {
	ctx := testCtx(t)
	m := redistest.Start(t, tc.kind.Options(tc.master))
	target := redistest.Start(t, tc.kind.Options(redistest.Options{}))
	mc := m.Client()

	w := (&oracle.Workload{Seed: seed, Swaps: true}).On(tc.kind)
	defer w.Close()
	require.NoError(t, w.Preload(ctx, mc))

	a, err := oracle.NewApplier(ctx, target.Addr, oracle.ApplierOptions{})
	require.NoError(t, err)
	defer a.Close()
	cfg := replica.Config{Addr: m.Addr, RDBOptions: []rdb.Option{rdb.WithChunkSize(100)}}
	if tc.tapCfg != nil {
		tc.tapCfg(t, ctx, m, &cfg)
	}
	tp := startTap(t, ctx, cfg, a, "")
	tp.waitFor(t, ctx, "snapshot", func() bool { return tp.snapDone > 0 })

	require.NoError(t, w.Run(ctx, mc, workOps(t)))
	require.NoError(t, w.Settle(ctx, mc))
	tp.fence(t, ctx, w, mc)
	tp.checkErrors(t)

	diffs, err := oracle.Compare(ctx, masterOptions(m, tc.master, t), &redis.Options{Addr: target.Addr}, w.DBs, oracle.CompareOn(tc.kind)...)
	require.NoError(t, err)
	require.Empty(t, diffs, "the rebuilt dataset differs from the master's")

	tp.stop(t) // the counters below are the tap goroutine's
	syncs, _ := tp.snapshot()
	require.Len(t, syncs, 1, "one synchronisation, no reconnect")
	require.Equal(t, replica.SyncFull, syncs[0].Mode)
	st := tp.r.Stats()
	t.Logf("%s: snapshot %d keys (%d later chunks) %d bytes, %d commands applied (%d target commands), stats %+v",
		tc.name, tp.snapKeys, tp.chunked, tp.snapBytes, tp.commands, a.Applied(), st)
	require.Positive(t, tp.chunked, "big keys arrive in chunks")
	t.Logf("%s: %d expirations propagated, commands by name: %v", tc.name, tp.expired, tp.names)
	require.Positive(t, tp.expired, "short-lived keys expired on the master while the tap ran")
	names := []string{"MULTI", "FUNCTION", "SWAPDB", "FLUSHDB", "PEXPIREAT"}
	if !testing.Short() { // rarer ones
		names = append(names, "XCLAIM", "RESTORE", "COPY")
	}
	if w.FieldTTL {
		// How the master propagates HEXPIRE, HPERSIST and an expiry in
		// the past.
		names = append(names, "HPEXPIREAT", "HPERSIST", "HDEL")
	}
	for _, name := range names {
		require.Positive(t, tp.names[name], "the workload's stream carries %s", name)
	}
	if tc.after != nil {
		tc.after(t, m, st)
	}
}
