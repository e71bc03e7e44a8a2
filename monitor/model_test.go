package monitor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
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

// TestModel taps a real master running a random workload of writes
// (modelWorkload) with a replica, and fans its events out to subscribers
// with different filters, each reading in its own goroutine:
//
//   - all: no filter;
//   - cpu: Match "cpu:*";
//   - db12: DBs 1 and 2;
//   - hash: Types hash.
//
// Each subscriber rebuilds what it selects. Keys named "cpu:..." are
// modelled in Go from the typed views alone (goModel: a subscriber that sees
// OpOther for one of them fails), the others are replayed from Args, once
// per command, into an empty redis-server of the subscriber's own (with
// snapshot keys rebuilt by oracle.Applier). At the end the Go model is
// written into that server too, and it must equal the master's dataset
// restricted to the subscriber's selection (oracle.Compare against a
// server loaded with DUMP/RESTORE of the selected keys), every event must
// be for a selected key, and each subscriber's stream must be exactly the
// unfiltered subscriber's stream filtered by the test.
//
// The workload keeps every command that involves several keys (SUNIONSTORE,
// RENAME, LMOVE, SMOVE, COPY, MOVE, SORT ... STORE, BITOP, PFMERGE ...)
// inside one key family ("cpu:l:*", "mem:t:*" ...; the name fixes the type),
// and moves keys between databases (MOVE, COPY ... DB, SWAPDB) only
// between databases 1 and 2: so for each filter a family is either wholly
// selected or not, and so is each side of a cross-database move. Keys with
// short TTLs (expiring while the tap runs: the master sends DEL) exist only
// in the Go-modelled family "cpu:e:*", since a replay target would expire
// them on its own clock.
func TestModel(t *testing.T) {
	ctx := testCtx(t)
	master := redistest.Start(t, redistest.Options{})
	mc := master.Client()
	w := &modelWorkload{rnd: rand.New(rand.NewPCG(7, 11)), keys: 12}
	require.NoError(t, w.preload(ctx, mc))

	r, err := replica.Dial(ctx, replica.Config{Addr: master.Addr, AckInterval: 100 * time.Millisecond,
		RDBOptions: []rdb.Option{rdb.WithChunkSize(100)}})
	require.NoError(t, err)
	defer r.Close()
	m, err := New(r)
	require.NoError(t, err)
	defer m.Close()

	subs := []*modelSub{
		{name: "all", filter: Filter{}, sel: func(string, int, string) bool { return true }},
		{name: "cpu", filter: Filter{Match: []string{"cpu:*"}}, sel: func(k string, _ int, _ string) bool { return strings.HasPrefix(k, "cpu:") }},
		{name: "db12", filter: Filter{DBs: []int{1, 2}}, sel: func(_ string, db int, _ string) bool { return db == 1 || db == 2 }},
		{name: "hash", filter: Filter{Types: []rdb.Type{rdb.TypeHash}}, sel: func(_ string, _ int, typ string) bool { return typ == "hash" }, prune: true},
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range subs {
		s.target = redistest.Start(t, redistest.Options{})
		s.applier, err = oracle.NewApplier(ctx, s.target.Addr, oracle.ApplierOptions{})
		require.NoError(t, err)
		defer s.applier.Close()
		s.model = newGoModel()
		s.sub, err = m.Subscribe(s.filter, QueueLen(64))
		require.NoError(t, err)
	}
	// Every subscriber is there before anyone reads: all see the snapshot.
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(runCtx)
		}()
	}

	require.NoError(t, w.run(ctx, mc, 2500))
	require.NoError(t, w.settle(ctx, mc))
	// A fence in a family no filter but "all" selects: once every
	// subscriber has been offered it, they have seen everything before.
	require.NoError(t, w.conn.Use(ctx, 0))
	require.NoError(t, w.conn.Set(ctx, "zz:fence", "1", 0).Err())
	var fence int64
	redistest.WaitFor(t, time.Minute, "the fence", func() bool {
		fence = subs[0].fenceOffset()
		return fence > 0
	})
	redistest.WaitFor(t, time.Minute, "every subscriber at the fence", func() bool {
		for _, s := range subs {
			st := s.sub.Stats()
			if st.Offset < fence || st.Queued > 0 {
				return false
			}
		}
		return true
	})
	stop()
	wg.Wait()
	t.Logf("workload: %d ops; monitor: %+v", w.ops, m.Stats())

	want := redistest.Start(t, redistest.Options{})
	for _, s := range subs {
		t.Run(s.name, func(t *testing.T) {
			require.NoError(t, s.err)
			// Exactly the unfiltered stream, filtered.
			w := wantStream(subs[0].ref, s.filter)
			require.Equal(t, len(w), len(s.got), "batches")
			for i := range w {
				require.Equal(t, w[i].String(), s.got[i].String(), "batch %d", i)
			}
			require.Empty(t, s.model.errs, "Go model")
			require.Empty(t, s.bad, "events for keys outside the selection")
			// The Go model joins the replayed keys.
			for db, cmds := range s.model.commands() {
				for _, c := range cmds {
					s.applier.Command(db, c)
				}
			}
			require.NoError(t, s.applier.Flush(ctx))
			require.Empty(t, s.applier.Errors())
			if s.prune {
				require.NoError(t, pruneTarget(ctx, s.target, s.sel))
			}
			wantOpts := &redis.Options{Addr: master.Addr}
			if s.name != "all" {
				require.NoError(t, loadSelection(ctx, mc, want.Client(), s.sel))
				wantOpts = &redis.Options{Addr: want.Addr}
			}
			diffs, err := oracle.Compare(ctx, wantOpts, &redis.Options{Addr: s.target.Addr}, 3)
			require.NoError(t, err)
			require.Empty(t, diffs)
			t.Logf("%s: %d batches, %+v", s.name, len(s.got), s.sub.Stats())
		})
	}
}

