package assembler

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redtap/redtap/internal/glob"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// AtOnce as Config.Interval delivers every batch's deltas from Apply,
// without coalescing.
const AtOnce time.Duration = -1

// Defaults of Config.
const (
	DefaultInterval        = 50 * time.Millisecond
	DefaultLimit           = 100
	DefaultMaxEntries      = 1 << 20
	DefaultMaxBytes        = 256 << 20
	DefaultMaxPending      = 16
	DefaultMaxPendingBytes = 4 << 20
	DefaultHistory         = 64
)

// Errors.
var (
	// ErrConfig is matched by the errors of New for an invalid Config.
	ErrConfig = errors.New("assembler: invalid config")
	// ErrNilSink is returned by Subscribe without a Sink.
	ErrNilSink = errors.New("assembler: nil sink")
	// ErrUnsubscribed is returned by the methods of a Subscription after
	// Unsubscribe.
	ErrUnsubscribed = errors.New("assembler: unsubscribed")
)

// Window selects keys by a glob and says what their windows show. The
// first Window whose Match matches a key applies to it; keys no Window
// matches are not held.
type Window struct {
	// Match is a Redis glob pattern over key names ("sysmon:*").
	Match string
	// Limit is the most entries the window of one key shows (default
	// DefaultLimit): the newest N members of a sorted set by score, the
	// newest N entries of a stream, N elements at the pushed end of a
	// list (see FromHead), the first N fields of a hash and members of a
	// set in byte order.
	Limit int
	// MaxAge hides sorted-set members whose score, read as Unix
	// milliseconds, and stream entries whose id's milliseconds, are older
	// than the clock minus MaxAge (0: no limit). It does not apply to the
	// other types.
	MaxAge time.Duration
	// DedupID: a sorted-set member that is a JSON object carrying "id" is
	// identified by that id, and the window shows only the newest member
	// (highest score) of each id. Without it a member is its own id.
	DedupID bool
	// FromHead: the newest elements of a list are at its head (LPUSH):
	// the window shows the first Limit elements. Otherwise (RPUSH, the
	// default) it shows the last Limit.
	FromHead bool
}

type spec struct {
	Window
	pat []byte
}

// Config configures an Assembler. The zero value of each field means its
// default.
type Config struct {
	// Windows select the keys to hold (at least one).
	Windows []Window
	// MaxEntries and MaxBytes bound what the assembler holds over all keys
	// (defaults DefaultMaxEntries, DefaultMaxBytes; bytes are an estimate
	// of the memory held). Past them the oldest entries are evicted (see
	// the package documentation).
	MaxEntries int
	MaxBytes   int64
	// Interval is how often deltas are delivered (by Tick): the changes of
	// one interval become one dUpdates message. Default DefaultInterval;
	// AtOnce delivers them from Apply, one message per batch.
	Interval time.Duration
	// Clock tells the time (default time.Now). It decides intervals and
	// MaxAge, and the age of list, hash, set and string entries.
	Clock func() time.Time
	// MaxPending and MaxPendingBytes bound the messages held for a
	// subscriber whose Sink refused them (defaults DefaultMaxPending,
	// DefaultMaxPendingBytes; a negative MaxPending holds none). Past them
	// the subscriber is behind: its messages are dropped and it gets a
	// fresh updates once its Sink accepts again.
	MaxPending      int
	MaxPendingBytes int64
	// History is how many dUpdates messages each selection keeps for
	// resuming a subscriber from a Last-Event-ID (default DefaultHistory;
	// negative: none).
	History int
}

// Message is what a Sink receives. Data is shared by every subscriber of a
// selection: read it, never modify it.
type Message struct {
	// Event is "updates" (the whole selection) or "dUpdates" (changes).
	Event string
	// ID identifies the state after the message, for SSE's id and
	// Last-Event-ID (see the package documentation); IDs only grow.
	ID int64
	// Data is the JSON.
	Data []byte
}

// Sink receives a subscriber's messages. Send must not block and must not
// call the Assembler (it is called with the Assembler's lock held); it
// returns false when it cannot take the message now (its buffer is full).
type Sink interface {
	Send(m Message) bool
}

type slotKey struct {
	db  int
	key string
}

// slot is a key the assembler holds (or held at the last flush).
type slot struct {
	slotKey
	spec *spec
	val  *value // nil: the key does not exist

	dirty   bool // changed since the last flush
	cleared bool // deleted or replaced since the last flush

	// What subscribers were last shown (at the last flush).
	shown       []wentry
	spare       []wentry // the backing of the window before, reused
	shownType   rdb.Type
	shownStale  bool
	shownExists bool
	ageAt       int64 // Unix ms when the oldest shown entry leaves by MaxAge; 0: never
}

