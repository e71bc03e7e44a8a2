package monitor

import "github.com/redtap/redtap/rdb"

// The memory of batches (the bytes copied from the source, argument
// vectors, events, batches) is carved from blocks. A block is counted:
// one reference while it is the arena's current block, one per batch in it
// queued for or held by a subscriber (held: returned by Next, until the
// next call). When the count drops to zero the block goes back to the
// arena and is reused, so that a monitor in its steady state allocates
// nothing. A batch too big for a block is allocated on its own and left to
// the garbage collector. Everything here runs under Monitor.mu (or by the
// pump holder, for the current block).
type block struct {
	events  []Event
	args    [][]byte
	bytes   []byte
	batches []Batch
	refs    int
	full    bool // a batch's bytes did not fit: take the next block
}

const (
	eventSlab = 256
	argSlab   = 1024
	byteSlab  = 64 << 10
	maxFree   = 16 // blocks kept for reuse (about 3 MiB)
)

func newBlock() *block {
	return &block{
		events:  make([]Event, 0, eventSlab),
		args:    make([][]byte, 0, argSlab),
		bytes:   make([]byte, 0, byteSlab),
		batches: make([]Batch, 0, eventSlab),
	}
}

// room reports whether b has room for events, args and bytes.
func (b *block) room(events, args, bytes int) bool {
	return !b.full && cap(b.events)-len(b.events) >= events && cap(b.args)-len(b.args) >= args &&
		cap(b.bytes)-len(b.bytes) >= bytes && len(b.batches) < cap(b.batches)
}

// copyBytes returns a copy of p in b, which must have room.
func (b *block) copyBytes(p []byte) []byte {
	i := len(b.bytes)
	b.bytes = append(b.bytes, p...)
	return b.bytes[i:len(b.bytes):len(b.bytes)]
}

// vec returns n byte slices of b, which must have room.
func (b *block) vec(n int) [][]byte {
	i := len(b.args)
	b.args = b.args[:i+n]
	return b.args[i : i+n : i+n]
}

type arena struct {
	cur  *block
	free []*block
}

// reserve returns a block with room for a batch of events, args and
// bytes, or nil when it would not fit in an empty one.
func (a *arena) reserve(events, args, bytes int) *block {
	if events > eventSlab || args > argSlab || bytes > byteSlab {
		return nil
	}
	if a.cur != nil && a.cur.room(events, args, bytes) {
		return a.cur
	}
	if a.cur != nil {
		a.release(a.cur)
	}
	if n := len(a.free); n > 0 {
		a.cur = a.free[n-1]
		a.free[n-1] = nil
		a.free = a.free[:n-1]
	} else {
		a.cur = newBlock()
	}
	a.cur.refs = 1
	return a.cur
}

// release drops a reference to blk, recycling it at zero.
func (a *arena) release(blk *block) {
	blk.refs--
	if blk.refs > 0 || len(a.free) >= maxFree {
		return
	}
	blk.events = blk.events[:0]
	blk.args = blk.args[:0]
	blk.bytes = blk.bytes[:0]
	blk.batches = blk.batches[:0]
	blk.full = false
	a.free = append(a.free, blk)
}

// batch returns a new batch in blk, or on the heap for a nil blk or one
// without room.
func (a *arena) batch(blk *block) *Batch {
	if blk == nil || len(blk.batches) == cap(blk.batches) {
		return &Batch{}
	}
	blk.batches = blk.batches[:len(blk.batches)+1]
	b := &blk.batches[len(blk.batches)-1]
	*b = Batch{blk: blk}
	return b
}

// events returns n events in blk, or on the heap.
func (a *arena) events(blk *block, n int) []Event {
	if blk == nil || cap(blk.events)-len(blk.events) < n {
		return make([]Event, n)
	}
	i := len(blk.events)
	blk.events = blk.events[:i+n]
	return blk.events[i : i+n : i+n]
}

// copyArgs returns a copy of args and their bytes in blk, or on the heap
// for a nil blk or when the bytes do not fit (the block is then marked
// full), and the bytes copied.
func (a *arena) copyArgs(blk *block, args [][]byte) ([][]byte, int64) {
	var size int64
	if blk != nil {
		nargs, nbytes := argsSize(args)
		if !blk.room(0, nargs, nbytes) {
			blk.full = true
			blk = nil
		}
	}
	if blk == nil {
		v := make([][]byte, len(args))
		for i, p := range args {
			v[i] = append([]byte(nil), p...)
			size += int64(len(p))
		}
		return v, size
	}
	v := blk.vec(len(args))
	for i, p := range args {
		v[i] = blk.copyBytes(p)
		size += int64(len(p))
	}
	return v, size
}

