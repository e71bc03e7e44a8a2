package monitor

import (
	"context"
	"errors"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// refEvent is what the test's own filter looks at.
type refEvent struct {
	kind      Kind
	op        Op
	typ       rdb.Type
	db, other int
	key, cmd  string
	desc      string
}

type refBatch struct {
	g      got
	events []refEvent
}

func collectRef(t *testing.T, ctx context.Context, s *Subscriber) []refBatch {
	var out []refBatch
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		g := describeBatch(b)
		rb := refBatch{g: g}
		for i, e := range b.Events {
			r := refEvent{kind: e.Kind, op: e.Op, typ: e.Type, db: e.DB, other: e.OtherDB, key: string(e.Key), desc: g.events[i]}
			if len(e.Args) > 0 {
				r.cmd = strings.ToLower(string(e.Args[0]))
			}
			rb.events = append(rb.events, r)
		}
		out = append(out, rb)
	}
}

// want filters the reference stream with the filter semantics written out
// independently of the monitor's code.
func want(ref []refBatch, f Filter) []got {
	in := func(db int) bool { return len(f.DBs) == 0 || slices.Contains(f.DBs, db) }
	pass := func(e refEvent) bool {
		match := len(f.Match) == 0
		for _, p := range f.Match {
			if ok, _ := path.Match(p, e.key); ok {
				match = true
			}
		}
		typeOK := len(f.Types) == 0 || e.typ == 0 || slices.Contains(f.Types, e.typ)
		switch e.kind {
		case KindReset, KindSnapshotDone:
			return true
		case KindDBChange:
			return e.op == OpFlushAll || in(e.db) || e.op == OpSwapDB && in(e.other)
		case KindSnapshotKey:
			return match && in(e.db) && typeOK
		}
		cmdOK := len(f.Commands) == 0
		for _, c := range f.Commands {
			cmdOK = cmdOK || strings.EqualFold(c, e.cmd)
		}
		return match && in(e.db) && typeOK && cmdOK
	}
	var out []got
	for _, rb := range ref {
		g := got{offset: rb.g.offset, tx: rb.g.tx, pos: rb.g.pos}
		for _, e := range rb.events {
			if pass(e) {
				g.events = append(g.events, e.desc)
			}
		}
		if len(g.events) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// Subscribers with overlapping filters, reading concurrently with small
// Block queues, each receive exactly the reference stream filtered by
// their filter, in order.
func TestFanOutFilters(t *testing.T) {
	ctx := testCtx(t)
	src := &memSource{events: workload(600)}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	filters := []Filter{
		{Match: []string{"a:*"}},
		{Match: []string{"a:1*", "b:*"}},
		{DBs: []int{1}},
		{DBs: []int{2}, Match: []string{"c:*"}},
		{Types: []rdb.Type{rdb.TypeHash}},
		{Types: []rdb.Type{rdb.TypeSet, rdb.TypeList}},
		{Commands: []string{"set", "DEL"}},
		{Match: []string{"nothing:*"}},
	}
	ref, err := m.Subscribe(Filter{}, QueueLen(3))
	require.NoError(t, err)
	subs := make([]*Subscriber, len(filters))
	for i, f := range filters {
		subs[i], err = m.Subscribe(f, QueueLen(1+i%3))
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	gots := make([][]got, len(subs))
	errs := make([]error, len(subs))
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gots[i], errs[i] = collect(t, ctx, s)
		}()
	}
	refs := collectRef(t, ctx, ref)
	wg.Wait()
	require.Equal(t, len(src.events), src.Reads(), "the source is read once")
	require.NotEmpty(t, refs)
	for i, f := range filters {
		require.NoError(t, errs[i])
		w := want(refs, f)
		require.Equal(t, len(w), len(gots[i]), "filter %+v", f)
		for j := range w {
			require.Equal(t, w[j].String(), gots[i][j].String(), "filter %+v, batch %d", f, j)
		}
		st := subs[i].Stats()
		require.Equal(t, int64(len(w)), st.Delivered)
		require.Zero(t, st.Dropped)
	}
	st := m.Stats()
	require.Equal(t, int64(1), st.Resyncs)
	require.Equal(t, int64(46), st.Disconnects)
	require.Equal(t, int64(len(refs)), st.Batches)
	// The reference saw everything: snapshot keys (not the aux field),
	// commands in order, transactions whole.
	require.Equal(t, "reset", refs[0].events[0].desc)
	require.Equal(t, 12, countKind(refs, KindSnapshotKey))
	for i := 1; i < len(refs); i++ {
		require.GreaterOrEqual(t, refs[i].g.offset, refs[i-1].g.offset)
	}
}

func countKind(ref []refBatch, k Kind) int {
	n := 0
	for _, b := range ref {
		for _, e := range b.events {
			if e.kind == k {
				n++
			}
		}
	}
	return n
}

// A subscriber that never calls Next, under Drop or Reset, does not stop
// the others from receiving everything, and gets its policy.
func TestSlowDropAndReset(t *testing.T) {
	for _, policy := range []SlowPolicy{Drop, Reset} {
		t.Run(policy.String(), func(t *testing.T) {
			ctx := testCtx(t)
			src := &memSource{events: workload(300)}
			m, err := New(src)
			require.NoError(t, err)
			defer m.Close()
			stalled, err := m.Subscribe(Filter{}, QueueLen(4), OnSlow(policy))
			require.NoError(t, err)
			fast, err := m.Subscribe(Filter{}, QueueLen(2)) // Block: it reads
			require.NoError(t, err)
			batches, err := collect(t, ctx, fast)
			require.NoError(t, err)
			require.Equal(t, len(src.events), src.Reads())
			require.Equal(t, m.Stats().Batches, int64(len(batches)), "the fast one got every batch")

			st := stalled.Stats()
			require.Positive(t, st.Dropped)
			switch policy {
			case Drop:
				_, err := stalled.Next(ctx)
				require.ErrorIs(t, err, ErrSlowSubscriber)
				require.Zero(t, st.Queued)
				require.Equal(t, 1, m.Stats().Subscribers)
			case Reset:
				require.Positive(t, st.Resets)
				require.LessOrEqual(t, st.Queued, 5)
				b, err := stalled.Next(ctx)
				require.NoError(t, err)
				require.Equal(t, KindReset, b.Events[0].Kind)
				require.ErrorIs(t, b.Events[0].Err, ErrSlowSubscriber)
				// What follows the Reset is the tail of the stream, in order.
				rest, err := collect(t, ctx, stalled)
				require.NoError(t, err)
				require.Equal(t, batches[len(batches)-len(rest):], rest)
				require.Equal(t, st.Delivered+int64(len(rest))+1, stalled.Stats().Delivered)
			}
		})
	}
}

// Under Block, a stalled subscriber stops everyone: the source is read at
// most one batch past its queue, until it takes one.
func TestSlowBlock(t *testing.T) {
	ctx := testCtx(t)
	var evs []replica.Event
	for i := 1; i <= 50; i++ {
		evs = append(evs, command(0, int64(i*10), "SET", "k", "v"))
	}
	src := &memSource{events: evs}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	const n = 5
	stalled, err := m.Subscribe(Filter{}, QueueLen(n))
	require.NoError(t, err)
	fast, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		_, err := fast.Next(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, n, src.Reads())
	// The next batch does not fit the stalled queue: the fast one waits,
	// the source read one past the bound and no further.
	waitHeld := func(reads int) {
		t.Helper()
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := fast.Next(wctx)
			done <- err
		}()
		require.Eventually(t, func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.dist.pend != nil && stalled.wait.waitedOn
		}, time.Minute, time.Millisecond)
		require.Equal(t, reads, src.Reads())
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		require.Equal(t, reads, src.Reads())
	}
	waitHeld(n + 1)
	require.Equal(t, n, stalled.Stats().Queued)
	// The stalled one takes a batch: exactly one more gets through.
	b, err := stalled.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(10), b.Offset)
	b, err = fast.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, int64((n+1)*10), b.Offset)
	require.Equal(t, n+1, src.Reads())
	waitHeld(n + 2)
	// Closing the stalled one releases everyone.
	require.NoError(t, stalled.Close())
	rest, err := collect(t, ctx, fast)
	require.NoError(t, err)
	require.Len(t, rest, 50-n-1)
	require.Equal(t, int64(500), rest[len(rest)-1].offset)
	_, err = stalled.Next(ctx)
	require.ErrorIs(t, err, ErrClosed)
}

