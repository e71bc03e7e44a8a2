package assembler

import (
	"errors"
	"sync"
	"time"

	"github.com/redtap/redtap/rdb"
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

	ready  bool       // a snapshot is complete
	unsure bool       // changes were missed: keys created from now on are stale
	offset int64      // after the last batch applied
	shown  shownState // what the last flush showed

	groups map[string]*group
	subs   map[*Subscription]struct{}

	batch   batchState   // scratch of Apply
	scratch flushScratch // scratch of refresh

	st Stats
}

// shownState is what the last flush showed subscribers.
type shownState struct {
	offset  int64     // the offset of the windows shown
	lastID  int64     // the ID of the last message
	gen     uint64    // grows whenever the shown state changes (updates are cached per gen)
	at      time.Time // when the last flush ran
	nextAge int64     // earliest slot ageAt, 0: none
}

// batchState is what Apply carries from one event of a batch to the next.
type batchState struct {
	now int64 // Unix ms of the clock when the batch came
	// carry is the value RENAME/MOVE/COPY carries from its first event to
	// its second; popped the element LMOVE carries (poppedOK: known, not
	// stale).
	carry    *value
	popped   []byte
	poppedOK bool
}

// flushScratch is the scratch space of refresh, kept between flushes.
type flushScratch struct {
	seen map[string]struct{}
	old  map[string][]byte
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
