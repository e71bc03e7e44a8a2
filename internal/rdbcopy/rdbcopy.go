// Package rdbcopy deep-copies decoded snapshot entries out of the
// decoder's buffers (the slices of an rdb.Entry alias them until the next
// record), into memory an Allocator hands out: the monitor's batch blocks,
// or one array on the heap (the cluster tap's read-ahead).
package rdbcopy

import "github.com/redtap/redtap/rdb"

// Allocator hands out the memory of a copy.
type Allocator interface {
	// Bytes returns a copy of p, nil for nil.
	Bytes(p []byte) []byte
	// Vec returns n byte slices.
	Vec(n int) [][]byte
}

// Heap is an Allocator over one byte array and one vector array, sized
// with Size; past them it allocates.
type Heap struct {
	buf  []byte
	vecs [][]byte
}

// NewHeap returns a Heap with room for vecs slices and bytes bytes.
func NewHeap(vecs, bytes int) *Heap {
	return &Heap{buf: make([]byte, 0, bytes), vecs: make([][]byte, 0, vecs)}
}

// Bytes implements Allocator.
func (h *Heap) Bytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	if cap(h.buf)-len(h.buf) < len(p) {
		c := make([]byte, len(p))
		copy(c, p)
		return c
	}
	at := len(h.buf)
	h.buf = append(h.buf, p...)
	return h.buf[at:len(h.buf):len(h.buf)]
}

// Vec implements Allocator.
func (h *Heap) Vec(n int) [][]byte {
	if cap(h.vecs)-len(h.vecs) < n {
		return make([][]byte, n)
	}
	at := len(h.vecs)
	h.vecs = h.vecs[:at+n]
	return h.vecs[at : at+n : at+n]
}

// Size returns the byte slices and the bytes that Entry asks its
// Allocator for to copy e (a module's raw value is copied on the heap).
func Size(e *rdb.Entry) (vecs, bytes int) {
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

// Entry returns a deep copy of e, and its size in bytes. Key, values and
// vectors come from a (what Size counts); the entry and its other
// structures from the heap.
func Entry(a Allocator, e *rdb.Entry) (*rdb.Entry, int) {
	c := *e
	_, size := Size(e)
	c.Key = a.Bytes(e.Key)
	c.Str = a.Bytes(e.Str)
	if e.Elems != nil {
		c.Elems = a.Vec(len(e.Elems))
		for i, b := range e.Elems {
			c.Elems[i] = a.Bytes(b)
		}
	}
	if e.Fields != nil {
		c.Fields = make([]rdb.Field, len(e.Fields))
		for i, f := range e.Fields {
			c.Fields[i] = rdb.Field{Name: a.Bytes(f.Name), Value: a.Bytes(f.Value), Expire: f.Expire}
		}
	}
	if e.Members != nil {
		c.Members = make([]rdb.Member, len(e.Members))
		for i, m := range e.Members {
			c.Members[i] = rdb.Member{Name: a.Bytes(m.Name), Score: m.Score}
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
	return &c, size
}

func copyStream(a Allocator, s *rdb.Stream) *rdb.Stream {
	c := &rdb.Stream{}
	if s.Entries != nil {
		c.Entries = make([]rdb.StreamEntry, len(s.Entries))
		for i, se := range s.Entries {
			f := a.Vec(len(se.Fields))
			for j, b := range se.Fields {
				f[j] = a.Bytes(b)
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
