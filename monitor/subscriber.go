package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"

	"github.com/redtap/redtap/replica"
)

// SlowPolicy says what happens when a subscriber's queue is full.
type SlowPolicy uint8

// The slow-subscriber policies.
const (
	// Block (the default): the monitor waits until the subscriber makes
	// room. Every other subscriber waits too, the source is not read, and
	// with a replica the backpressure reaches the master (see package
	// replica). Lossless.
	Block SlowPolicy = iota
	// Drop: the subscriber is closed: its queue is dropped and its Next
	// returns an error matching ErrSlowSubscriber. The others go on.
	Drop
	// Reset: the subscriber's queue is dropped and replaced by a Reset
	// batch whose event's Err matches ErrSlowSubscriber, with the Offset of
	// the batch that did not fit, which follows it; later batches are
	// delivered as usual. The others go on.
	Reset
)

// String returns "block", "drop" or "reset".
func (p SlowPolicy) String() string {
	switch p {
	case Block:
		return "block"
	case Drop:
		return "drop"
	case Reset:
		return "reset"
	}
	return "slowpolicy(" + strconv.Itoa(int(p)) + ")"
}

// SubscribeOption configures a Subscriber (see [Monitor.Subscribe]).
type SubscribeOption interface{ apply(*Subscriber) error }

type subOptionFunc func(*Subscriber) error

func (f subOptionFunc) apply(s *Subscriber) error { return f(s) }

// Default queue bounds.
const (
	DefaultQueueLen   = 1024
	DefaultQueueBytes = 64 << 20
)

// QueueLen bounds the subscriber's queue to n batches (default
// DefaultQueueLen).
func QueueLen(n int) SubscribeOption {
	return subOptionFunc(func(s *Subscriber) error {
		if n < 1 {
			return fmt.Errorf("monitor: QueueLen %d, want 1 or more", n)
		}
		s.qlen = n
		return nil
	})
}

// QueueBytes bounds the memory the subscriber's queued batches hold to n
// bytes (default DefaultQueueBytes): keys, values and events. A batch
// always fits an empty queue, however large.
func QueueBytes(n int64) SubscribeOption {
	return subOptionFunc(func(s *Subscriber) error {
		if n < 1 {
			return fmt.Errorf("monitor: QueueBytes %d, want 1 or more", n)
		}
		s.qbytes = n
		return nil
	})
}

// OnSlow sets the policy for a full queue (default Block).
func OnSlow(p SlowPolicy) SubscribeOption {
	return subOptionFunc(func(s *Subscriber) error {
		if p > Reset {
			return fmt.Errorf("monitor: unknown SlowPolicy %d", p)
		}
		s.policy = p
		return nil
	})
}

// Subscriber receives the batches its filter selects, in source order.
// Next (and All) must be called by one goroutine at a time; the other
// methods may be called from any goroutine.
type Subscriber struct {
	m      *Monitor
	policy SlowPolicy
	qlen   int
	qbytes int64

	closeCtx    context.Context // cancelled by Close, Drop and Monitor.Close
	closeCancel context.CancelFunc
	done        <-chan struct{}
	wake        chan struct{} // a batch arrived, or the pump is free
	space       chan struct{} // room in the queue for a waiting pump

	// Guarded by m.mu.
	f         *compiled
	q         ring
	bytes     int64
	err       error  // why Next fails once the queue is empty
	since     uint64 // batches read before Subscribe
	parked    bool   // Next waits for wake
	wantPump  bool   // waits for the pump
	inWait    bool   // has an entry in m.pumpWait (at most one)
	handed    bool   // woken to take the free pump
	waitedOn  bool   // the pump waits for room
	retOffset int64  // offset of the last batch Next returned
	held      *Batch // the last batch Next returned, until the next call
	committed replica.Position
	st        SubscriberStats

	// Next's goroutine only.
	sctx       context.Context
	sctxParent context.Context
	sctxCancel context.CancelFunc
}

