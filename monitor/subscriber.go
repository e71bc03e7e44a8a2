package monitor

import (
	"context"
	"errors"
	"io"
	"iter"

	"github.com/redtap/redtap/replica"
)

// SubscribeOption configures a Subscriber (see [Monitor.Subscribe]).
type SubscribeOption interface{ apply(*Subscriber) error }

type subOptionFunc func(*Subscriber) error

func (f subOptionFunc) apply(s *Subscriber) error { return f(s) }

// Subscriber receives the batches its filter selects, in source order.
// Next (and All) must be called by one goroutine at a time; the other
// methods may be called from any goroutine.
type Subscriber struct {
	m *Monitor

	closeCtx    context.Context // cancelled by Close, Drop and Monitor.Close
	closeCancel context.CancelFunc
	done        <-chan struct{}

	// Guarded by m.mu.
	f         *compiled
	q         queue
	err       error  // why Next fails once the queue is empty
	since     uint64 // batches read before Subscribe
	wait      waitState
	retOffset int64  // offset of the last batch Next returned
	held      *Batch // the last batch Next returned, until the next call
	committed replica.Position
	st        SubscriberStats

	// Next's goroutine only.
	src readCtx
}

// waitState is how a subscriber waits, for a batch or for the pump, and
// how the pump waits for room in its queue. The flags are guarded by m.mu.
type waitState struct {
	wake  chan struct{} // a batch arrived, or the pump is free
	space chan struct{} // room in the queue for a waiting pump

	parked   bool // Next waits for wake
	wantPump bool // waits for the pump
	inWait   bool // has an entry in m.pump.wait (at most one)
	handed   bool // woken to take the free pump
	waitedOn bool // the pump waits for room
}

// readCtx is the context a subscriber reads the source with, kept while
// Next is called with the same parent (see sourceCtx).
type readCtx struct {
	ctx    context.Context
	parent context.Context
	cancel context.CancelFunc
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
	s := &Subscriber{m: m, q: queue{maxLen: DefaultQueueLen, maxBytes: DefaultQueueBytes}, f: c,
		wait: waitState{wake: make(chan struct{}, 1), space: make(chan struct{}, 1)}}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("monitor: nil option")
		}
		if err := o.apply(s); err != nil {
			return nil, err
		}
	}
	s.q.buf = make([]*Batch, s.q.maxLen+1) // +1: the Reset marker
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	s.closeCtx, s.closeCancel = context.WithCancel(m.closeCtx)
	s.done = s.closeCtx.Done()
	s.since = m.read.seq
	s.retOffset = m.read.offset
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
	return s.next1(ctx, false)
}

// TryNext is Next without the wait for the network: it returns a batch
// already in the queue, or one it builds from what the source has already
// received (a source with a Buffered method, as a *replica.Replica), and
// otherwise nil and a nil error. It can still wait for the rest of a
// command that has partly arrived, or for a full subscriber with the Block
// policy, until ctx ends. A caller that delivers at once uses it to gather
// what arrived together (see assembler.Assembler.Stage). The batch it
// returns is valid until the next call of Next or TryNext, as Next's.
func (s *Subscriber) TryNext(ctx context.Context) (*Batch, error) {
	return s.next1(ctx, true)
}

func (s *Subscriber) next1(ctx context.Context, try bool) (*Batch, error) {
	m := s.m
	m.mu.Lock()
	if s.held != nil {
		m.releaseLocked(s.held)
		s.held = nil
	}
	b, err := s.next(ctx, try)
	s.held = b
	s.wait.wantPump = false // no longer waiting: its entry in m.pump.wait is skipped
	if s.wait.handed {
		// Woken to take the free pump, but not taking it: pass it on.
		s.wait.handed = false
		if !m.pump.held {
			m.releasePumpLocked()
		}
	}
	m.mu.Unlock()
	return b, err
}

// next is Next (TryNext with try) with m.mu held.
func (s *Subscriber) next(ctx context.Context, try bool) (*Batch, error) {
	m := s.m
	for {
		if b := s.pop(); b != nil {
			return b, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		if m.read.err != nil {
			return nil, m.read.err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !m.pump.held {
			m.pump.held, s.wait.handed, s.wait.wantPump = true, false, false
			err := m.pumpLocked(ctx, s, try)
			m.releasePumpLocked()
			if err != nil && s.q.n == 0 {
				return nil, err
			}
			if try && s.q.n == 0 && s.err == nil && m.read.err == nil {
				return nil, nil // nothing at hand
			}
			continue
		}
		if try {
			return nil, nil // another subscriber is reading the source
		}
		// Wait for a batch, or for the pump.
		s.wait.parked = true
		s.wait.wantPump = true
		if !s.wait.inWait {
			s.wait.inWait = true
			m.pump.wait = append(m.pump.wait, s)
		}
		m.mu.Unlock()
		var err error
		select {
		case <-s.wait.wake:
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		m.mu.Lock()
		s.wait.parked = false
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
	if p := m.dist.pend; p != nil {
		for i := p.i; i < len(p.subs); i++ {
			if p.subs[i] == s {
				return m.dist.doneOffset // not offered yet
			}
		}
	}
	return m.read.offset
}

// seenPosLocked is the position after the last batch offered to s.
func (s *Subscriber) seenPosLocked() replica.Position {
	m := s.m
	if p := m.dist.pend; p != nil {
		for i := p.i; i < len(p.subs); i++ {
			if p.subs[i] == s {
				return m.dist.donePos
			}
		}
	}
	return m.read.pos
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
	if s.err != nil || pos.IsZero() || pos.Offset < m.read.syncOffset || pos.Offset <= s.committed.Offset {
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
	st.Queued, st.QueuedBytes = s.q.n, s.q.bytes
	st.Offset = s.retOffset
	if s.q.n == 0 && s.err == nil {
		st.Offset = s.seenLocked()
	}
	st.Lag = max(0, m.read.offset-st.Offset)
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
	s.q.bytes = 0
	if s.closeCancel != nil {
		s.closeCancel()
	}
}

// signal wakes s if it waits in Next.
func (s *Subscriber) signal() {
	select {
	case s.wait.wake <- struct{}{}:
	default:
	}
}

// sourceCtx returns the context for reading the source: done when ctx is,
// or when s or the monitor is closed. It is kept while callers pass the
// same ctx, so that Next allocates nothing in the common loop.
func (s *Subscriber) sourceCtx(ctx context.Context) context.Context {
	if s.src.ctx != nil && s.src.parent == ctx {
		// Still live: Next returns before pumping when ctx is done or s
		// closed, the only ways it ends.
		return s.src.ctx
	}
	if s.src.cancel != nil {
		s.src.cancel()
	}
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closeCtx, cancel)
	s.src.ctx, s.src.parent = c, ctx
	s.src.cancel = func() { stop(); cancel() }
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
