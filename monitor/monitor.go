package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"unsafe"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// Errors.
var (
	// ErrClosed is returned by the methods of a closed Monitor or
	// Subscriber.
	ErrClosed = errors.New("monitor: closed")
	// ErrSlowSubscriber is matched by the error of a subscriber closed by
	// the Drop policy, and by the Err of the Reset event the Reset policy
	// sends.
	ErrSlowSubscriber = errors.New("monitor: slow subscriber")
	// ErrLastPattern is returned by RemoveMatch when it would remove every
	// pattern, which would select every key.
	ErrLastPattern = errors.New("monitor: cannot remove the last Match pattern")
)

// Option configures a Monitor (see [New]).
type Option interface{ apply(*Monitor) error }

type optionFunc func(*Monitor) error

func (f optionFunc) apply(m *Monitor) error { return f(m) }

// Logger sets the logger for full resynchronisations, disconnections and
// slow subscribers (default: silent).
func Logger(l *slog.Logger) Option {
	return optionFunc(func(m *Monitor) error {
		if l == nil {
			return errors.New("monitor: nil logger")
		}
		m.log = l
		return nil
	})
}

// Monitor turns a Source's events into per-key events and fans them out to
// subscribers. Its methods are safe for concurrent use; each Subscriber's
// Next is called by one goroutine at a time.
type Monitor struct {
	src       Source
	committer Committer
	log       *slog.Logger

	closeCtx    context.Context
	closeCancel context.CancelFunc

	commitMu  sync.Mutex       // serialises commits to the source
	committed replica.Position // last position committed to the source

	mu         sync.Mutex
	closed     bool
	subs       []*Subscriber // live subscribers, in subscription order (copy on write)
	pumping    bool          // a subscriber is reading the source (it holds the pump)
	pumpWait   []*Subscriber // subscribers waiting for the pump, first come first served
	pend       *pending      // the batch being distributed, if a Block subscriber holds it up
	pendBuf    pending
	srcErr     error  // the source's final error
	seq        uint64 // batches read
	offset     int64  // offset of the last batch read
	pos        replica.Position
	doneOffset int64            // offset of the last batch distributed to every subscriber
	donePos    replica.Position // position after it
	syncOffset int64            // offset of the last full resynchronisation
	st         Stats

	// State of the subscriber holding the pump.
	unknown int64 // commands whose keys could not be told, for st.UnknownKeys
	ar      arena
	keys    []KeyRef
	spans   []span
}

// span is one command's events in a batch being built.
type span struct {
	from, to int
	args     [][]byte // the source's
}

// pending is a batch handed to subscribers one by one.
type pending struct {
	b    *Batch
	subs []*Subscriber // the subscribers when it was read
	i    int           // the next one to offer it to
}

// Stats are a Monitor's counters (see [Monitor.Stats]).
type Stats struct {
	// Offset is the replication offset of the last source event read, and
	// Pos the position after it (zero during a snapshot).
	Offset int64
	Pos    replica.Position
	// Batches counts the batches read from the source that at least one
	// subscriber received, Events their events, Skipped those no
	// subscriber's filter selected.
	Batches, Events, Skipped int64
	// Resyncs counts full resynchronisations (Reset batches), Disconnects
	// the source's Disconnected events.
	Resyncs, Disconnects int64
	// UnknownKeys counts commands whose keys could not be told (a
	// KindDBChange event with Err).
	UnknownKeys int64
	// Subscribers is the number of live subscribers.
	Subscribers int
}

// New returns a monitor reading src. It reads nothing until a subscriber
// calls Next: subscribe first, then start reading, and every subscriber
// sees the source from its first event (with a replica, the snapshot).
//
// When src implements [Committer] (a [*replica.Replica]), the monitor
// commits to it the positions its subscribers commit (see
// [Subscriber.Commit]).
func New(src Source, opts ...Option) (*Monitor, error) {
	if src == nil {
		return nil, errors.New("monitor: nil source")
	}
	m := &Monitor{src: src, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("monitor: nil option")
		}
		if err := o.apply(m); err != nil {
			return nil, err
		}
	}
	m.committer, _ = src.(Committer)
	m.closeCtx, m.closeCancel = context.WithCancel(context.Background())
	return m, nil
}