// Assembler folds monitor batches into windows and delivers them to
// subscribers. Its methods are safe for concurrent use; it starts no
// goroutine.
type Assembler struct {
	mu    sync.Mutex
	cfg   Config
	specs []spec
	clock func() time.Time

	slots   map[slotKey]*slot
	dirty   []*slot
	entries int
	bytes   int64

	ready       bool  // a snapshot is complete
	unsure      bool  // changes were missed: keys created from now on are stale
	offset      int64 // after the last batch applied
	shownOffset int64 // of the last flush
	lastID      int64 // of the last flush
	gen         uint64
	lastFlush   time.Time
	nextAge     int64 // earliest slot ageAt, 0: none

	groups map[string]*group
	subs   map[*Subscription]struct{}

	// Batch scratch: the value RENAME/MOVE/COPY carries from its first
	// event to its second, the element LMOVE carries.
	carry    *value
	popped   []byte
	poppedOK bool
	now      int64

	// Scratch space of refresh.
	seen map[string]struct{}
	old  map[string][]byte

	st Stats
}

// Stats are an Assembler's counters.
type Stats struct {
	Keys         int    // keys held
	Stale        int    // of which flagged stale
	Entries      int    // entries held
	Bytes        int64  // bytes held (estimate)
	Evictions    uint64 // entries evicted for MaxEntries/MaxBytes
	Subscribers  int
	Groups       int    // distinct selections
	Messages     uint64 // messages accepted by sinks
	FreshUpdates uint64 // updates sent to subscribers that fell behind
	Refused      uint64 // Sends that returned false
}

