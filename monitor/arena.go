package monitor

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

// copier copies into a block with room, or on the heap (an
// rdbcopy.Allocator).
type copier struct{ blk *block }

func (c copier) Bytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	if c.blk == nil {
		return append([]byte{}, p...)
	}
	return c.blk.copyBytes(p)
}

func (c copier) Vec(n int) [][]byte {
	if c.blk == nil {
		return make([][]byte, n)
	}
	return c.blk.vec(n)
}