// Position returns the position after the last source event the monitor
// has read (zero during a snapshot): where the source could resume once
// every subscriber has applied everything.
func (m *Monitor) Position() replica.Position {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos
}

// Stats returns the monitor's counters.
func (m *Monitor) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.Offset, st.Pos, st.Subscribers = m.offset, m.pos, len(m.subs)
	return st
}

// Close closes every subscriber (their Next returns ErrClosed, a Next
// reading the source is interrupted through its context) and releases the
// queued batches. It does not close the source. Close is idempotent.
func (m *Monitor) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, s := range m.subs {
		s.end(ErrClosed)
	}
	if m.pend != nil {
		m.releaseLocked(m.pend.b)
	}
	m.subs, m.pend, m.pumpWait = nil, nil, nil
	m.mu.Unlock()
	m.closeCancel()
	return nil
}

// removeLocked drops s from the live subscribers.
func (m *Monitor) removeLocked(s *Subscriber) {
	for i, t := range m.subs {
		if t == s {
			subs := make([]*Subscriber, 0, len(m.subs)-1)
			subs = append(subs, m.subs[:i]...)
			m.subs = append(subs, m.subs[i+1:]...)
			return
		}
	}
}

// releasePumpLocked gives up the pump and wakes the first subscriber
// waiting for it.
func (m *Monitor) releasePumpLocked() {
	m.pumping = false
	for len(m.pumpWait) > 0 {
		w := m.pumpWait[0]
		n := copy(m.pumpWait, m.pumpWait[1:]) // at most one entry per subscriber: cheap, and no reallocation
		m.pumpWait[n] = nil
		m.pumpWait = m.pumpWait[:n]
		w.inWait = false
		if w.wantPump && w.err == nil {
			w.wantPump, w.handed = false, true
			w.signal()
			return
		}
	}
}

// pumpLocked reads the source and distributes batches until s has one in
// its queue, s is closed, or the source fails; s holds the pump. It is
// called and returns with m.mu held, which it releases while it reads the
// source or waits for a Block subscriber.
func (m *Monitor) pumpLocked(ctx context.Context, s *Subscriber) error {
	var sctx context.Context
	for s.q.n == 0 && s.err == nil && m.srcErr == nil {
		if m.pend != nil {
			if err := m.distributeLocked(ctx, s); err != nil {
				return err
			}
			continue
		}
		if sctx == nil {
			sctx = s.sourceCtx(ctx)
		}
		m.mu.Unlock()
		ev, err := m.src.Next(sctx)
		if err != nil {
			m.mu.Lock()
			switch {
			case s.err != nil: // closed meanwhile
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			}
			m.srcErr = err
			for _, t := range m.subs {
				t.signal()
			}
			m.log.Info("monitor: source ended", "err", err)
			return nil
		}
		err = m.handle(ctx, s, ev)
		if err != nil {
			return err
		}
	}
	return nil
}

