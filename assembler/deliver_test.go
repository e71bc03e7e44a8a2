package assembler

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWaitForSnapshot(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}})
	r.a.Tick()
	require.Empty(t, r.sink.msgs, "nothing before the snapshot")
	r.f.snapshot(zsetEntry("k", "a", 1))
	msgs := r.sink.take()
	require.Len(t, msgs, 1)
	require.Equal(t, "updates", msgs[0].Event)
	require.Equal(t, `{"offset":100,"windows":[{"db":0,"key":"k","type":"zset","entries":[{"id":"a","score":1,"value":"a"}]}]}`, string(msgs[0].Data))
	require.Equal(t, int64(100), msgs[0].ID)
}

func TestCoalescing(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*", Limit: 2}}, Interval: time.Second})
	r.f.snapshot(zsetEntry("k", "a", 1))
	r.sync()
	r.c.Add(time.Second)
	r.f.cmd("ZADD", "k", "2", "b")
	r.a.Tick() // the first change after a quiet interval goes at once
	r.sync()
	require.Equal(t, []string{"a", "b"}, r.v.values("k"))

	// Several batches within the interval: one message, merged.
	r.f.cmd("ZADD", "k", "3", "c")          // evicts a from the window
	r.f.cmd("ZADD", "k", "0", "z")          // never in the window
	r.f.cmd("ZADD", "k", "4", "d")          // evicts b
	r.f.cmd("ZADD", "k", "5", "x")          // added then ...
	r.f.cmd("ZREM", "k", "x")               // ... removed: in neither list
	r.f.cmd("ZADD", "k", "INCR", "10", "d") // changed twice: set once
	r.f.cmd("SET", "s", "1")
	r.f.cmd("DEL", "s") // created and deleted: no delta
	r.c.Add(500 * time.Millisecond)
	r.a.Tick()
	require.Empty(t, r.sink.msgs, "interval not elapsed")
	r.c.Add(490 * time.Millisecond)
	r.a.Tick()
	msgs := r.sink.take()
	require.Len(t, msgs, 1, "a tick a little early (a timer's jitter) delivers")
	require.Equal(t, `{"offset":190,"deltas":[{"db":0,"key":"k","type":"zset","clear":false,"del":["a","b"],"set":[{"id":"c","score":3,"value":"c"},{"id":"d","score":14,"value":"d"}]}]}`, string(msgs[0].Data))
	r.v.applyAll(t, msgs)
	require.Equal(t, []string{"c", "d"}, r.v.values("k"))

	// Deleted and created again: clear with the new entries.
	r.f.cmd("DEL", "k")
	r.f.cmd("ZADD", "k", "1", "q")
	r.tick()
	require.Equal(t, []string{"q"}, r.v.values("k"))
	r.f.cmd("DEL", "k")
	r.c.Add(time.Second)
	r.a.Tick()
	msgs = r.sink.take()
	require.Equal(t, `{"offset":220,"deltas":[{"db":0,"key":"k","type":"zset","clear":true,"del":[],"set":[]}]}`, string(msgs[0].Data))
}

func TestAtOnce(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce})
	r.f.snapshot()
	r.sink.take()
	r.f.cmd("SET", "a", "1")
	r.f.cmd("SET", "a", "2")
	msgs := r.sink.take()
	require.Len(t, msgs, 2)
	require.Equal(t, int64(110), msgs[0].ID)
	require.Equal(t, int64(120), msgs[1].ID)
}