// argsSize returns the number of args and of bytes in them.
func argsSize(args [][]byte) (int, int) {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	return len(args), n
}

// entrySize returns the byte slices and bytes an entry's copy needs.
func entrySize(e *rdb.Entry) (vecs, bytes int) {
	bytes = len(e.Key) + len(e.Str)
	vecs = len(e.Elems)
	for _, b := range e.Elems {
		bytes += len(b)
	}
	for _, f := range e.Fields {
		bytes += len(f.Name) + len(f.Value)
	}
	for _, m := range e.Members {
		bytes += len(m.Name)
	}
	if e.Stream != nil {
		for _, se := range e.Stream.Entries {
			vecs += len(se.Fields)
			for _, b := range se.Fields {
				bytes += len(b)
			}
		}
	}
	return vecs, bytes
}

// copier copies into a block with room, or on the heap.
type copier struct{ blk *block }

func (c copier) bytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	if c.blk == nil {
		return append([]byte{}, p...)
	}
	return c.blk.copyBytes(p)
}

func (c copier) vec(n int) [][]byte {
	if c.blk == nil {
		return make([][]byte, n)
	}
	return c.blk.vec(n)
}

// copyEntry returns a deep copy of a snapshot entry, and its size in
// bytes. Key, values and vectors go to blk (which has room for what
// entrySize counts) or the heap; the entry and its structures to the heap.
func copyEntry(blk *block, e *rdb.Entry) (*rdb.Entry, int64) {
	a := copier{blk}
	c := *e
	_, size := entrySize(e)
	c.Key = a.bytes(e.Key)
	c.Str = a.bytes(e.Str)
	if e.Elems != nil {
		c.Elems = a.vec(len(e.Elems))
		for i, b := range e.Elems {
			c.Elems[i] = a.bytes(b)
		}
	}
	if e.Fields != nil {
		c.Fields = make([]rdb.Field, len(e.Fields))
		for i, f := range e.Fields {
			c.Fields[i] = rdb.Field{Name: a.bytes(f.Name), Value: a.bytes(f.Value), Expire: f.Expire}
		}
	}
	if e.Members != nil {
		c.Members = make([]rdb.Member, len(e.Members))
		for i, m := range e.Members {
			c.Members[i] = rdb.Member{Name: a.bytes(m.Name), Score: m.Score}
		}
	}
	if e.Stream != nil {
		c.Stream = copyStream(a, e.Stream)
	}
	if e.Module != nil {
		m := *e.Module
		m.Raw = append([]byte(nil), m.Raw...)
		c.Module = &m
		size += len(m.Raw)
	}
	return &c, int64(size)
}

func copyStream(a copier, s *rdb.Stream) *rdb.Stream {
	c := &rdb.Stream{}
	if s.Entries != nil {
		c.Entries = make([]rdb.StreamEntry, len(s.Entries))
		for i, se := range s.Entries {
			f := a.vec(len(se.Fields))
			for j, b := range se.Fields {
				f[j] = a.bytes(b)
			}
			c.Entries[i] = rdb.StreamEntry{ID: se.ID, Fields: f}
		}
	}
	if s.Meta != nil {
		m := *s.Meta
		if s.Meta.Groups != nil {
			m.Groups = make([]rdb.StreamGroup, len(s.Meta.Groups))
			for i, g := range s.Meta.Groups {
				g.Name = append([]byte(nil), g.Name...)
				g.PEL = append([]rdb.StreamPending(nil), g.PEL...)
				if g.Consumers != nil {
					cons := make([]rdb.StreamConsumer, len(g.Consumers))
					for j, cn := range g.Consumers {
						cn.Name = append([]byte(nil), cn.Name...)
						cn.PEL = append([]rdb.StreamID(nil), cn.PEL...)
						cons[j] = cn
					}
					g.Consumers = cons
				}
				m.Groups[i] = g
			}
		}
		c.Meta = &m
	}
	return c
}