// SubscriberStats are a subscriber's counters (see [Subscriber.Stats]).
type SubscriberStats struct {
	// Delivered counts the batches Next returned, Events their events.
	Delivered, Events int64
	// Dropped counts the batches the slow policy dropped (Drop: the queue
	// and the batch that did not fit; Reset: the queues it replaced);
	// Resets counts the Reset batches it sent.
	Dropped, Resets int64
	// Queued is the number of batches waiting in the queue, QueuedBytes the
	// memory they hold.
	Queued      int
	QueuedBytes int64
	// Offset is the replication offset the subscriber has reached: that of
	// the last batch Next returned or, when its queue is empty, of the
	// last batch the monitor offered it (its filter may have skipped it).
	Offset int64
	// Lag is how far, in bytes of replication offset, Offset is behind the
	// last source event the monitor has read.
	Lag int64
}

// Subscribe adds a subscriber with filter f. It receives the batches the
// monitor reads after Subscribe returns (and one being distributed, if it
// waits for a Block subscriber, is not among them): subscribe before the
// first Next to see the source from its beginning. A late subscriber of a
// replica misses the snapshot; it cannot ask for one.
func (m *Monitor) Subscribe(f Filter, opts ...SubscribeOption) (*Subscriber, error) {
	c, err := compileFilter(f)
	if err != nil {
		return nil, err
	}
	s := &Subscriber{m: m, qlen: DefaultQueueLen, qbytes: DefaultQueueBytes, f: c,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("monitor: nil option")
		}
		if err := o.apply(s); err != nil {
			return nil, err
		}
	}
	s.q.buf = make([]*Batch, s.qlen+1) // +1: the Reset marker
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	s.closeCtx, s.closeCancel = context.WithCancel(m.closeCtx)
	s.done = s.closeCtx.Done()
	s.since = m.seq
	s.retOffset = m.offset
	subs := make([]*Subscriber, 0, len(m.subs)+1)
	m.subs = append(append(subs, m.subs...), s)
	return s, nil
}

// Next returns the next batch. When the queue is empty and no other
// subscriber is reading the source, Next reads it itself, one source event
// at a time, handing each batch to every subscriber, until one is for this
// subscriber. Handing a batch to a full subscriber with the Block policy
// waits until it takes one (or ctx ends: the batch is handed on at the next
// read).
//
// Next returns ErrClosed after Close (or Monitor.Close), an error matching
// ErrSlowSubscriber once the Drop policy has closed the subscriber, ctx.Err()
// when ctx ends (nothing is lost: call Next again), and, once its queue is
// empty, the source's final error (io.EOF after a snapshot-only source).
//
// The batch and everything in it are valid until the next call of Next.
func (s *Subscriber) Next(ctx context.Context) (*Batch, error) {
	m := s.m
	m.mu.Lock()
	if s.held != nil {
		m.releaseLocked(s.held)
		s.held = nil
	}
	b, err := s.next(ctx)
	s.held = b
	s.wantPump = false // no longer waiting: its entry in m.pumpWait is skipped
	if s.handed {
		// Woken to take the free pump, but not taking it: pass it on.
		s.handed = false
		if !m.pumping {
			m.releasePumpLocked()
		}
	}
	m.mu.Unlock()
	return b, err
}

