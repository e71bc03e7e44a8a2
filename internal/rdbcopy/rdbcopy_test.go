package rdbcopy

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/rdb"
)

// entry builds the same entry every call, its slices in fresh arrays.
func entry() *rdb.Entry {
	b := func(s string) []byte { return []byte(s) }
	return &rdb.Entry{
		DB: 2, Key: b("key"), Type: rdb.TypeStream, Expire: 5, Chunk: 1, Last: true, Len: 9,
		Str:     b("str"),
		Elems:   [][]byte{b("e1"), b("e2")},
		Fields:  []rdb.Field{{Name: b("f"), Value: b("v"), Expire: 3}},
		Members: []rdb.Member{{Name: b("m"), Score: 2.5}},
		Stream: &rdb.Stream{
			Entries: []rdb.StreamEntry{{ID: rdb.StreamID{Ms: 1, Seq: 2}, Fields: [][]byte{b("a"), b("1")}}},
			Meta: &rdb.StreamMeta{Length: 1, Groups: []rdb.StreamGroup{{
				Name: b("g"), EntriesRead: 1,
				PEL:       []rdb.StreamPending{{ID: rdb.StreamID{Ms: 1, Seq: 2}, DeliveryCount: 1}},
				Consumers: []rdb.StreamConsumer{{Name: b("c"), PEL: []rdb.StreamID{{Ms: 1, Seq: 2}}}},
			}}},
		},
		Module: &rdb.Module{ID: 7, Name: "mod", Raw: b("raw")},
	}
}

// scribble overwrites every byte the entry's slices reach.
func scribble(e *rdb.Entry) {
	x := func(p []byte) {
		for i := range p {
			p[i] = 'x'
		}
	}
	x(e.Key)
	x(e.Str)
	for _, p := range e.Elems {
		x(p)
	}
	for _, f := range e.Fields {
		x(f.Name)
		x(f.Value)
	}
	for _, m := range e.Members {
		x(m.Name)
	}
	for _, se := range e.Stream.Entries {
		for _, p := range se.Fields {
			x(p)
		}
	}
	for _, g := range e.Stream.Meta.Groups {
		x(g.Name)
		g.PEL[0].DeliveryCount = 99
		for _, c := range g.Consumers {
			x(c.Name)
			c.PEL[0].Seq = 99
		}
	}
	x(e.Module.Raw)
}

func TestEntry(t *testing.T) {
	vecs, bytes := Size(entry())
	// Two elements and two stream fields; their bytes, key, string, hash
	// field and member go to the allocator.
	require.Equal(t, 4, vecs)
	require.Equal(t, 3+3+4+2+1+2, bytes)
	// A heap with room for all of it, and one with none.
	for _, h := range []*Heap{NewHeap(vecs, bytes), NewHeap(0, 0)} {
		src := entry()
		c, n := Entry(h, src)
		require.Equal(t, bytes+3, n) // and the module's raw value
		scribble(src)
		require.Equal(t, entry(), c)
		require.Equal(t, len(c.Key), cap(c.Key))
	}
}