// wantStream filters the reference stream (up to what every subscriber was
// stopped at: the fence).
func wantStream(ref []refBatch, f Filter) []got { return want(ref, f) }

// modelSub is a subscriber of TestModel and what it rebuilds.
type modelSub struct {
	name   string
	filter Filter
	sel    func(key string, db int, typ string) bool // the selection, for the master's keys
	prune  bool                                      // delete unselected keys from the target before comparing

	sub     *Subscriber
	target  *redistest.Server
	applier *oracle.Applier
	model   *goModel

	mu      sync.Mutex
	ref     []refBatch // every batch, for the stream comparison
	got     []got
	fence   int64
	bad     []string
	err     error
	lastOff int64 // the command last replayed (events of one command share their Offset)
}

func (s *modelSub) fenceOffset() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fence
}

func (s *modelSub) run(ctx context.Context) {
	for {
		b, err := s.sub.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
			return
		}
		s.mu.Lock()
		s.apply(b)
		s.mu.Unlock()
	}
}

func (s *modelSub) apply(b *Batch) {
	g := describeBatch(b)
	rb := refBatch{g: g}
	for i := range b.Events {
		e := &b.Events[i]
		r := refEvent{kind: e.Kind, op: e.Op, typ: e.Type, db: e.DB, other: e.OtherDB, key: string(e.Key), desc: g.events[i]}
		if len(e.Args) > 0 {
			r.cmd = strings.ToLower(string(e.Args[0]))
		}
		rb.events = append(rb.events, r)
		s.check(e)
		if string(e.Key) == "zz:fence" {
			s.fence = b.Offset
		}
		cpu := strings.HasPrefix(string(e.Key), "cpu:")
		switch e.Kind {
		case KindReset:
			s.model.reset()
			s.applier.Reset()
		case KindSnapshotKey:
			if cpu {
				s.model.entry(e.Entry)
			} else if err := s.applier.Record(e.Entry); err != nil {
				s.bad = append(s.bad, err.Error())
			}
		case KindChange:
			if cpu {
				if e.Op == OpOther {
					s.bad = append(s.bad, fmt.Sprintf("no typed view for %q", e.Args))
				}
				s.model.apply(e)
			} else {
				s.replay(e)
			}
		case KindDBChange:
			s.model.apply(e)
			s.replay(e)
		}
	}
	s.ref = append(s.ref, rb)
	s.got = append(s.got, g)
}

