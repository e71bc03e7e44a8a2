package monitor

import (
	"context"
	"errors"
	"log/slog"
	"sync"

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

	commits commitState

	mu     sync.Mutex
	closed bool
	subs   []*Subscriber // live subscribers, in subscription order (copy on write)
	pump   pumpState
	dist   distState
	read   readState
	st     Stats

	build buildState // owned by the subscriber holding the pump
}

// commitState is what the monitor committed to its source.
type commitState struct {
	mu  sync.Mutex       // serialises commits to the source
	pos replica.Position // last position committed to the source
}

// pumpState says who reads the source (guarded by Monitor.mu).
type pumpState struct {
	held bool          // a subscriber is reading the source (it holds the pump)
	wait []*Subscriber // subscribers waiting for the pump, first come first served
}

// distState is the distribution of batches to subscribers (guarded by
// Monitor.mu).
type distState struct {
	pend       *pending         // the batch being distributed, if a Block subscriber holds it up
	buf        pending          // the backing of pend
	doneOffset int64            // offset of the last batch distributed to every subscriber
	donePos    replica.Position // position after it
}

// readState is how far the monitor has read its source (guarded by
// Monitor.mu).
type readState struct {
	err        error            // the source's final error
	seq        uint64           // batches read
	offset     int64            // offset of the last batch read
	pos        replica.Position // position after it (zero during a snapshot)
	syncOffset int64            // offset of the last full resynchronisation
}

// buildState is the state of the subscriber holding the pump: where it
// builds batches.
type buildState struct {
	unknown int64 // commands whose keys could not be told, for st.UnknownKeys
	ar      arena
	keys    []KeyRef
	spans   []span
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
	return m.read.pos
}

// Stats returns the monitor's counters.
func (m *Monitor) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.Offset, st.Pos, st.Subscribers = m.read.offset, m.read.pos, len(m.subs)
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
	if m.dist.pend != nil {
		m.releaseLocked(m.dist.pend.b)
	}
	m.subs, m.dist.pend, m.pump.wait = nil, nil, nil
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

// commit commits the minimum of the live subscribers' committed positions
// to the source, if it moved forward.
func (m *Monitor) commit() {
	if m.committer == nil {
		return
	}
	m.commits.mu.Lock()
	defer m.commits.mu.Unlock()
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
	if low.IsZero() || low.Offset <= m.commits.pos.Offset && low.ReplID == m.commits.pos.ReplID {
		return
	}
	m.commits.pos = low
	m.committer.Commit(low)
}
