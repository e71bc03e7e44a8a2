package keyspace

import (
	"fmt"
	"strconv"
	"strings"
)

// entry is one notification in the history, with both channels it is
// published on, or a marker (a full resynchronisation of the tap).
type entry struct {
	replID   string
	offset   int64 // replication offset after the command's batch
	idx      int   // index of the notification in its batch
	marker   bool  // a full resync: what came before is another history
	db       int
	event    string
	key      []byte
	keyspace []byte // __keyspace@<db>__:<key>
	keyevent []byte // __keyevent@<db>__:<event>
	size     int64  // bytes accounted for the entry
}

// pubID returns the position of one of the entry's two publications,
// "<offset>-<index>": the index counts the publications of the batch, the
// keyspace one (half 0) then the keyevent one (half 1) of each notification.
func (e *entry) pubID(half int) string {
	return strconv.FormatInt(e.offset, 10) + "-" + strconv.Itoa(2*e.idx+half)
}

// end returns the publication index that ends the entry (allIdx for a
// marker, which ends its batch).
func (e *entry) end() int {
	if e.idx == allIdx {
		return allIdx
	}
	return 2*e.idx + 1
}

// entryOverhead is what an entry costs beside its bytes.
const entryOverhead = 96

func newEntry(replID string, offset int64, idx int, n Notification) entry {
	db := strconv.Itoa(n.DB)
	b := make([]byte, 0, 2*(len("__keyspace@__:")+len(db))+2*len(n.Key)+len(n.Event))
	b = append(b, "__keyspace@"...)
	b = append(b, db...)
	b = append(b, "__:"...)
	b = append(b, n.Key...)
	ks := b[:len(b):len(b)]
	key := ks[len(ks)-len(n.Key):]
	b = append(b, "__keyevent@"...)
	b = append(b, db...)
	b = append(b, "__:"...)
	b = append(b, n.Event...)
	ke := b[len(ks):]
	return entry{replID: replID, offset: offset, idx: idx, db: n.DB, event: n.Event,
		key: key, keyspace: ks, keyevent: ke, size: int64(cap(b)) + entryOverhead}
}

// position is a point in the notification stream: after the publication
// idx of the batch ending at offset (see entry.pubID), or after the whole
// batch when idx is allIdx.
type position struct {
	replID string
	offset int64
	idx    int
}

const allIdx = int(^uint(0) >> 1)

func (p position) after(e *entry) bool {
	return p.offset > e.offset || p.offset == e.offset && p.idx >= e.end()
}

func (p position) id() string {
	if p.idx == allIdx {
		return strconv.FormatInt(p.offset, 10)
	}
	return strconv.FormatInt(p.offset, 10) + "-" + strconv.Itoa(p.idx)
}

// parsePosition parses FROM's arguments: a replication id and
// "<offset>[-<index>]".
func parsePosition(replID, id []byte) (position, error) {
	p := position{replID: string(replID), idx: allIdx}
	if len(replID) != 40 {
		return p, fmt.Errorf("%w: replication id %q: want 40 characters", ErrSyntax, shorten(replID))
	}
	s := string(id)
	off, idx, hasIdx := strings.Cut(s, "-")
	var err error
	if p.offset, err = strconv.ParseInt(off, 10, 64); err != nil || p.offset < 0 {
		return p, fmt.Errorf("%w: offset %q: want <offset>[-<index>]", ErrSyntax, shorten(id))
	}
	if hasIdx {
		if p.idx, err = strconv.Atoi(idx); err != nil || p.idx < 0 {
			return p, fmt.Errorf("%w: offset %q: want <offset>[-<index>]", ErrSyntax, shorten(id))
		}
	}
	return p, nil
}

func shorten(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// history is the bounded log of notifications, shared by every session as
// its queue: a session is a cursor into it. Sequence numbers grow forever;
// the log holds [tail, head). Guarded by Face.mu.
type history struct {
	ring     []entry
	tail     uint64
	head     uint64
	bytes    int64 // bytes of the entries held
	maxBytes int64
	cum      []int64 // cum[seq%len]: bytes appended before entry seq
	total    int64   // bytes appended since the start
	// floor: every notification after it is in the log; zero replID:
	// nothing before the first batch is covered.
	floor position
	// last is the position after the last batch read (where a new
	// subscription starts).
	last position
}

func newHistory(n int, maxBytes int64) *history {
	return &history{ring: make([]entry, n), cum: make([]int64, n), maxBytes: maxBytes}
}

func (h *history) at(seq uint64) *entry { return &h.ring[seq%uint64(len(h.ring))] }

// bytesSince returns the bytes of the entries from seq to the head.
func (h *history) bytesSince(seq uint64) int64 {
	if seq >= h.head {
		return 0
	}
	if seq < h.tail {
		seq = h.tail
	}
	return h.total - h.cum[seq%uint64(len(h.ring))]
}

// full reports whether appending e would evict the entry at the tail.
func (h *history) full(size int64) bool {
	return h.head-h.tail == uint64(len(h.ring)) || h.head > h.tail && h.bytes+size > h.maxBytes
}

// append adds e, evicting the oldest entries past the bounds.
func (h *history) append(e entry) {
	for h.head > h.tail && (h.head-h.tail == uint64(len(h.ring)) || h.bytes+e.size > h.maxBytes) {
		h.evict()
	}
	i := h.head % uint64(len(h.ring))
	h.cum[i] = h.total
	h.ring[i] = e
	h.head++
	h.bytes += e.size
	h.total += e.size
}

func (h *history) evict() {
	old := h.at(h.tail)
	h.floor = position{replID: old.replID, offset: old.offset, idx: old.end()}
	h.bytes -= old.size
	*old = entry{}
	h.tail++
}

// find returns the sequence number a subscription resuming after p starts
// at, or false when the log no longer (or not yet) covers p.
func (h *history) find(p position) (uint64, bool) {
	if p.replID == h.last.replID && p.offset > h.last.offset {
		return 0, false // ahead of the tap
	}
	for seq := h.head; seq > h.tail; seq-- {
		e := h.at(seq - 1)
		if e.replID == p.replID && p.after(e) {
			return seq, true
		}
	}
	if p.replID == h.last.replID && p.offset == h.last.offset {
		return h.head, true // after every entry, or a batch without any
	}
	if h.floor.replID != "" && p.replID == h.floor.replID &&
		(p.offset > h.floor.offset || p.offset == h.floor.offset && p.idx >= h.floor.idx) {
		return h.tail, true
	}
	return 0, false
}