// A subscriber that subscribes first sees a held-up pump return its own
// batch instead of waiting with it.
func TestSlowBlockPumpReturnsOwn(t *testing.T) {
	ctx := testCtx(t)
	var evs []replica.Event
	for i := 1; i <= 10; i++ {
		evs = append(evs, command(0, int64(i), "SET", "k", "v"))
	}
	src := &memSource{events: evs}
	m, err := New(src)
	require.NoError(t, err)
	fast, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	_, err = m.Subscribe(Filter{}, QueueLen(1)) // stalled, after fast
	require.NoError(t, err)
	b, err := fast.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), b.Offset)
	b, err = fast.Next(ctx) // batch 2 is queued for fast, then the stalled one is full
	require.NoError(t, err)
	require.Equal(t, int64(2), b.Offset)
	require.Equal(t, 2, src.Reads())
	require.NoError(t, m.Close())
	_, err = fast.Next(ctx)
	require.ErrorIs(t, err, ErrClosed)
}

// AddMatch while another subscriber pumps: events for the new pattern
// arrive exactly for the batches after the offset it returns; RemoveMatch
// likewise stops them.
func TestAddRemoveMatch(t *testing.T) {
	ctx := testCtx(t)
	var evs []replica.Event
	for i := 1; i <= 3000; i++ {
		f := []string{"a", "b"}[i%2]
		evs = append(evs, command(0, int64(i), "SET", f+":"+string(rune('0'+i%10)), "v"))
	}
	src := &memSource{events: evs}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	all, err := m.Subscribe(Filter{}, QueueLen(8))
	require.NoError(t, err)
	sub, err := m.Subscribe(Filter{Match: []string{"a:*"}}, QueueLen(8))
	require.NoError(t, err)

	var wg sync.WaitGroup
	var seen []got
	var serr error
	progress := make(chan int64, 4096)
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(progress)
		for {
			b, err := all.Next(ctx)
			if err != nil {
				if err != io.EOF {
					serr = err
				}
				return
			}
			progress <- b.Offset
		}
	}()
	go func() {
		defer wg.Done()
		seen, _ = collect(t, ctx, sub)
	}()
	var from1, from2 int64
	for off := range progress {
		switch {
		case off >= 1000 && from1 == 0:
			from1, err = sub.AddMatch("b:*")
			require.NoError(t, err)
		case off >= 2000 && from2 == 0:
			from2, err = sub.RemoveMatch("a:*")
			require.NoError(t, err)
		}
	}
	wg.Wait()
	require.NoError(t, serr)
	require.Positive(t, from1)
	require.Greater(t, from2, from1)
	// Exactly: an a: key up to from2, a b: key after from1.
	var want []int64
	for i := 1; i <= 3000; i++ {
		off := int64(i)
		if i%2 == 0 && off <= from2 || i%2 == 1 && off > from1 {
			want = append(want, off)
		}
	}
	var offs []int64
	for _, g := range seen {
		offs = append(offs, g.offset)
	}
	require.Equal(t, want, offs)
	_, err = sub.RemoveMatch("b:*")
	require.ErrorIs(t, err, ErrLastPattern)
	require.Equal(t, []string{"b:*"}, sub.Filter().Match)
}