// handle turns one source event into a batch and offers it to every
// subscriber. It is called without m.mu and returns with it held.
func (m *Monitor) handle(ctx context.Context, s *Subscriber, ev replica.Event) error {
	// What the batch needs at most: a command has at most as many events
	// as arguments.
	var nev, nargs, nbytes int
	var entry *rdb.Entry
	switch e := ev.(type) {
	case *replica.Command:
		// Bytes are counted when the batch is copied.
		nev, nargs = len(e.Args), len(e.Args)
	case *replica.Transaction:
		for i := range e.Commands {
			nargs += len(e.Commands[i].Args)
		}
		nev = nargs
	case *replica.SnapshotRecord:
		en, ok := e.Record.(*rdb.Entry)
		if !ok {
			m.mu.Lock()
			return nil
		}
		entry = en
		nev = 1
		nargs, nbytes = entrySize(en)
	case *replica.SnapshotDone:
		nev = 1
	case *replica.Sync:
		m.mu.Lock()
		if e.Mode != replica.SyncFull {
			m.pos = e.Pos
			return nil
		}
		m.syncOffset, m.pos = e.Offset, replica.Position{}
		m.st.Resyncs++
		for _, t := range m.subs {
			t.committed = replica.Position{}
		}
		m.mu.Unlock()
		m.log.Info("monitor: full resynchronisation", "offset", e.Offset, "reason", e.Reason)
		nev = 1
	case *replica.Disconnected:
		m.mu.Lock()
		m.st.Disconnects++
		return nil
	default:
		m.mu.Lock()
		return fmt.Errorf("monitor: source returned an unknown event %T", ev)
	}

	// Build the events in the current block (the pump holder owns its free
	// space; switching blocks touches the shared free list).
	blk := m.ar.cur
	if blk == nil || !blk.room(nev, nargs, nbytes) {
		m.mu.Lock()
		blk = m.ar.reserve(nev, nargs, nbytes)
		m.mu.Unlock()
	}
	var tail []Event
	if blk != nil {
		tail = blk.events
	} else {
		tail = make([]Event, 0, nev)
	}
	start := len(tail)
	var b Batch
	var single [][]byte // the args of a Command; m.spans those of a Transaction
	switch e := ev.(type) {
	case *replica.Command:
		tail, m.keys = appendEvents(tail, m.keys, e.DB, e.Args, e.Offset, false)
		m.countUnknown(tail[start:])
		single = e.Args
		b.Offset, b.Pos = e.Offset, e.Pos
	case *replica.Transaction:
		m.spans = m.spans[:0]
		for i := range e.Commands {
			tail = m.command(tail, &e.Commands[i])
		}
		b.Offset, b.Pos, b.Tx = e.Offset, e.Pos, true
	case *replica.SnapshotRecord:
		tail = append(tail, Event{Kind: KindSnapshotKey, Type: entry.Type, DB: entry.DB, Key: entry.Key,
			Offset: m.syncOffset, Entry: entry})
		b.Offset = m.syncOffset
	case *replica.SnapshotDone:
		tail = append(tail, Event{Kind: KindSnapshotDone, Offset: e.Offset})
		b.Offset, b.Pos = e.Offset, e.Pos
	case *replica.Sync:
		ev := Event{Kind: KindReset, Offset: e.Offset}
		if e.Reason != "" {
			ev.Value = []byte(e.Reason)
		}
		tail = append(tail, ev)
		b.Offset = e.Offset
	}

	m.mu.Lock()
	m.st.UnknownKeys += m.unknown
	m.unknown = 0
	m.seq++
	m.offset = b.Offset
	if !b.Pos.IsZero() {
		m.pos = b.Pos
	}
	events := tail[start:len(tail):len(tail)]
	if !m.takenLocked(events) {
		m.st.Skipped++
		m.doneOffset, m.donePos = b.Offset, m.pos
		return nil
	}
	if blk != nil {
		blk.events = tail
	}
	// Copy what the source will reuse, once for every subscriber.
	var size int64
	if single != nil {
		args, n := m.ar.copyArgs(blk, single)
		size += n
		for i := range events {
			events[i].bind(args)
		}
	} else if b.Tx {
		for _, sp := range m.spans {
			args, n := m.ar.copyArgs(blk, sp.args)
			size += n
			for i := sp.from; i < sp.to; i++ {
				events[i-start].bind(args)
			}
		}
	}
	if entry != nil {
		c, n := copyEntry(blk, entry)
		events[0].Entry, events[0].Key = c, c.Key
		size += n
	}
	bp := m.ar.batch(blk)
	b.Events, b.seq, b.blk = events, m.seq, blk
	b.size = size + int64(len(events))*int64(unsafe.Sizeof(Event{}))
	*bp = b
	m.st.Batches++
	m.st.Events += int64(len(events))
	m.pendBuf = pending{b: bp, subs: m.subs}
	m.pend = &m.pendBuf
	if blk != nil {
		blk.refs++ // the pending distribution's
	}
	return m.distributeLocked(ctx, s)
}