// Staged batches leave in one message, with the last one's offset, when
// Deliver (or Apply, or Tick) comes.
func TestStageDeliver(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce})
	r.f.snapshot()
	r.sink.take()
	r.f.stage = true
	r.f.cmd("ZADD", "k", "1", "a")
	r.f.cmd("ZADD", "k", "2", "b")
	r.f.cmd("SET", "s", "x")
	require.Empty(t, r.sink.take(), "staged, not delivered")
	r.a.Deliver()
	msgs := r.sink.take()
	require.Len(t, msgs, 1)
	require.Equal(t, int64(130), msgs[0].ID)
	r.v.applyAll(t, msgs)
	require.Equal(t, []string{"a", "b"}, r.v.values("k"))
	require.Equal(t, "0/k 0/s", r.v.keys())
	r.a.Deliver()
	require.Empty(t, r.sink.take(), "nothing staged since")

	// Tick delivers what was staged too (a caller that forgot Deliver).
	r.f.cmd("SET", "s", "y")
	r.a.Tick()
	require.Len(t, r.sink.take(), 1)
	// And Apply delivers it with its own batch.
	r.f.cmd("SET", "s", "z")
	r.f.stage = false
	r.f.cmd("SET", "t", "1")
	msgs = r.sink.take()
	require.Len(t, msgs, 1)
	require.Equal(t, int64(160), msgs[0].ID)

	// With an interval, Deliver waits for Tick.
	r2 := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: time.Second})
	r2.f.snapshot()
	r2.sink.take()
	r2.f.stage = true
	r2.f.cmd("SET", "a", "1")
	r2.a.Deliver()
	require.Empty(t, r2.sink.take())
	r2.c.Add(time.Second)
	r2.a.Tick()
	require.Len(t, r2.sink.take(), 1)
}

func TestTransactionIsOneBatch(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce})
	r.f.snapshot()
	r.sync()
	r.f.tx(c("ZADD", "k", "1", "a"), c("ZADD", "k", "2", "b"), c("SADD", "s", "x"))
	msgs := r.sink.take()
	require.Len(t, msgs, 1)
	r.v.applyAll(t, msgs)
	require.Equal(t, []string{"a", "b"}, r.v.values("k"))
}

func TestResetGivesFreshUpdates(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce})
	s2 := &recSink{}
	_, err := r.a.Subscribe(s2, []string{"b*"}, -1)
	require.NoError(t, err)
	r.f.snapshot(zsetEntry("a", "x", 1), zsetEntry("b", "y", 1))
	r.sync()
	require.Equal(t, "0/a 0/b", r.v.keys())
	r.f.cmd("ZADD", "a", "2", "z")
	r.sync()
	// A full resynchronisation: the new snapshot replaces everything.
	r.f.snapshot(zsetEntry("c", "w", 1))
	msgs := r.sink.take()
	require.Len(t, msgs, 1)
	require.Equal(t, "updates", msgs[0].Event)
	r.v.applyAll(t, msgs)
	require.Equal(t, "0/c", r.v.keys())
	m2 := s2.take()
	require.Equal(t, "updates", m2[len(m2)-1].Event)
	require.Equal(t, `{"offset":210,"windows":[]}`, string(m2[len(m2)-1].Data))
}

func TestSlowResetMarksStale(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce})
	r.f.snapshot(zsetEntry("a", "x", 1))
	r.sync()
	r.f.batch(nil, false)
	r.a.Apply(slowReset())
	r.f.cmd("SADD", "new", "m")
	r.sync()
	require.Equal(t, "0/a(stale) 0/new(stale)", r.v.keys())
	r.f.cmd("DEL", "a")
	r.f.cmd("SET", "new", "v")
	r.sync()
	require.Equal(t, "0/new", r.v.keys())
}

func TestSlowSubscriber(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce, MaxPending: 3})
	r.f.snapshot()
	r.sync()
	r.sink.full = true
	r.f.cmd("SET", "a", "1")
	r.f.cmd("SET", "a", "2")
	r.a.Tick()
	require.Len(t, r.sub.queue, 2, "kept for a retry")
	r.sink.full = false
	r.a.Tick()
	r.sync()
	require.Equal(t, []string{"=2"}, r.v.values("a"))

	// Past MaxPending: behind, the queue is dropped, and however long it
	// stays full nothing grows.
	r.sink.full = true
	for i := range 100 {
		r.f.cmd("SET", "a", strconv.Itoa(i))
		r.a.Tick()
		require.LessOrEqual(t, len(r.sub.queue), 3)
	}
	require.True(t, r.sub.behind)
	r.sink.full = false
	r.f.cmd("SET", "b", "x") // not delivered: it is behind
	require.Empty(t, r.sink.msgs)
	r.a.Tick()
	msgs := r.sink.take()
	require.Len(t, msgs, 1)
	require.Equal(t, "updates", msgs[0].Event)
	r.v.applyAll(t, msgs)
	require.Equal(t, []string{"=99"}, r.v.values("a"))
	r.f.cmd("SET", "b", "y")
	r.sync()
	require.Equal(t, []string{"=y"}, r.v.values("b"))
	st := r.a.Stats()
	require.Equal(t, uint64(1), st.FreshUpdates)
	require.NotZero(t, st.Refused)
}