func TestFilterErrors(t *testing.T) {
	m, err := New(&memSource{})
	require.NoError(t, err)
	for _, f := range []Filter{{DBs: []int{-1}}, {Types: []rdb.Type{0}}, {Types: []rdb.Type{99}}, {Commands: []string{""}}} {
		_, err := m.Subscribe(f)
		require.ErrorIs(t, err, errFilter, "%+v", f)
	}
	for _, o := range []SubscribeOption{QueueLen(0), QueueBytes(0), OnSlow(9), nil} {
		_, err := m.Subscribe(Filter{}, o)
		require.Error(t, err)
	}
	_, err = New(nil)
	require.Error(t, err)
	_, err = New(&memSource{}, Logger(nil))
	require.Error(t, err)
	s, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	_, err = s.SetFilter(Filter{DBs: []int{-2}})
	require.ErrorIs(t, err, errFilter)
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	_, err = m.Subscribe(Filter{})
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.SetFilter(Filter{})
	require.ErrorIs(t, err, ErrClosed)
}

// The monitor commits to a Committer source the lowest position of its
// live subscribers, once each one has committed; a subscriber with nothing
// pending counts at the last batch offered to it.
func TestCommit(t *testing.T) {
	ctx := testCtx(t)
	var evs []replica.Event
	for i := 1; i <= 10; i++ {
		evs = append(evs, command(0, int64(i*10), "SET", []string{"a", "b"}[i%2]+":k", "v"))
	}
	src := &committingSource{memSource{events: evs, block: true}}
	m, err := New(src)
	require.NoError(t, err)
	a, err := m.Subscribe(Filter{Match: []string{"a:*"}})
	require.NoError(t, err)
	b, err := m.Subscribe(Filter{Match: []string{"b:*"}})
	require.NoError(t, err)

	ba, err := a.Next(ctx) // offset 20 (b:k at 10 went to b)
	require.NoError(t, err)
	require.Equal(t, int64(20), ba.Offset)
	a.Commit(ba.Pos)
	require.Empty(t, src.Commits(), "b has not committed what it holds")
	bb, err := b.Next(ctx) // offset 10, queued earlier
	require.NoError(t, err)
	require.Equal(t, int64(10), bb.Offset)
	b.Commit(bb.Pos)
	// b has nothing pending: it counts at the last batch offered, 20.
	require.Equal(t, []int64{20}, offsets(src.Commits()))
	for range 3 {
		ba, err = a.Next(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, int64(80), ba.Offset)
	a.Commit(ba.Pos)
	// b holds 30, 50 and 70 in its queue, committed up to 10.
	require.Equal(t, []int64{20}, offsets(src.Commits()))
	require.Equal(t, int64(10), b.Committed().Offset)
	require.NoError(t, b.Close())
	require.Equal(t, []int64{20, 80}, offsets(src.Commits()))
	require.Equal(t, replica.Position{ReplID: testReplID, Offset: 80}, src.Commits()[1])
	a.Commit(replica.Position{Offset: 5}) // older: ignored
	require.Equal(t, int64(80), a.Committed().Offset)
	require.Equal(t, int64(80), m.Position().Offset)
	require.NoError(t, m.Close())
}

func offsets(ps []replica.Position) []int64 {
	var out []int64
	for _, p := range ps {
		out = append(out, p.Offset)
	}
	return out
}

// Close interrupts a Next reading a source that waits, and a Next waiting
// for the pump; both return ErrClosed.
func TestCloseUnblocks(t *testing.T) {
	ctx := testCtx(t)
	src := &memSource{block: true}
	m, err := New(src)
	require.NoError(t, err)
	s1, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	s2, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	errs := make(chan error, 2)
	for _, s := range []*Subscriber{s1, s2} {
		go func() {
			_, err := s.Next(ctx)
			errs <- err
		}()
	}
	// Wait until one reads the source and the other waits (no timing:
	// poll the state).
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.pump.held && len(m.pump.wait) == 1
	}, time.Minute, time.Millisecond)
	require.NoError(t, s2.Close()) // one of them; the other goes on
	require.NoError(t, m.Close())
	require.ErrorIs(t, <-errs, ErrClosed)
	require.ErrorIs(t, <-errs, ErrClosed)
	require.NoError(t, s1.Close())
}