// New returns an Assembler for cfg.
func New(cfg Config) (*Assembler, error) {
	if len(cfg.Windows) == 0 {
		return nil, fmt.Errorf("%w: no Windows", ErrConfig)
	}
	a := &Assembler{cfg: cfg, slots: make(map[slotKey]*slot), groups: make(map[string]*group),
		subs: make(map[*Subscription]struct{}), lastID: -1,
		seen: make(map[string]struct{}), old: make(map[string][]byte)}
	for i, w := range cfg.Windows {
		if w.Match == "" {
			return nil, fmt.Errorf("%w: Windows[%d]: empty Match", ErrConfig, i)
		}
		if w.Limit < 0 || w.MaxAge < 0 {
			return nil, fmt.Errorf("%w: Windows[%d]: negative Limit or MaxAge", ErrConfig, i)
		}
		if w.Limit == 0 {
			w.Limit = DefaultLimit
		}
		a.specs = append(a.specs, spec{Window: w, pat: []byte(w.Match)})
	}
	c := &a.cfg
	if c.MaxEntries < 0 || c.MaxBytes < 0 || c.MaxPendingBytes < 0 || c.Interval < 0 && c.Interval != AtOnce {
		return nil, fmt.Errorf("%w: negative bound or Interval", ErrConfig)
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	a.clock = c.Clock
	if a.clock == nil {
		a.clock = time.Now
	}
	return a, nil
}

func (a *Assembler) specFor(key []byte) *spec {
	for i := range a.specs {
		if glob.Match(a.specs[i].pat, key) {
			return &a.specs[i]
		}
	}
	return nil
}

// lookup returns the slot of a selected key, creating it; nil when no
// Window selects the key.
func (a *Assembler) lookup(db int, key []byte) *slot {
	if s := a.slots[slotKey{db, string(key)}]; s != nil {
		return s
	}
	sp := a.specFor(key)
	if sp == nil {
		return nil
	}
	s := &slot{slotKey: slotKey{db, string(key)}, spec: sp}
	a.slots[s.slotKey] = s
	a.markDirty(s)
	return s
}

func (a *Assembler) markDirty(s *slot) {
	if !s.dirty {
		s.dirty = true
		a.dirty = append(a.dirty, s)
	}
}

func keyBytes(s *slot) int64 { return int64(len(s.key)) + keyOverhead }

// setVal replaces the slot's value (nil deletes the key).
func (a *Assembler) setVal(s *slot, v *value) {
	if s.val != nil {
		a.entries -= s.val.n
		a.bytes -= s.val.bytes + keyBytes(s)
	}
	if v != nil {
		a.entries += v.n
		a.bytes += v.bytes + keyBytes(s)
	}
	s.val = v
	s.cleared = true
	a.markDirty(s)
}

// Apply folds one batch of a monitor subscriber into the windows (see the
// package documentation). With Interval AtOnce it delivers the batch's
// deltas before it returns.
func (a *Assembler) Apply(b *monitor.Batch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock()
	a.now = now.UnixMilli()
	a.carry, a.popped, a.poppedOK = nil, nil, false
	for i := range b.Events {
		a.event(&b.Events[i], b)
	}
	a.carry, a.popped = nil, nil
	a.offset = b.Offset
	a.enforce()
	if a.ready && a.cfg.Interval == AtOnce {
		a.flush(now)
	}
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
			v := newValue(en.Type, a.now)
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
	v.mtime = a.now
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
		a.carry = nil
		if s == nil || s.val == nil {
			return // not held: the destination becomes unknown
		}
		a.carry = s.val
		if e.Op == monitor.OpCopyFrom {
			a.carry = s.val.clone()
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
		v := a.carry
		if v == nil {
			v = newValue(0, a.now)
			v.stale = true
		}
		a.carry = nil
		a.setVal(s, v)
		return
	}
	if (e.Op == monitor.OpLPop || e.Op == monitor.OpRPop) && e.Other != nil {
		a.popped, a.poppedOK = nil, false
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
		v := newValue(rdb.TypeString, a.now)
		v.setStr([]byte(string(e.Value)))
		a.setVal(s, v)
		return
	case monitor.OpOther:
		// Without a view the change cannot be followed: the key is unknown
		// (it may be one the command only read).
		if s.val == nil {
			v := newValue(e.Type, a.now)
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
		v := newValue(e.Op.Type(), a.now)
		v.stale = a.unsure
		a.setVal(s, v)
	} else if s.val.typ == 0 {
		// An unknown value takes the type of what is done to it.
		v := newValue(e.Op.Type(), a.now)
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
		a.popped, a.poppedOK = nil, false
		if len(v.list) > 0 && !v.cut {
			a.poppedOK = !v.stale
			if e.Op == monitor.OpLPop {
				a.popped = v.list[0]
			} else {
				a.popped = v.list[len(v.list)-1]
			}
		}
		if v.cut {
			return false
		}
		return v.applyList(e)
	case monitor.OpLPush, monitor.OpRPush:
		if a.popped == nil || v.cut {
			return false
		}
		el := a.popped
		a.popped = nil
		ev := *e
		ev.Elems = [][]byte{el}
		ok := v.applyList(&ev)
		return ok && a.poppedOK
	}
	return v.apply(e)
}

// enforce evicts the oldest entries until the totals fit the bounds.
func (a *Assembler) enforce() {
	for a.entries > a.cfg.MaxEntries || a.bytes > a.cfg.MaxBytes {
		var oldest *slot
		best, second := math.Inf(1), math.Inf(1)
		for _, s := range a.slots {
			if s.val == nil {
				continue
			}
			switch t := s.val.age(); {
			case t < best:
				second, best, oldest = best, t, s
			case t < second:
				second = t
			}
		}
		if oldest == nil {
			return
		}
		v := oldest.val
		for (a.entries > a.cfg.MaxEntries || a.bytes > a.cfg.MaxBytes) && v.n > 0 && v.age() <= second {
			n, b := v.n, v.bytes
			v.evict(oldest.spec.FromHead)
			a.entries += v.n - n
			a.bytes += v.bytes - b
			a.st.Evictions++
		}
		a.markDirty(oldest)
	}
}

// Tick delivers the deltas of the interval when it has elapsed (and the
// windows that MaxAge changed), and retries the subscribers whose Sink
// refused messages. Call it about every Interval.
func (a *Assembler) Tick() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock()
	iv := max(a.cfg.Interval, 0)
	if a.ready && now.Sub(a.lastFlush) >= iv {
		a.flush(now)
	}
	for s := range a.subs {
		a.retry(s)
	}
}

// ageWindows marks dirty the slots whose shown windows MaxAge changes by
// now.
func (a *Assembler) ageWindows(now int64) {
	if a.nextAge == 0 || now < a.nextAge {
		return
	}
	for _, s := range a.slots {
		if s.ageAt != 0 && s.ageAt <= now {
			a.markDirty(s)
		}
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
		w = window(s.val, s.spec, now, s.spare, a.seen)
		typ, stale = s.val.typ, s.val.stale
	}
	var d []byte
	if withDelta && (exists || s.shownExists) {
		d = delta(s, w, exists, typ, stale, a.old)
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
	a.lastFlush = now
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
	a.gen++
	a.shownOffset = a.offset
	a.lastID = max(a.offset, a.lastID+1)
	for _, g := range a.groups {
		var m []byte
		for _, d := range ds {
			if !g.match(d.key) {
				continue
			}
			if m == nil {
				m = fmt.Appendf(nil, `{"offset":%d,"deltas":[`, a.shownOffset)
			} else {
				m = append(m, ',')
			}
			m = append(m, d.enc...)
		}
		if m == nil {
			continue
		}
		msg := Message{Event: "dUpdates", ID: a.lastID, Data: append(m, "]}"...)}
		a.record(g, msg)
		for _, s := range g.subs {
			a.deliver(s, msg)
		}
	}
}

func (a *Assembler) computeNextAge() {
	a.nextAge = 0
	for _, s := range a.slots {
		if s.ageAt != 0 && (a.nextAge == 0 || s.ageAt < a.nextAge) {
			a.nextAge = s.ageAt
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
	a.lastFlush = now
	a.gen++
	a.shownOffset = a.offset
	a.lastID = max(a.offset, a.lastID+1)
	for _, g := range a.groups {
		g.hist, g.histFloor = nil, a.lastID
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
	if g.updGen == a.gen && g.upd.Data != nil {
		return g.upd
	}
	m := fmt.Appendf(nil, `{"offset":%d,"windows":[`, a.shownOffset)
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
	g.upd = Message{Event: "updates", ID: a.lastID, Data: append(m, "]}"...)}
	g.updGen = a.gen
	return g.upd
}

// Stats returns the counters.
func (a *Assembler) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	for _, s := range a.slots {
		if s.val != nil {
			st.Keys++
			if s.val.stale {
				st.Stale++
			}
		}
	}
	st.Entries, st.Bytes = a.entries, a.bytes
	st.Subscribers, st.Groups = len(a.subs), len(a.groups)
	return st
}