func TestResume(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce, History: 3}, "k*")
	r.f.snapshot()
	r.sync()
	r.f.cmd("SET", "k1", "a")
	r.sync()
	last := r.v.lastID
	r.sub.Unsubscribe()
	r.f.cmd("SET", "k2", "b")
	r.f.cmd("SET", "other", "x")
	r.f.cmd("SET", "k1", "c")

	// Covered: only the deltas after it.
	s2 := &recSink{}
	_, err := r.a.Subscribe(s2, []string{"k*"}, last)
	require.NoError(t, err)
	require.Len(t, s2.msgs, 2)
	for _, m := range s2.msgs {
		require.Equal(t, "dUpdates", m.Event)
		require.Greater(t, m.ID, last)
	}
	r.v.applyAll(t, s2.msgs)
	require.Equal(t, "0/k1 0/k2", r.v.keys())
	require.Equal(t, []string{"=c"}, r.v.values("k1"))

	// Not covered any more: a fresh updates.
	for i := range 5 {
		r.f.cmd("SET", "k3", strconv.Itoa(i))
	}
	s3 := &recSink{}
	_, err = r.a.Subscribe(s3, []string{"k*"}, last)
	require.NoError(t, err)
	require.Len(t, s3.msgs, 1)
	require.Equal(t, "updates", s3.msgs[0].Event)
	// An ID from before a resynchronisation is not covered either.
	r.f.snapshot()
	s4 := &recSink{}
	_, err = r.a.Subscribe(s4, []string{"k*"}, s2.msgs[1].ID)
	require.NoError(t, err)
	require.Equal(t, "updates", s4.msgs[0].Event)
}

func TestSetPatterns(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce}, "a*")
	r.f.snapshot()
	r.f.cmd("SET", "a1", "x")
	r.f.cmd("SET", "b1", "y")
	r.sync()
	require.Equal(t, "0/a1", r.v.keys())
	require.NoError(t, r.sub.SetPatterns([]string{"b*", "a*"}))
	r.sync()
	require.Equal(t, "0/a1 0/b1", r.v.keys())
	require.Equal(t, []string{"a*", "b*"}, r.sub.Patterns())
	require.NoError(t, r.sub.SetPatterns([]string{"b*"}))
	r.sync()
	require.Equal(t, "0/b1", r.v.keys())
	r.f.cmd("SET", "a2", "z")
	require.Empty(t, r.sink.msgs)
	r.sub.Unsubscribe()
	require.ErrorIs(t, r.sub.SetPatterns([]string{"*"}), ErrUnsubscribed)
	_, err := r.a.Subscribe(r.sink, []string{""}, -1)
	require.ErrorIs(t, err, ErrConfig)
	_, err = r.a.Subscribe(nil, nil, -1)
	require.ErrorIs(t, err, ErrNilSink)
}

func TestSharedEncoding(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce}, "k*", "j*")
	s2 := &recSink{}
	_, err := r.a.Subscribe(s2, []string{"j*", "k*", "k*"}, -1)
	require.NoError(t, err)
	r.f.snapshot(zsetEntry("k", "a", 1))
	r.f.cmd("ZADD", "k", "2", "b")
	m1, m2 := r.sink.take(), s2.take()
	require.Len(t, m1, 2)
	require.Len(t, m2, 2)
	for i := range m1 {
		require.Same(t, &m1[i].Data[0], &m2[i].Data[0], "one encoding per selection")
	}
	require.Equal(t, 1, r.a.Stats().Groups)
}