// A subscriber's own Close unblocks its Next in the source.
func TestSubscriberCloseUnblocks(t *testing.T) {
	ctx := testCtx(t)
	m, err := New(&memSource{block: true})
	require.NoError(t, err)
	defer m.Close()
	s, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	done := make(chan error)
	go func() {
		_, err := s.Next(ctx)
		done <- err
	}()
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.pump.held
	}, time.Minute, time.Millisecond)
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	require.NoError(t, s.Close())
}

// The source's error ends every subscriber once its queue is empty.
func TestSourceError(t *testing.T) {
	ctx := testCtx(t)
	boom := errors.New("boom")
	src := &errSource{events: []replica.Event{command(0, 1, "SET", "a", "1"), command(0, 2, "SET", "b", "1")}, err: boom}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	a, _ := m.Subscribe(Filter{})
	b, _ := m.Subscribe(Filter{Match: []string{"b"}})
	got, err := collect(t, ctx, a)
	require.ErrorIs(t, err, boom)
	require.Len(t, got, 2)
	got, err = collect(t, ctx, b)
	require.ErrorIs(t, err, boom)
	require.Len(t, got, 1)
}

type errSource struct {
	events []replica.Event
	err    error
}

func (s *errSource) Next(context.Context) (replica.Event, error) {
	if len(s.events) == 0 {
		return nil, s.err
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

// FromDecoder turns a snapshot file into Reset, one SnapshotKey per key
// (filtered like commands' keys) and SnapshotDone, then io.EOF.
func TestFromDecoder(t *testing.T) {
	ctx := testCtx(t)
	snap := fakemaster.NewRDB(10).Aux("redis-ver", "7.0.15").Select(0).Set("a:1", "x").
		List("b:1", "p", "q").Select(2).SetExpire("a:2", "y", 4102444800000).Bytes()
	dec, err := rdb.NewDecoder(strings.NewReader(string(snap)))
	require.NoError(t, err)
	m, err := New(FromDecoder(dec))
	require.NoError(t, err)
	defer m.Close()
	all, _ := m.Subscribe(Filter{})
	as, _ := m.Subscribe(Filter{Match: []string{"a:*"}, DBs: []int{2}})
	lists, _ := m.Subscribe(Filter{Types: []rdb.Type{rdb.TypeList}})
	g, err := collect(t, ctx, all)
	require.NoError(t, err)
	var d []string
	for _, b := range g {
		d = append(d, b.events...)
	}
	require.Equal(t, []string{
		"reset",
		`snapshot-key a:1@0 a:1@0:string:"x"[]`,
		`snapshot-key b:1@0 b:1@0:list:""["p" "q"]`,
		`snapshot-key a:2@0 db=2 a:2@2:string:"y"[]`,
		"snapshot-done",
	}, d)
	g, err = collect(t, ctx, as)
	require.NoError(t, err)
	require.Len(t, g, 3)
	require.Contains(t, g[1].events[0], "a:2@2")
	g, err = collect(t, ctx, lists)
	require.NoError(t, err)
	require.Len(t, g, 3)
	require.Contains(t, g[1].events[0], "b:1@0")
}

// Stats: lag and offsets.
func TestStats(t *testing.T) {
	ctx := testCtx(t)
	var evs []replica.Event
	for i := 1; i <= 5; i++ {
		evs = append(evs, command(0, int64(i*100), "SET", "k", "v"))
	}
	m, err := New(&memSource{events: evs, block: true})
	require.NoError(t, err)
	defer m.Close()
	slow, _ := m.Subscribe(Filter{})
	fast, _ := m.Subscribe(Filter{})
	for range 5 {
		_, err := fast.Next(ctx)
		require.NoError(t, err)
	}
	st := slow.Stats()
	require.Equal(t, 5, st.Queued)
	require.Equal(t, int64(500), st.Lag)
	b, err := slow.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(100), b.Offset)
	st = slow.Stats()
	require.Equal(t, int64(100), st.Offset)
	require.Equal(t, int64(400), st.Lag)
	require.Equal(t, int64(1), st.Delivered)
	require.Positive(t, st.QueuedBytes)
	fst := fast.Stats()
	require.Equal(t, int64(500), fst.Offset)
	require.Zero(t, fst.Lag)
	mst := m.Stats()
	require.Equal(t, int64(500), mst.Offset)
	require.Equal(t, int64(5), mst.Batches)
	require.Equal(t, 2, mst.Subscribers)
}

// The batches of the Reset policy's queue drop, of Close and of the
// normal flow all return their blocks: a long run recycles memory.
func TestBlocksRecycled(t *testing.T) {
	ctx := testCtx(t)
	evs := workload(5000)
	src := &memSource{events: evs}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	a, _ := m.Subscribe(Filter{})
	_, _ = m.Subscribe(Filter{}, QueueLen(3), OnSlow(Reset))
	_, err = collect(t, ctx, a)
	require.NoError(t, err)
	m.mu.Lock()
	defer m.mu.Unlock()
	require.NotEmpty(t, m.build.ar.free, "blocks come back")
}

// gateSource delivers the events sent on its channel, waiting for them.
type gateSource struct{ ch chan replica.Event }

func (s *gateSource) Next(ctx context.Context) (replica.Event, error) {
	select {
	case ev := <-s.ch:
		return ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// The pump passes from a subscriber that gives up to one still waiting,
// skipping one that closed meanwhile.
func TestPumpHandOff(t *testing.T) {
	ctx := testCtx(t)
	src := &gateSource{ch: make(chan replica.Event, 1)}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	a, _ := m.Subscribe(Filter{})
	b, _ := m.Subscribe(Filter{})
	c, _ := m.Subscribe(Filter{})
	actx, cancelA := context.WithCancel(ctx)
	aerr := make(chan error, 1)
	go func() {
		_, err := a.Next(actx)
		aerr <- err
	}()
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.pump.held
	}, time.Minute, time.Millisecond)
	berr, cgot := make(chan error, 1), make(chan *Batch, 1)
	go func() {
		_, err := b.Next(ctx)
		berr <- err
	}()
	go func() {
		bt, err := c.Next(ctx)
		if err == nil {
			cgot <- bt
		}
	}()
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.pump.wait) == 2
	}, time.Minute, time.Millisecond)
	require.NoError(t, b.Close())
	require.ErrorIs(t, <-berr, ErrClosed)
	cancelA()
	require.ErrorIs(t, <-aerr, context.Canceled)
	src.ch <- command(0, 7, "SET", "k", "v")
	bt := <-cgot
	require.Equal(t, int64(7), bt.Offset)
	// a, back, gets the batch queued for it meanwhile.
	bt, err = a.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(7), bt.Offset)
}