// next is Next with m.mu held.
func (s *Subscriber) next(ctx context.Context) (*Batch, error) {
	m := s.m
	for {
		if b := s.pop(); b != nil {
			return b, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		if m.srcErr != nil {
			return nil, m.srcErr
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !m.pumping {
			m.pumping, s.handed, s.wantPump = true, false, false
			err := m.pumpLocked(ctx, s)
			m.releasePumpLocked()
			if err != nil && s.q.n == 0 {
				return nil, err
			}
			continue
		}
		// Wait for a batch, or for the pump.
		s.parked = true
		s.wantPump = true
		if !s.inWait {
			s.inWait = true
			m.pumpWait = append(m.pumpWait, s)
		}
		m.mu.Unlock()
		var err error
		select {
		case <-s.wake:
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		m.mu.Lock()
		s.parked = false
		if err != nil && s.q.n == 0 {
			return nil, err
		}
	}
}

// All returns an iterator over Next's batches. It ends after io.EOF, or
// after yielding the first error with a nil batch.
func (s *Subscriber) All(ctx context.Context) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		for {
			b, err := s.Next(ctx)
			if err == io.EOF {
				return
			}
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

// Filter returns the subscriber's filter.
func (s *Subscriber) Filter() Filter {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	f := s.f.f
	return Filter{Match: append([]string(nil), f.Match...), DBs: append([]int(nil), f.DBs...),
		Commands: append([]string(nil), f.Commands...), Types: append(f.Types[:0:0], f.Types...)}
}

// SetFilter replaces the subscriber's filter between two batches: the
// batches the monitor offers the subscriber from now on, exactly those with
// an Offset greater than from, are filtered by f; those up to from were
// filtered by the old one (and may still be queued). During a snapshot,
// whose batches share one offset, f applies to the keys not yet read.
func (s *Subscriber) SetFilter(f Filter) (from int64, err error) {
	return s.change(func(*compiled) (Filter, error) { return f, nil })
}

// AddMatch adds patterns to the filter's Match, as SetFilter does (from has
// the same meaning). An empty Match selects every key: on such a filter,
// AddMatch narrows the selection to the patterns given.
func (s *Subscriber) AddMatch(patterns ...string) (from int64, err error) {
	return s.change(func(c *compiled) (Filter, error) { return c.withMatch(patterns), nil })
}

// RemoveMatch removes patterns from the filter's Match, as SetFilter does
// (from has the same meaning). It fails with ErrLastPattern, changing
// nothing, when no pattern would be left (an empty Match selects every
// key: use SetFilter for that).
func (s *Subscriber) RemoveMatch(patterns ...string) (from int64, err error) {
	return s.change(func(c *compiled) (Filter, error) {
		f := c.withoutMatch(patterns)
		if len(f.Match) == 0 {
			return f, ErrLastPattern
		}
		return f, nil
	})
}

// change replaces the filter by what fn makes of the current one, under
// the monitor's lock: between two batches.
func (s *Subscriber) change(fn func(*compiled) (Filter, error)) (int64, error) {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	f, err := fn(s.f)
	if err != nil {
		return 0, err
	}
	c, err := compileFilter(f)
	if err != nil {
		return 0, err
	}
	s.f = c
	return s.seenLocked(), nil
}

// seenLocked is the offset of the last batch offered to s.
func (s *Subscriber) seenLocked() int64 {
	m := s.m
	if p := m.pend; p != nil {
		for i := p.i; i < len(p.subs); i++ {
			if p.subs[i] == s {
				return m.doneOffset // not offered yet
			}
		}
	}
	return m.offset
}

// seenPosLocked is the position after the last batch offered to s.
func (s *Subscriber) seenPosLocked() replica.Position {
	m := s.m
	if p := m.pend; p != nil {
		for i := p.i; i < len(p.subs); i++ {
			if p.subs[i] == s {
				return m.donePos
			}
		}
	}
	return m.pos
}

// Commit records that the subscriber has applied everything up to pos, the
// Pos of a batch it received. When the source is a [Committer] (a replica
// with Config.ManualCommit), the monitor commits to it the lowest position
// of its live subscribers, once every one has committed: a subscriber
// whose queue is empty and who has committed everything Next returned
// counts as being at the last batch offered to it, so that one whose filter
// selects little does not hold the others back. A full resynchronisation
// forgets the committed positions (they belong to the old history);
// positions from before it are ignored.
func (s *Subscriber) Commit(pos replica.Position) {
	m := s.m
	m.mu.Lock()
	if s.err != nil || pos.IsZero() || pos.Offset < m.syncOffset || pos.Offset <= s.committed.Offset {
		m.mu.Unlock()
		return
	}
	s.committed = pos
	m.mu.Unlock()
	m.commit()
}

// Committed returns the last position given to Commit (zero after a full
// resynchronisation).
func (s *Subscriber) Committed() replica.Position {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.committed
}

// effectiveLocked is the position s holds commits back to.
func (s *Subscriber) effectiveLocked() replica.Position {
	if s.q.n == 0 && s.committed.Offset >= s.retOffset {
		if p := s.seenPosLocked(); !p.IsZero() && p.Offset >= s.committed.Offset {
			return p
		}
	}
	return s.committed
}

// Stats returns the subscriber's counters.
func (s *Subscriber) Stats() SubscriberStats {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	st := s.st
	st.Queued, st.QueuedBytes = s.q.n, s.bytes
	st.Offset = s.retOffset
	if s.q.n == 0 && s.err == nil {
		st.Offset = s.seenLocked()
	}
	st.Lag = max(0, m.offset-st.Offset)
	return st
}

// Close removes the subscriber from the monitor: a Next in progress
// returns ErrClosed, queued batches are released, and it no longer holds
// back the others or the commits. Close is idempotent.
func (s *Subscriber) Close() error {
	m := s.m
	m.mu.Lock()
	if s.err == nil {
		s.end(ErrClosed)
		m.removeLocked(s)
	}
	m.mu.Unlock()
	m.commit()
	return nil
}

// end closes s with err (m.mu held).
func (s *Subscriber) end(err error) {
	if s.err == nil {
		s.err = err
	}
	for s.q.n > 0 {
		s.m.releaseLocked(s.q.pop())
	}
	s.bytes = 0
	if s.closeCancel != nil {
		s.closeCancel()
	}
}

// signal wakes s if it waits in Next.
func (s *Subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sourceCtx returns the context for reading the source: done when ctx is,
// or when s or the monitor is closed. It is kept while callers pass the
// same ctx, so that Next allocates nothing in the common loop.
func (s *Subscriber) sourceCtx(ctx context.Context) context.Context {
	if s.sctx != nil && s.sctxParent == ctx {
		// Still live: Next returns before pumping when ctx is done or s
		// closed, the only ways it ends.
		return s.sctx
	}
	if s.sctxCancel != nil {
		s.sctxCancel()
	}
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closeCtx, cancel)
	s.sctx, s.sctxParent = c, ctx
	s.sctxCancel = func() { stop(); cancel() }
	return c
}

// pick returns the part of b that passes s's filter: b itself, a batch of
// some of its events, or nil.
func (s *Subscriber) pick(b *Batch, ar *arena) *Batch {
	f := s.f
	if f.all {
		return b
	}
	n := 0
	for i := range b.Events {
		if f.pass(&b.Events[i]) {
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case len(b.Events):
		return b
	}
	sub := ar.batch(b.blk)
	*sub = *b
	sub.Events = ar.events(b.blk, n)
	j := 0
	for i := range b.Events {
		if f.pass(&b.Events[i]) {
			sub.Events[j] = b.Events[i]
			j++
		}
	}
	return sub
}

// fits reports whether b fits in the queue.
func (s *Subscriber) fits(b *Batch) bool {
	return s.q.n == 0 || s.q.n < s.qlen && s.bytes+b.size <= s.qbytes
}

// push queues b and wakes s.
func (s *Subscriber) push(b *Batch) {
	if b.blk != nil {
		b.blk.refs++
	}
	s.q.push(b)
	s.bytes += b.size
	if s.parked {
		s.signal()
	}
}

// pop dequeues the next batch (m.mu held).
func (s *Subscriber) pop() *Batch {
	if s.q.n == 0 {
		return nil
	}
	b := s.q.pop()
	s.bytes -= b.size
	s.retOffset = b.Offset
	s.st.Delivered++
	s.st.Events += int64(len(b.Events))
	if s.waitedOn {
		select {
		case s.space <- struct{}{}:
		default:
		}
	}
	return b
}

// resetLocked replaces the queue with a Reset batch (the Reset policy).
func (s *Subscriber) resetLocked(offset int64) {
	dropped := 0
	for s.q.n > 0 {
		b := s.q.pop()
		if b.seq != 0 { // not an earlier Reset marker
			dropped++
		}
		s.m.releaseLocked(b)
	}
	s.bytes = 0
	s.st.Dropped += int64(dropped)
	s.st.Resets++
	err := fmt.Errorf("%w: %d batches dropped, queue full at offset %d", ErrSlowSubscriber, dropped, offset)
	r := &Batch{Offset: offset, Events: []Event{{Kind: KindReset, Offset: offset, Err: err}}}
	s.q.push(r)
}

// ring is a subscriber's queue.
type ring struct {
	buf     []*Batch
	head, n int
}

func (r *ring) push(b *Batch) {
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
}

func (r *ring) pop() *Batch {
	b := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return b
}