func TestGlobalBoundEntries(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*", Limit: 3}}, Interval: AtOnce, MaxEntries: 6})
	r.f.snapshot(zsetEntry("a", "a1", 1, "a2", 2, "a3", 3, "a4", 4), zsetEntry("b", "b5", 5, "b6", 6, "b7", 7, "b8", 8))
	r.sync()
	// The oldest by score across keys went first: a1, a2.
	require.Equal(t, []string{"a3", "a4"}, r.v.values("a"))
	require.Equal(t, []string{"b6", "b7", "b8"}, r.v.values("b"))
	st := r.a.Stats()
	require.Equal(t, 6, st.Entries)
	require.Equal(t, uint64(2), st.Evictions)
	// Exact above the floor: the sysmon idiom, ZADD and a trim by score.
	r.f.tx(c("ZADD", "a", "9", "a9"), c("ZREMRANGEBYSCORE", "a", "-inf", "3"))
	r.f.cmd("ZREMRANGEBYRANK", "b", "0", "-3") // keep the top 2
	r.f.cmd("ZPOPMAX", "b")
	r.sync()
	require.Equal(t, []string{"a4", "a9"}, r.v.values("a"))
	require.Equal(t, []string{"b7"}, r.v.values("b"))
	require.Equal(t, "0/a 0/b", r.v.keys())
	// What depends on the part below the floor is stale.
	r.f.cmd("ZADD", "a", "NX", "10", "a1") // a1 may still be below the floor
	r.sync()
	require.Equal(t, "0/a(stale) 0/b", r.v.keys())
	r.f.cmd("ZPOPMIN", "b") // b lost nothing to the bound: exact
	r.sync()
	require.Equal(t, "0/a(stale)", r.v.keys())
	// A new snapshot makes everything exact again.
	r.f.snapshot(zsetEntry("a", "a1", 1))
	r.sync()
	require.Equal(t, "0/a", r.v.keys())
}

func TestGlobalBoundBytes(t *testing.T) {
	big := string(bytes.Repeat([]byte("x"), 1000))
	r := newRig(t, Config{Windows: []Window{{Match: "*", Limit: 10}}, Interval: AtOnce, MaxBytes: 3500})
	r.f.snapshot()
	r.c.Add(time.Second)
	r.f.cmd("HSET", "h", "f", big) // written first: oldest
	r.c.Add(time.Second)
	r.f.cmd("XADD", "s", strconv.FormatInt(r.c.ms(), 10)+"-0", "f", big)
	r.c.Add(time.Second)
	r.f.cmd("XADD", "s", strconv.FormatInt(r.c.ms(), 10)+"-0", "f", big)
	r.sync()
	require.Len(t, r.v.values("s"), 2)
	require.Len(t, r.v.values("h"), 1)
	r.c.Add(time.Second)
	r.f.cmd("XADD", "s", strconv.FormatInt(r.c.ms(), 10)+"-0", "f", big)
	r.sync()
	st := r.a.Stats()
	require.LessOrEqual(t, st.Bytes, int64(3500))
	// The hash was the oldest: cut, and flagged.
	require.Equal(t, "0/h(stale) 0/s", r.v.keys())
	require.Len(t, r.v.values("s"), 3)
	r.c.Add(time.Second)
	r.f.cmd("XADD", "s", strconv.FormatInt(r.c.ms(), 10)+"-0", "f", big)
	r.sync()
	require.Len(t, r.v.values("s"), 3, "the oldest stream entry went")
	require.Equal(t, "0/h(stale) 0/s", r.v.keys(), "the stream stays exact")
}

// TestConcurrent drives one assembler from several goroutines (a monitor
// loop, a ticker, viewers coming and going) for the race detector.
func TestConcurrent(t *testing.T) {
	var mu sync.Mutex
	now := time.UnixMilli(1_733_130_000_000)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, err := New(Config{Windows: []Window{{Match: "*", Limit: 5}}, Clock: clock, MaxEntries: 50})
	require.NoError(t, err)
	f := &feeder{t: t, a: a}
	var wg sync.WaitGroup
	wg.Go(func() {
		f.snapshot(zsetEntry("k", "a", 1))
		for i := range 300 {
			f.cmd("ZADD", "k"+strconv.Itoa(i%7), strconv.Itoa(i), "m"+strconv.Itoa(i))
		}
	})
	wg.Go(func() {
		for range 300 {
			mu.Lock()
			now = now.Add(10 * time.Millisecond)
			mu.Unlock()
			a.Tick()
		}
	})
	for g := range 3 {
		wg.Go(func() {
			for i := range 50 {
				s, err := a.Subscribe(nopSink{}, []string{"k" + strconv.Itoa((g+i)%3) + "*"}, int64(i*10))
				require.NoError(t, err)
				require.NoError(t, s.SetPatterns([]string{"k*"}))
				_ = a.Stats()
				s.Unsubscribe()
			}
		})
	}
	wg.Wait()
	require.Zero(t, a.Stats().Subscribers)
}