// command appends the events of one command of a transaction.
func (m *Monitor) command(tail []Event, c *replica.Command) []Event {
	from := len(tail)
	tail, m.keys = appendEvents(tail, m.keys, c.DB, c.Args, c.Offset, true)
	m.countUnknown(tail[from:])
	if len(tail) > from {
		m.spans = append(m.spans, span{from, len(tail), c.Args})
	}
	return tail
}

// countUnknown counts a command whose keys could not be told.
func (m *Monitor) countUnknown(events []Event) {
	if len(events) == 1 && events[0].Err != nil {
		m.unknown++
	}
}

// takenLocked reports whether some subscriber's filter selects one of the
// events.
func (m *Monitor) takenLocked(events []Event) bool {
	if len(events) == 0 {
		return false
	}
	for _, t := range m.subs {
		if t.err != nil {
			continue
		}
		if t.f.all {
			return true
		}
		for i := range events {
			if t.f.pass(&events[i]) {
				return true
			}
		}
	}
	return false
}

// distributeLocked offers the pending batch to the subscribers it has not
// been offered to yet, under their slow policies. It waits for a full
// Block subscriber (releasing m.mu meanwhile) until it has room, it is
// closed, ctx is done or s is closed; the batch then stays pending.
func (m *Monitor) distributeLocked(ctx context.Context, s *Subscriber) error {
	p := m.pend
	for p.i < len(p.subs) {
		t := p.subs[p.i]
		if t.err != nil || p.b.seq <= t.since {
			p.i++
			continue
		}
		b := t.pick(p.b, &m.ar)
		if b == nil {
			p.i++
			continue
		}
		if !t.fits(b) {
			switch t.policy {
			case Block:
				if s.q.n > 0 {
					// The pump holder has a batch of its own: let it
					// return it; the distribution goes on at the next
					// pump.
					return nil
				}
				if err := m.waitLocked(ctx, s, t); err != nil {
					return err
				}
				if s.err != nil {
					return nil
				}
				continue // the filter may have changed: pick again
			case Drop:
				err := fmt.Errorf("%w: queue full (%d batches, %d bytes) at offset %d",
					ErrSlowSubscriber, t.q.n, t.bytes, p.b.Offset)
				m.log.Warn("monitor: slow subscriber dropped", "offset", p.b.Offset)
				t.st.Dropped += int64(t.q.n) + 1
				t.end(err)
				m.removeLocked(t)
				p.i++
				continue
			case Reset:
				t.resetLocked(p.b.Offset)
				m.log.Warn("monitor: slow subscriber reset", "offset", p.b.Offset)
			}
		}
		t.push(b)
		p.i++
	}
	m.pend = nil
	m.doneOffset, m.donePos = p.b.Offset, m.pos
	m.releaseLocked(p.b)
	return nil
}

// releaseLocked drops a reference to b's block.
func (m *Monitor) releaseLocked(b *Batch) {
	if b.blk != nil {
		m.ar.release(b.blk)
	}
}

// waitLocked waits, with m.mu released, until t has room, t is closed, ctx
// is done or s is closed.
func (m *Monitor) waitLocked(ctx context.Context, s, t *Subscriber) error {
	t.waitedOn = true
	m.mu.Unlock()
	var err error
	select {
	case <-t.space:
	case <-t.done:
	case <-s.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	m.mu.Lock()
	t.waitedOn = false
	return err
}

// commit commits the minimum of the live subscribers' committed positions
// to the source, if it moved forward.
func (m *Monitor) commit() {
	if m.committer == nil {
		return
	}
	m.commitMu.Lock()
	defer m.commitMu.Unlock()
	m.mu.Lock()
	var low replica.Position
	for i, t := range m.subs {
		p := t.effectiveLocked()
		if p.IsZero() {
			m.mu.Unlock()
			return
		}
		if i == 0 || p.Offset < low.Offset {
			low = p
		}
	}
	m.mu.Unlock()
	if low.IsZero() || low.Offset <= m.committed.Offset && low.ReplID == m.committed.ReplID {
		return
	}
	m.committed = low
	m.committer.Commit(low)
}