// replay sends a command to the target once (its events share an Offset).
func (s *modelSub) replay(e *Event) {
	if e.Offset == s.lastOff {
		return
	}
	s.lastOff = e.Offset
	s.applier.Command(e.DB, cloneArgs(e.Args))
}

// check records an event for a key outside the selection. For a type
// filter the key's type is the event's (0: any type, passes).
func (s *modelSub) check(e *Event) {
	if e.Kind != KindChange && e.Kind != KindSnapshotKey {
		return
	}
	typ := "hash"
	if e.Type != 0 {
		typ = e.Type.String()
	}
	if !s.sel(string(e.Key), e.DB, typ) {
		s.bad = append(s.bad, fmt.Sprintf("%s: %s", s.name, describe(e)))
	}
}

// pruneTarget deletes the keys the selection does not hold (a type
// filter passes commands that work on any type: their replay may create
// keys of other types).
func pruneTarget(ctx context.Context, target *redistest.Server, sel func(string, int, string) bool) error {
	for db := 0; db < 3; db++ {
		c := redis.NewClient(&redis.Options{Addr: target.Addr, DB: db})
		keys, err := oracle.Keys(ctx, c)
		for _, k := range keys {
			typ, err2 := c.Type(ctx, k).Result()
			if err2 == nil && !sel(k, db, typ) {
				err2 = c.Del(ctx, k).Err()
			}
			err = errors.Join(err, err2)
		}
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// loadSelection empties want and copies into it the master's selected keys,
// with DUMP/RESTORE and their absolute expiries.
func loadSelection(ctx context.Context, master, want *redis.Client, sel func(string, int, string) bool) error {
	if err := want.FlushAll(ctx).Err(); err != nil {
		return err
	}
	for db := 0; db < 3; db++ {
		mo, wo := *master.Options(), *want.Options()
		mo.DB, wo.DB = db, db
		mc, wc := redis.NewClient(&mo), redis.NewClient(&wo)
		keys, err := oracle.Keys(ctx, mc)
		for _, k := range keys {
			if err != nil {
				break
			}
			var typ, dump string
			var exp int64
			if typ, err = mc.Type(ctx, k).Result(); err != nil || !sel(k, db, typ) {
				continue
			}
			if dump, err = mc.Dump(ctx, k).Result(); err != nil {
				break
			}
			if exp, err = mc.Do(ctx, "PEXPIRETIME", k).Int64(); err != nil {
				break
			}
			args := []any{"RESTORE", k, max(exp, 0), dump, "REPLACE"}
			if exp > 0 {
				args = append(args, "ABSTTL")
			}
			err = wc.Do(ctx, args...).Err()
		}
		mc.Close()
		wc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// modelWorkload writes to a master through one connection. Key names fix
// the type and the family: "cpu:s" strings, "cpu:n" counters, "cpu:f"
// floats, "cpu:b" bits, "cpu:e" short-lived strings, "cpu:h" hashes,
// "cpu:l" lists, "cpu:t" sets, "cpu:z" sorted sets, "cpu:y" sorted sets of
// equal scores (lexicographic ranges), "cpu:x" streams; "mem:t" sets,
// "mem:z" sorted sets, "mem:p" HyperLogLogs, "mem:b" bitmaps, "mem:g"
// streams with consumer groups, "mem:l" lists, "mem:r" restored keys of any
// type. Commands on several keys stay in one family; MOVE, COPY ... DB and
// SWAPDB only between databases 1 and 2.
type modelWorkload struct {
	rnd   *rand.Rand
	conn  *oracle.Conn
	keys  int
	ops   int
	flush bool
}

func (w *modelWorkload) key(fam string) string { return fam + ":" + strconv.Itoa(w.rnd.IntN(w.keys)) }

func (w *modelWorkload) value() string {
	switch w.rnd.IntN(4) {
	case 0:
		return strconv.Itoa(w.rnd.IntN(1000))
	case 1:
		return string([]byte{0xff, byte(w.rnd.IntN(256)), 0, '\n'})
	default:
		return "v" + strconv.Itoa(w.rnd.IntN(100000))
	}
}

func (w *modelWorkload) ttl() int64 { return 3600 + w.rnd.Int64N(3600) }

func (w *modelWorkload) preload(ctx context.Context, c *redis.Client) error {
	w.conn = oracle.NewConn(c)
	for db := 0; db < 3; db++ {
		if err := w.conn.Use(ctx, db); err != nil {
			return err
		}
		for i := 0; i < 120; i++ {
			if err := w.step(ctx, false); err != nil {
				return err
			}
		}
		// Big keys, several chunks in the snapshot.
		for j := 0; j < 350; j++ {
			v := "e" + strconv.Itoa(j)
			for _, cmd := range [][]any{
				{"RPUSH", "cpu:l:big", v}, {"SADD", "cpu:t:big", v}, {"HSET", "cpu:h:big", v, j},
				{"ZADD", "cpu:z:big", j, v}, {"XADD", "cpu:x:big", "*", "n", j},
			} {
				if err := w.conn.Write(ctx, cmd...); err != nil {
					return err
				}
			}
		}
		if err := w.conn.Write(ctx, "PEXPIRE", "cpu:h:big", w.ttl()*1000); err != nil {
			return err
		}
	}
	return w.conn.Use(ctx, 0)
}

func (w *modelWorkload) run(ctx context.Context, c *redis.Client, n int) error {
	for i := 0; i < n; i++ {
		if err := w.conn.Use(ctx, w.rnd.IntN(3)); err != nil {
			return err
		}
		if err := w.step(ctx, true); err != nil {
			return err
		}
	}
	return nil
}

// step runs one random operation in the current database.
func (w *modelWorkload) step(ctx context.Context, live bool) error {
	w.ops++
	switch w.rnd.IntN(20) {
	case 0, 1:
		return w.stringOp(ctx)
	case 2:
		return w.counterOp(ctx)
	case 3, 4:
		return w.hashOp(ctx)
	case 5, 6:
		return w.listOp(ctx)
	case 7:
		return w.setOp(ctx)
	case 8, 9:
		return w.zsetOp(ctx)
	case 10:
		return w.streamOp(ctx)
	case 11:
		return w.genericOp(ctx)
	case 12:
		if live { // short-lived keys: expire while the tap runs
			return w.conn.Write(ctx, "SET", w.key("cpu:e"), w.value(), "PX", 50+w.rnd.IntN(300))
		}
		return w.conn.Write(ctx, "SET", w.key("cpu:s"), w.value())
	case 13:
		return w.crossDB(ctx)
	case 14:
		return w.multi(ctx)
	case 15:
		return w.script(ctx)
	default:
		return w.memOp(ctx)
	}
}

func (w *modelWorkload) stringOp(ctx context.Context) error {
	k := w.key("cpu:s")
	switch w.rnd.IntN(14) {
	case 0:
		return w.conn.Write(ctx, "SET", k, w.value(), "EX", w.ttl())
	case 1:
		return w.conn.Write(ctx, "SET", k, w.value(), "KEEPTTL")
	case 2:
		return w.conn.Write(ctx, "SET", k, w.value(), "NX", "GET")
	case 3:
		return w.conn.Write(ctx, "SETEX", k, w.ttl(), w.value())
	case 4:
		return w.conn.Write(ctx, "MSET", k, w.value(), w.key("cpu:s"), w.value())
	case 5:
		return w.conn.Write(ctx, "APPEND", k, w.value())
	case 6:
		return w.conn.Write(ctx, "SETRANGE", k, w.rnd.IntN(20), w.value())
	case 7:
		return w.conn.Write(ctx, "GETDEL", k)
	case 8:
		return w.conn.Write(ctx, "GETEX", k, "EX", w.ttl())
	case 9:
		return w.conn.Write(ctx, "GETEX", k, "PERSIST")
	case 10:
		return w.conn.Write(ctx, "GETSET", k, w.value())
	case 11:
		return w.conn.Write(ctx, "SETNX", k, w.value())
	case 12:
		return w.conn.Write(ctx, "MSETNX", k+"n", w.value(), k+"m", w.value())
	default:
		return w.conn.Write(ctx, "SET", k, w.value())
	}
}

func (w *modelWorkload) counterOp(ctx context.Context) error {
	switch w.rnd.IntN(6) {
	case 0:
		return w.conn.Write(ctx, "INCRBYFLOAT", w.key("cpu:f"), "1.25")
	case 1:
		return w.conn.Write(ctx, "DECRBY", w.key("cpu:n"), w.rnd.IntN(100))
	case 2:
		return w.conn.Write(ctx, "INCRBY", w.key("cpu:n"), w.rnd.IntN(100)-50)
	case 3:
		return w.conn.Write(ctx, "SETBIT", w.key("cpu:b"), w.rnd.IntN(300), w.rnd.IntN(2))
	case 4:
		return w.conn.Write(ctx, "DECR", w.key("cpu:n"))
	default:
		return w.conn.Write(ctx, "INCR", w.key("cpu:n"))
	}
}

func (w *modelWorkload) hashOp(ctx context.Context) error {
	k := w.key("cpu:h")
	f := "f" + strconv.Itoa(w.rnd.IntN(8))
	switch w.rnd.IntN(8) {
	case 0:
		return w.conn.Write(ctx, "HDEL", k, f, "f1")
	case 1:
		return w.conn.Write(ctx, "HINCRBY", k, "ctr", w.rnd.IntN(10)-3)
	case 2:
		return w.conn.Write(ctx, "HINCRBYFLOAT", k, "flt", "0.5")
	case 3:
		return w.conn.Write(ctx, "HSETNX", k, f, w.value())
	case 4:
		return w.conn.Write(ctx, "HMSET", k, f, w.value())
	default:
		return w.conn.Write(ctx, "HSET", k, f, w.value(), "g", w.value())
	}
}

func (w *modelWorkload) listOp(ctx context.Context) error {
	k := w.key("cpu:l")
	n, err := w.conn.LLen(ctx, k).Result()
	if err != nil {
		return err
	}
	switch w.rnd.IntN(14) {
	case 0:
		return w.conn.Write(ctx, "LPOP", k, 1+w.rnd.IntN(3))
	case 1:
		return w.conn.Write(ctx, "RPOP", k)
	case 2:
		if n == 0 {
			return nil
		}
		return w.conn.Write(ctx, "LSET", k, w.rnd.Int64N(2*n)-n, w.value())
	case 3:
		return w.conn.Write(ctx, "LTRIM", k, w.rnd.IntN(3), 10+w.rnd.IntN(10)-w.rnd.IntN(30))
	case 4:
		return w.conn.Write(ctx, "LMOVE", k, w.key("cpu:l"), []string{"LEFT", "RIGHT"}[w.rnd.IntN(2)], []string{"LEFT", "RIGHT"}[w.rnd.IntN(2)])
	case 5:
		return w.conn.Write(ctx, "RPOPLPUSH", k, w.key("cpu:l"))
	case 6:
		return w.conn.Write(ctx, "LINSERT", k, []string{"BEFORE", "AFTER"}[w.rnd.IntN(2)], "v1", w.value())
	case 7:
		return w.conn.Write(ctx, "LREM", k, w.rnd.IntN(5)-2, "v1")
	case 8:
		if n == 0 {
			return nil
		}
		return w.conn.Write(ctx, "BLPOP", k, 1)
	case 9:
		return w.conn.Write(ctx, "LMPOP", 2, k, w.key("cpu:l"), "RIGHT", "COUNT", 2)
	case 10:
		return w.conn.Write(ctx, "LPUSHX", k, w.value())
	default:
		args := []any{[]string{"LPUSH", "RPUSH"}[w.rnd.IntN(2)], k}
		for range 1 + w.rnd.IntN(4) {
			args = append(args, []string{"v1", "v2", w.value()}[w.rnd.IntN(3)])
		}
		return w.conn.Write(ctx, args...)
	}
}

func (w *modelWorkload) setOp(ctx context.Context) error {
	k := w.key("cpu:t")
	switch w.rnd.IntN(6) {
	case 0:
		return w.conn.Write(ctx, "SREM", k, w.rnd.IntN(20))
	case 1:
		return w.conn.Write(ctx, "SPOP", k, 1+w.rnd.IntN(3))
	case 2:
		return w.conn.Write(ctx, "SMOVE", k, w.key("cpu:t"), w.rnd.IntN(20))
	default:
		return w.conn.Write(ctx, "SADD", k, w.rnd.IntN(20), w.value())
	}
}

func (w *modelWorkload) zsetOp(ctx context.Context) error {
	k := w.key("cpu:z")
	m := "m" + strconv.Itoa(w.rnd.IntN(12))
	switch w.rnd.IntN(14) {
	case 0:
		return w.conn.Write(ctx, "ZREM", k, m)
	case 1:
		return w.conn.Write(ctx, "ZPOPMIN", k, 1+w.rnd.IntN(2))
	case 2:
		return w.conn.Write(ctx, "ZPOPMAX", k)
	case 3:
		return w.conn.Write(ctx, "ZINCRBY", k, "2.5", m)
	case 4:
		return w.conn.Write(ctx, "ZREMRANGEBYRANK", k, 0, w.rnd.IntN(3)-1)
	case 5:
		return w.conn.Write(ctx, "ZREMRANGEBYSCORE", k, "("+strconv.Itoa(w.rnd.IntN(50)), "+inf")
	case 6:
		return w.conn.Write(ctx, "ZADD", k, []string{"GT", "LT"}[w.rnd.IntN(2)], "CH", w.rnd.IntN(100), m)
	case 7:
		return w.conn.Write(ctx, "ZADD", k, "XX", "INCR", "-1.5", m)
	case 8:
		return w.conn.Write(ctx, "ZADD", k, "NX", w.rnd.IntN(100), m, "-inf", "lo")
	case 9:
		return w.conn.Write(ctx, "ZMPOP", 1, k, "MIN", "COUNT", 2)
	case 10:
		y := w.key("cpu:y")
		if w.rnd.IntN(2) == 0 {
			return w.conn.Write(ctx, "ZREMRANGEBYLEX", y, "["+string(rune('a'+w.rnd.IntN(6))), "(f")
		}
		return w.conn.Write(ctx, "ZADD", y, 0, string(rune('a'+w.rnd.IntN(8))), 0, w.value())
	case 11:
		n, err := w.conn.ZCard(ctx, k).Result()
		if err != nil || n == 0 {
			return err
		}
		return w.conn.Write(ctx, "BZPOPMIN", k, 1)
	default:
		return w.conn.Write(ctx, "ZADD", k, w.rnd.NormFloat64()*100, m, float64(w.rnd.IntN(1000))/8, w.value())
	}
}

func (w *modelWorkload) streamOp(ctx context.Context) error {
	k := w.key("cpu:x")
	switch w.rnd.IntN(6) {
	case 0:
		ids, err := w.conn.XRangeN(ctx, k, "-", "+", 4).Result()
		if err != nil || len(ids) == 0 {
			return err
		}
		return w.conn.Write(ctx, "XDEL", k, ids[w.rnd.IntN(len(ids))].ID, "1-1")
	case 1:
		return w.conn.Write(ctx, "XTRIM", k, "MAXLEN", 8+w.rnd.IntN(5))
	case 2:
		return w.conn.Write(ctx, "XADD", k, "MAXLEN", "~", 20, "*", "a", w.value())
	case 3:
		return w.conn.Write(ctx, "XADD", k, "MAXLEN", 15, "*", "a", w.value())
	default:
		return w.conn.Write(ctx, "XADD", k, "*", "a", w.value(), "b", w.value())
	}
}

// genericOp: deletion, expiry, rename and copy within a family.
func (w *modelWorkload) genericOp(ctx context.Context) error {
	fam := []string{"cpu:s", "cpu:h", "cpu:l", "cpu:t", "cpu:z", "cpu:n"}[w.rnd.IntN(6)]
	k := w.key(fam)
	exists, err := w.conn.Exists(ctx, k).Result()
	if err != nil {
		return err
	}
	switch w.rnd.IntN(9) {
	case 0:
		return w.conn.Write(ctx, "DEL", k, w.key(fam))
	case 1:
		return w.conn.Write(ctx, "UNLINK", k)
	case 2:
		return w.conn.Write(ctx, "EXPIRE", k, w.ttl())
	case 3:
		return w.conn.Write(ctx, "PEXPIREAT", k, time.Now().UnixMilli()+w.ttl()*1000)
	case 4:
		return w.conn.Write(ctx, "PERSIST", k)
	case 5:
		if exists == 0 {
			return nil
		}
		return w.conn.Write(ctx, "RENAME", k, w.key(fam))
	case 6:
		if exists == 0 {
			return nil
		}
		return w.conn.Write(ctx, "RENAMENX", k, w.key(fam))
	case 7:
		to := w.key(fam)
		if to == k {
			return nil
		}
		return w.conn.Write(ctx, "COPY", k, to, "REPLACE")
	default:
		return w.conn.Write(ctx, "EXPIREAT", k, time.Now().Unix()+w.ttl(), "GT")
	}
}

// crossDB moves keys between databases 1 and 2 only.
func (w *modelWorkload) crossDB(ctx context.Context) error {
	if w.conn.DB() == 0 {
		return nil
	}
	other := 3 - w.conn.DB()
	fam := []string{"cpu:s", "cpu:h", "cpu:z", "cpu:l"}[w.rnd.IntN(4)]
	switch r := w.rnd.IntN(20); {
	case r == 0:
		return w.conn.Write(ctx, "SWAPDB", 1, 2)
	case r == 1 && !w.flush:
		w.flush = true
		return w.conn.Write(ctx, "FLUSHDB")
	case r < 10:
		return w.conn.Write(ctx, "MOVE", w.key(fam), other)
	default:
		return w.conn.Write(ctx, "COPY", w.key(fam), w.key(fam), "DB", other, "REPLACE")
	}
}

// multi runs a transaction of a few writes in several families.
func (w *modelWorkload) multi(ctx context.Context) error {
	_, err := w.conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for range 2 + w.rnd.IntN(4) {
			switch w.rnd.IntN(5) {
			case 0:
				p.Incr(ctx, w.key("cpu:n"))
			case 1:
				p.RPush(ctx, w.key("cpu:l"), w.value())
			case 2:
				p.HSet(ctx, w.key("cpu:h"), "f1", w.value())
			case 3:
				p.SUnionStore(ctx, w.key("mem:t"), w.key("mem:t"), w.key("mem:t"))
			default:
				p.Set(ctx, w.key("cpu:s"), w.value(), 0)
			}
		}
		return nil
	})
	return err
}

const modelScript = `redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HINCRBYFLOAT', KEYS[3], 'f', 1.5)
redis.call('SUNIONSTORE', KEYS[4], KEYS[4], KEYS[5])
return 1`

// script runs a script; a Redis 7 master propagates its effects in
// MULTI/EXEC.
func (w *modelWorkload) script(ctx context.Context) error {
	return w.conn.Write(ctx, "EVAL", modelScript, 5, w.key("cpu:n"), w.key("cpu:l"), w.key("cpu:h"),
		w.key("mem:t"), w.key("mem:t"), w.value())
}

// memOp works on the replayed families: commands without a typed view.
func (w *modelWorkload) memOp(ctx context.Context) error {
	switch w.rnd.IntN(13) {
	case 0:
		return w.conn.Write(ctx, "SADD", w.key("mem:t"), w.rnd.IntN(30), w.value())
	case 1:
		return w.conn.Write(ctx, []string{"SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"}[w.rnd.IntN(3)], w.key("mem:t"), w.key("mem:t"), w.key("mem:t"))
	case 2:
		return w.conn.Write(ctx, "ZUNIONSTORE", w.key("mem:z"), 2, w.key("mem:z"), w.key("mem:z"), "WEIGHTS", 1, 2)
	case 3:
		return w.conn.Write(ctx, "GEOADD", w.key("mem:z"), 13.361389+w.rnd.Float64(), 38.115556, w.value())
	case 4:
		return w.conn.Write(ctx, "ZRANGESTORE", w.key("mem:z"), w.key("mem:z"), 0, 3)
	case 5:
		return w.conn.Write(ctx, "PFADD", w.key("mem:p"), w.value(), w.value())
	case 6:
		return w.conn.Write(ctx, "PFMERGE", w.key("mem:p"), w.key("mem:p"))
	case 7:
		return w.conn.Write(ctx, "BITOP", []string{"OR", "AND", "XOR"}[w.rnd.IntN(3)], w.key("mem:b"), w.key("mem:b"), w.key("mem:b"))
	case 8:
		return w.conn.Write(ctx, "BITFIELD", w.key("mem:b"), "INCRBY", "u8", 8*w.rnd.IntN(8), 3)
	case 9:
		return w.groupOp(ctx)
	case 10:
		src := w.key([]string{"mem:t", "mem:z", "cpu:h"}[w.rnd.IntN(3)])
		dump, err := w.conn.Dump(ctx, src).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		return w.conn.Write(ctx, "RESTORE", w.key("mem:r"), 0, dump, "REPLACE")
	case 11:
		if w.rnd.IntN(2) == 0 {
			return w.conn.Write(ctx, "RPUSH", w.key("mem:l"), w.value(), w.value())
		}
		return w.conn.Write(ctx, "SORT", w.key("mem:l"), "ALPHA", "STORE", w.key("mem:l"))
	default:
		return w.conn.Write(ctx, "ZADD", w.key("mem:z"), w.rnd.IntN(50), w.value())
	}
}

func (w *modelWorkload) groupOp(ctx context.Context) error {
	k := w.key("mem:g")
	n, err := w.conn.Exists(ctx, k).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		if err := w.conn.Write(ctx, "XADD", k, "*", "init", 1); err != nil {
			return err
		}
		return w.conn.Write(ctx, "XGROUP", "CREATE", k, "g", "0")
	}
	c := "c" + strconv.Itoa(w.rnd.IntN(3))
	switch w.rnd.IntN(6) {
	case 0:
		return w.conn.Write(ctx, "XREADGROUP", "GROUP", "g", c, "COUNT", 2, "STREAMS", k, ">")
	case 1:
		id, err := w.conn.FirstPending(ctx, k, "g")
		if err != nil || id == "" {
			return err
		}
		return w.conn.Write(ctx, "XACK", k, "g", id)
	case 2:
		id, err := w.conn.FirstPending(ctx, k, "g")
		if err != nil || id == "" {
			return err
		}
		return w.conn.Write(ctx, "XCLAIM", k, "g", c, 0, id)
	case 3:
		return w.conn.Write(ctx, "XAUTOCLAIM", k, "g", c, 0, "0-0", "COUNT", 2)
	default:
		return w.conn.Write(ctx, "XADD", k, "*", "x", w.value())
	}
}

// settle waits until no short-lived key is left on the master (SCAN and
// EXISTS expire them lazily; the master propagates DEL).
func (w *modelWorkload) settle(ctx context.Context, c *redis.Client) error {
	for attempt := 0; attempt < 300; attempt++ {
		left, err := w.conn.Alive(ctx, 3, "cpu:e:*")
		if err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("short-lived keys still alive")
}
