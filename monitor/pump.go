package monitor

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/redtap/redtap/internal/rdbcopy"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

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

// releasePumpLocked gives up the pump and wakes the first subscriber
// waiting for it.
func (m *Monitor) releasePumpLocked() {
	m.pump.held = false
	for len(m.pump.wait) > 0 {
		w := m.pump.wait[0]
		n := copy(m.pump.wait, m.pump.wait[1:]) // at most one entry per subscriber: cheap, and no reallocation
		m.pump.wait[n] = nil
		m.pump.wait = m.pump.wait[:n]
		w.wait.inWait = false
		if w.wait.wantPump && w.err == nil {
			w.wait.wantPump, w.wait.handed = false, true
			w.signal()
			return
		}
	}
}

// pumpLocked reads the source and distributes batches until s has one in
// its queue, s is closed, or the source fails (with try, also before a read
// that would wait for the network); s holds the pump. It is
// called and returns with m.mu held, which it releases while it reads the
// source or waits for a Block subscriber.
func (m *Monitor) pumpLocked(ctx context.Context, s *Subscriber, try bool) error {
	var sctx context.Context
	for s.q.n == 0 && s.err == nil && m.read.err == nil {
		if m.dist.pend != nil {
			if err := m.distributeLocked(ctx, s); err != nil {
				return err
			}
			continue
		}
		if try && !m.buffered() {
			return nil
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
			m.read.err = err
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

// buffered reports whether the source has received data that its Next
// has not returned yet; only the pump's holder may ask.
func (m *Monitor) buffered() bool {
	b, ok := m.src.(interface{ Buffered() int })
	return ok && b.Buffered() > 0
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
		nargs, nbytes = rdbcopy.Size(en)
	case *replica.SnapshotDone:
		nev = 1
	case *replica.Sync:
		m.mu.Lock()
		if e.Mode != replica.SyncFull {
			m.read.pos = e.Pos
			return nil
		}
		m.read.syncOffset, m.read.pos = e.Offset, replica.Position{}
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
	blk := m.build.ar.cur
	if blk == nil || !blk.room(nev, nargs, nbytes) {
		m.mu.Lock()
		blk = m.build.ar.reserve(nev, nargs, nbytes)
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
	var single [][]byte // the args of a Command; m.build.spans those of a Transaction
	switch e := ev.(type) {
	case *replica.Command:
		tail, m.build.keys = appendEvents(tail, m.build.keys, e.DB, e.Args, e.Offset, false)
		m.countUnknown(tail[start:])
		single = e.Args
		b.Offset, b.Pos = e.Offset, e.Pos
	case *replica.Transaction:
		m.build.spans = m.build.spans[:0]
		for i := range e.Commands {
			tail = m.command(tail, &e.Commands[i])
		}
		b.Offset, b.Pos, b.Tx = e.Offset, e.Pos, true
	case *replica.SnapshotRecord:
		tail = append(tail, Event{Kind: KindSnapshotKey, Type: entry.Type, DB: entry.DB, Key: entry.Key,
			Offset: m.read.syncOffset, Entry: entry})
		b.Offset = m.read.syncOffset
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
	m.st.UnknownKeys += m.build.unknown
	m.build.unknown = 0
	m.read.seq++
	m.read.offset = b.Offset
	if !b.Pos.IsZero() {
		m.read.pos = b.Pos
	}
	events := tail[start:len(tail):len(tail)]
	if !m.takenLocked(events) {
		m.st.Skipped++
		m.dist.doneOffset, m.dist.donePos = b.Offset, m.read.pos
		return nil
	}
	if blk != nil {
		blk.events = tail
	}
	// Copy what the source will reuse, once for every subscriber.
	var size int64
	if single != nil {
		args, n := m.build.ar.copyArgs(blk, single)
		size += n
		for i := range events {
			events[i].bind(args)
		}
	} else if b.Tx {
		for _, sp := range m.build.spans {
			args, n := m.build.ar.copyArgs(blk, sp.args)
			size += n
			for i := sp.from; i < sp.to; i++ {
				events[i-start].bind(args)
			}
		}
	}
	if entry != nil {
		c, n := rdbcopy.Entry(copier{blk}, entry)
		events[0].Entry, events[0].Key = c, c.Key
		size += int64(n)
	}
	bp := m.build.ar.batch(blk)
	b.Events, b.seq, b.blk = events, m.read.seq, blk
	b.size = size + int64(len(events))*int64(unsafe.Sizeof(Event{}))
	*bp = b
	m.st.Batches++
	m.st.Events += int64(len(events))
	m.dist.buf = pending{b: bp, subs: m.subs}
	m.dist.pend = &m.dist.buf
	if blk != nil {
		blk.refs++ // the pending distribution's
	}
	return m.distributeLocked(ctx, s)
}

// command appends the events of one command of a transaction.
func (m *Monitor) command(tail []Event, c *replica.Command) []Event {
	from := len(tail)
	tail, m.build.keys = appendEvents(tail, m.build.keys, c.DB, c.Args, c.Offset, true)
	m.countUnknown(tail[from:])
	if len(tail) > from {
		m.build.spans = append(m.build.spans, span{from, len(tail), c.Args})
	}
	return tail
}

// countUnknown counts a command whose keys could not be told.
func (m *Monitor) countUnknown(events []Event) {
	if len(events) == 1 && events[0].Err != nil {
		m.build.unknown++
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
	p := m.dist.pend
	for p.i < len(p.subs) {
		t := p.subs[p.i]
		if t.err != nil || p.b.seq <= t.since {
			p.i++
			continue
		}
		b := t.pick(p.b, &m.build.ar)
		if b == nil {
			p.i++
			continue
		}
		if !t.fits(b) {
			switch t.q.policy {
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
					ErrSlowSubscriber, t.q.n, t.q.bytes, p.b.Offset)
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
	m.dist.pend = nil
	m.dist.doneOffset, m.dist.donePos = p.b.Offset, m.read.pos
	m.releaseLocked(p.b)
	return nil
}

// releaseLocked drops a reference to b's block.
func (m *Monitor) releaseLocked(b *Batch) {
	if b.blk != nil {
		m.build.ar.release(b.blk)
	}
}

// waitLocked waits, with m.mu released, until t has room, t is closed, ctx
// is done or s is closed.
func (m *Monitor) waitLocked(ctx context.Context, s, t *Subscriber) error {
	t.wait.waitedOn = true
	m.mu.Unlock()
	var err error
	select {
	case <-t.wait.space:
	case <-t.done:
	case <-s.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	m.mu.Lock()
	t.wait.waitedOn = false
	return err
}
