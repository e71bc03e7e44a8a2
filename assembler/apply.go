package assembler

import (
	"time"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// Apply folds one batch of a monitor subscriber into the windows (see the
// package documentation). With Interval AtOnce it delivers the batch's
// deltas before it returns.
func (a *Assembler) Apply(b *monitor.Batch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.apply(b)
	if a.ready && a.cfg.Interval == AtOnce {
		a.flush(now)
	}
}

// Stage folds b into the windows as Apply does, but never delivers: with
// Interval AtOnce, its deltas wait for Deliver, the next Apply or Tick. A
// caller that has several batches at hand (a hub whose subscriber's
// TryNext returns one) stages them all and then delivers once, so that
// changes that arrived together leave in one message per selection, with
// the offset of the last.
func (a *Assembler) Stage(b *monitor.Batch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apply(b)
}

// Deliver sends the deltas staged since the last delivery now, with
// Interval AtOnce; with an interval, deltas leave on Tick and Deliver does
// nothing.
func (a *Assembler) Deliver() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ready && a.cfg.Interval == AtOnce {
		a.flush(a.clock())
	}
}

// apply is Apply without the delivery; it returns the clock's time.
func (a *Assembler) apply(b *monitor.Batch) time.Time {
	now := a.clock()
	a.batch.now = now.UnixMilli()
	a.batch.carry, a.batch.popped, a.batch.poppedOK = nil, nil, false
	for i := range b.Events {
		a.event(&b.Events[i], b)
	}
	a.batch.carry, a.batch.popped = nil, nil
	a.offset = b.Offset
	a.enforce()
	return now
}

func (a *Assembler) event(e *monitor.Event, b *monitor.Batch) {
	switch e.Kind {
	case monitor.KindReset:
		if e.Err != nil {
			// Batches were dropped upstream and no snapshot follows.
			a.loseTrack()
			return
		}
		clear(a.slots)
		a.dirty = a.dirty[:0]
		a.entries, a.bytes = 0, 0
		a.ready, a.unsure = false, false
		for s := range a.subs {
			s.queue, s.queueBytes = nil, 0
		}
	case monitor.KindSnapshotKey:
		en := e.Entry
		if en == nil || en.Type == rdb.TypeModule {
			return
		}
		s := a.lookup(en.DB, en.Key)
		if s == nil {
			return
		}
		if en.Chunk == 0 || s.val == nil || s.val.typ != en.Type {
			v := newValue(en.Type, a.batch.now)
			v.load(en)
			a.setVal(s, v)
			return
		}
		a.update(s, func(v *value) bool { return v.load(en) })
	case monitor.KindSnapshotDone:
		a.offset = b.Offset
		a.snapshotDone()
	case monitor.KindDBChange:
		a.dbChange(e)
	case monitor.KindChange:
		a.change(e)
	}
}

// loseTrack marks every key stale, and keys created later too, until the
// next snapshot.
func (a *Assembler) loseTrack() {
	a.unsure = true
	for _, s := range a.slots {
		if s.val != nil && !s.val.stale {
			s.val.stale = true
			a.markDirty(s)
		}
	}
}

// update applies f to the slot's value, keeping the totals; a false from
// f marks the key stale. A value left empty is deleted.
func (a *Assembler) update(s *slot, f func(v *value) bool) {
	v := s.val
	n, b := v.n, v.bytes
	if !f(v) {
		v.stale = true
	}
	v.mtime = a.batch.now
	a.entries += v.n - n
	a.bytes += v.bytes - b
	a.markDirty(s)
	if v.empty() {
		a.setVal(s, nil)
	}
}

func (a *Assembler) dbChange(e *monitor.Event) {
	switch e.Op {
	case monitor.OpFlushDB, monitor.OpFlushAll:
		for _, s := range a.slots {
			if s.val != nil && (e.Op == monitor.OpFlushAll || s.db == e.DB) {
				a.setVal(s, nil)
			}
		}
	case monitor.OpSwapDB:
		if e.DB == e.OtherDB {
			return
		}
		va, vb := map[string]*value{}, map[string]*value{}
		for _, s := range a.slots {
			switch {
			case s.val == nil:
			case s.db == e.DB:
				va[s.key] = s.val
			case s.db == e.OtherDB:
				vb[s.key] = s.val
			}
		}
		swap := func(k string) {
			sa, sb := a.lookup(e.DB, []byte(k)), a.lookup(e.OtherDB, []byte(k))
			a.setVal(sa, vb[k])
			a.setVal(sb, va[k])
		}
		for k := range va {
			swap(k)
		}
		for k := range vb {
			if _, done := va[k]; !done {
				swap(k)
			}
		}
	default:
		// A command whose keys cannot be told.
		a.loseTrack()
	}
}

