package assembler

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redtap/redtap/rdb"
)

// Tick delivers the deltas of the interval when it has elapsed (and the
// windows that MaxAge changed), and retries the subscribers whose Sink
// refused messages. Call it about every Interval: a Tick up to a quarter of
// the interval early still delivers, so that a timer's jitter does not
// skip a delivery and double the delay.
func (a *Assembler) Tick() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock()
	iv := max(a.cfg.Interval, 0)
	if a.ready && now.Sub(a.shown.at) >= iv-iv/4 {
		a.flush(now)
	}
	for s := range a.subs {
		a.retry(s)
	}
}

// refresh computes the slot's window and returns its delta from what was
// shown (nil when nothing a subscriber sees changed); it makes the window
// the shown one.
func (a *Assembler) refresh(s *slot, now int64, withDelta bool) []byte {
	s.dirty = false
	exists := s.val != nil
	var w []wentry
	var typ rdb.Type
	stale := false
	if exists {
		w = window(s.val, s.spec, now, s.spare, a.scratch.seen)
		typ, stale = s.val.typ, s.val.stale
	}
	var d []byte
	if withDelta && (exists || s.shownExists) {
		d = delta(s, w, exists, typ, stale, a.scratch.old)
	}
	s.spare = s.shown
	if !exists {
		s.spare = nil
	}
	clear(s.spare)
	s.shown, s.shownType, s.shownStale, s.shownExists, s.cleared = w, typ, stale, exists, false
	s.ageAt = 0
	if exists && s.spec.MaxAge > 0 && len(w) > 0 && !math.IsNaN(w[0].t) {
		t := w[0].t + float64(s.spec.MaxAge.Milliseconds())
		if t < math.MaxInt64/2 {
			s.ageAt = int64(math.Floor(t)) + 1
		}
	}
	return d
}

// delta encodes the change from the shown window to w, or nil.
func delta(s *slot, w []wentry, exists bool, typ rdb.Type, stale bool, old map[string][]byte) []byte {
	clr := !exists || s.shownExists && (s.cleared || s.shownType != typ)
	var dels []string
	var sets [][]byte
	if clr {
		for _, e := range w {
			sets = append(sets, e.enc)
		}
	} else {
		defer clear(old)
		for _, e := range s.shown {
			old[e.id] = e.enc
		}
		for _, e := range w {
			if o, ok := old[e.id]; !ok || string(o) != string(e.enc) {
				sets = append(sets, e.enc)
			}
			delete(old, e.id)
		}
		for _, e := range s.shown {
			if _, ok := old[e.id]; ok {
				dels = append(dels, e.id)
			}
		}
		if len(sets) == 0 && len(dels) == 0 && stale == s.shownStale && s.shownExists {
			return nil
		}
	}
	if !exists {
		typ = s.shownType
	}
	d := appendKeyHead(nil, s, typ)
	d = append(d, `,"clear":`...)
	d = strconv.AppendBool(d, clr)
	if stale {
		d = append(d, `,"stale":true`...)
	}
	d = append(d, `,"del":[`...)
	for i, id := range dels {
		if i > 0 {
			d = append(d, ',')
		}
		d = appendString(d, id)
	}
	d = append(d, `],"set":[`...)
	for i, e := range sets {
		if i > 0 {
			d = append(d, ',')
		}
		d = append(d, e...)
	}
	return append(d, "]}"...)
}

func appendKeyHead(d []byte, s *slot, typ rdb.Type) []byte {
	d = append(d, `{"db":`...)
	d = fmt.Append(d, s.db)
	d = append(d, `,"key":`...)
	d = appendString(d, s.key)
	d = append(d, `,"type":"`...)
	d = append(d, typeName(typ)...)
	return append(d, '"')
}

type keyDelta struct {
	key []byte
	enc []byte
}

// flush delivers the deltas since the last flush.
func (a *Assembler) flush(now time.Time) {
	a.shown.at = now
	ms := now.UnixMilli()
	a.ageWindows(ms)
	if len(a.dirty) == 0 {
		return
	}
	var ds []keyDelta
	for _, s := range a.dirty {
		if d := a.refresh(s, ms, true); d != nil {
			ds = append(ds, keyDelta{key: []byte(s.key), enc: d})
		}
		if s.val == nil && !s.shownExists {
			delete(a.slots, s.slotKey)
		}
	}
	a.dirty = a.dirty[:0]
	a.computeNextAge()
	if len(ds) == 0 {
		return
	}
	a.shown.gen++
	a.shown.offset = a.offset
	a.shown.lastID = max(a.offset, a.shown.lastID+1)
	for _, g := range a.groups {
		var m []byte
		for _, d := range ds {
			if !g.match(d.key) {
				continue
			}
			if m == nil {
				m = fmt.Appendf(nil, `{"offset":%d,"deltas":[`, a.shown.offset)
			} else {
				m = append(m, ',')
			}
			m = append(m, d.enc...)
		}
		if m == nil {
			continue
		}
		msg := Message{Event: "dUpdates", ID: a.shown.lastID, Data: append(m, "]}"...)}
		a.record(g, msg)
		for _, s := range g.subs {
			a.deliver(s, msg)
		}
	}
}

// snapshotDone shows the state of the snapshot to every subscriber.
func (a *Assembler) snapshotDone() {
	now := a.clock()
	ms := now.UnixMilli()
	for _, s := range a.dirty {
		a.refresh(s, ms, false)
		if s.val == nil {
			delete(a.slots, s.slotKey)
		}
	}
	a.dirty = a.dirty[:0]
	a.computeNextAge()
	a.ready = true
	a.shown.at = now
	a.shown.gen++
	a.shown.offset = a.offset
	a.shown.lastID = max(a.offset, a.shown.lastID+1)
	for _, g := range a.groups {
		g.hist, g.histFloor = nil, a.shown.lastID
	}
	for s := range a.subs {
		s.queue, s.queueBytes = nil, 0
		s.behind, s.slow = true, false
		a.retry(s)
	}
}

// sortedSlots returns the shown slots in (db, key) order.
func (a *Assembler) sortedSlots() []*slot {
	ss := make([]*slot, 0, len(a.slots))
	for _, s := range a.slots {
		if s.shownExists {
			ss = append(ss, s)
		}
	}
	slices.SortFunc(ss, func(x, y *slot) int {
		if x.db != y.db {
			return x.db - y.db
		}
		return strings.Compare(x.key, y.key)
	})
	return ss
}

// updates returns the group's updates message of the shown state,
// encoding it once per flush.
func (a *Assembler) updates(g *group) Message {
	if g.updGen == a.shown.gen && g.upd.Data != nil {
		return g.upd
	}
	m := fmt.Appendf(nil, `{"offset":%d,"windows":[`, a.shown.offset)
	first := true
	for _, s := range a.sortedSlots() {
		if !g.match([]byte(s.key)) {
			continue
		}
		if !first {
			m = append(m, ',')
		}
		first = false
		m = appendKeyHead(m, s, s.shownType)
		if s.shownStale {
			m = append(m, `,"stale":true`...)
		}
		m = append(m, `,"entries":[`...)
		for i, e := range s.shown {
			if i > 0 {
				m = append(m, ',')
			}
			m = append(m, e.enc...)
		}
		m = append(m, "]}"...)
	}
	g.upd = Message{Event: "updates", ID: a.shown.lastID, Data: append(m, "]}"...)}
	g.updGen = a.shown.gen
	return g.upd
}