// creates reports whether op creates a missing key.
func creates(e *monitor.Event) bool {
	switch e.Op {
	case monitor.OpAppend, monitor.OpIncrBy, monitor.OpSetRange, monitor.OpSetBit,
		monitor.OpHSet, monitor.OpHIncrBy, monitor.OpSAdd, monitor.OpZAdd, monitor.OpZIncrBy, monitor.OpXAdd:
		return true
	case monitor.OpLPush, monitor.OpRPush:
		return e.Opts&monitor.OptXX == 0
	}
	return false
}

func (a *Assembler) change(e *monitor.Event) {
	switch e.Op {
	case monitor.OpRenameFrom, monitor.OpMoveFrom, monitor.OpCopyFrom:
		if e.Op == monitor.OpRenameFrom && string(e.Key) == string(e.Other) {
			return
		}
		s := a.lookup(e.DB, e.Key)
		a.batch.carry = nil
		if s == nil || s.val == nil {
			return // not held: the destination becomes unknown
		}
		a.batch.carry = s.val
		if e.Op == monitor.OpCopyFrom {
			a.batch.carry = s.val.clone()
		} else {
			a.setVal(s, nil)
		}
		return
	case monitor.OpRenameTo, monitor.OpMoveTo, monitor.OpCopyTo:
		if e.Op == monitor.OpRenameTo && string(e.Key) == string(e.Other) {
			return
		}
		s := a.lookup(e.DB, e.Key)
		if s == nil {
			return
		}
		v := a.batch.carry
		if v == nil {
			v = newValue(0, a.batch.now)
			v.stale = true
		}
		a.batch.carry = nil
		a.setVal(s, v)
		return
	}
	if (e.Op == monitor.OpLPop || e.Op == monitor.OpRPop) && e.Other != nil {
		a.batch.popped, a.batch.poppedOK = nil, false
	}
	s := a.lookup(e.DB, e.Key)
	if s == nil {
		return
	}
	switch e.Op {
	case monitor.OpDel:
		if s.val != nil {
			a.setVal(s, nil)
		}
		return
	case monitor.OpExpireAt, monitor.OpPersist:
		// The master deletes an expired key with a DEL it propagates.
		return
	case monitor.OpSet:
		v := newValue(rdb.TypeString, a.batch.now)
		v.setStr([]byte(string(e.Value)))
		a.setVal(s, v)
		return
	case monitor.OpOther:
		// Without a view the change cannot be followed: the key is unknown
		// (it may be one the command only read).
		if s.val == nil {
			v := newValue(e.Type, a.batch.now)
			v.stale = true
			a.setVal(s, v)
			return
		}
		if !s.val.stale {
			s.val.stale = true
			a.markDirty(s)
		}
		return
	}
	if s.val == nil {
		if !creates(e) {
			return // a no-op on a missing key
		}
		v := newValue(e.Op.Type(), a.batch.now)
		v.stale = a.unsure
		a.setVal(s, v)
	} else if s.val.typ == 0 {
		// An unknown value takes the type of what is done to it.
		v := newValue(e.Op.Type(), a.batch.now)
		v.stale = true
		a.setVal(s, v)
	}
	a.update(s, func(v *value) bool {
		if v.typ != e.Op.Type() {
			return false
		}
		if v.typ == rdb.TypeList && e.Other != nil {
			return a.listMove(v, e)
		}
		return v.apply(e)
	})
}

// listMove handles the two events of LMOVE (and RPOPLPUSH ...): the pop
// remembers the element, the push (without Elems) pushes it.
func (a *Assembler) listMove(v *value, e *monitor.Event) bool {
	switch e.Op {
	case monitor.OpLPop, monitor.OpRPop:
		a.batch.popped, a.batch.poppedOK = nil, false
		if len(v.list) > 0 && !v.cut {
			a.batch.poppedOK = !v.stale
			if e.Op == monitor.OpLPop {
				a.batch.popped = v.list[0]
			} else {
				a.batch.popped = v.list[len(v.list)-1]
			}
		}
		if v.cut {
			return false
		}
		return v.applyList(e)
	case monitor.OpLPush, monitor.OpRPush:
		if a.batch.popped == nil || v.cut {
			return false
		}
		el := a.batch.popped
		a.batch.popped = nil
		ev := *e
		ev.Elems = [][]byte{el}
		ok := v.applyList(&ev)
		return ok && a.batch.poppedOK
	}
	return v.apply(e)
}
