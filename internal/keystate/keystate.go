// Package keystate holds what the writers of redtap's output formats share
// about a key that arrives in chunks: the key being followed, its number of
// elements, and what a server derives when it loads a stream (its summary,
// the owners of pending entries).
package keystate

import (
	"math"

	"github.com/redtap/redtap/rdb"
)

// Key follows one key across its chunks.
type Key struct {
	DB     int
	Key    []byte // a copy: the entry's slices change with every chunk
	Type   rdb.Type
	Enc    rdb.Encoding
	Expire int64
	Begun  bool  // the key's record or first command has been written
	Multi  bool  // the value spans more than one chunk
	N      int64 // elements written so far

	// streams: the first live entry, from which Redis derives the first id
	// of streams stored before RDB type 19
	FirstID   rdb.StreamID
	HaveFirst bool
}

// Follow starts over on a key's first chunk.
func (k *Key) Follow(e *rdb.Entry) {
	if e.Chunk == 0 {
		*k = Key{DB: e.DB, Key: append(k.Key[:0], e.Key...), Type: e.Type, Enc: e.Encoding, Expire: e.Expire}
	}
}

// ChunkLen is the number of elements in one chunk of a collection.
func ChunkLen(e *rdb.Entry) int {
	switch e.Type {
	case rdb.TypeList, rdb.TypeSet:
		return len(e.Elems)
	case rdb.TypeZSet:
		return len(e.Members)
	case rdb.TypeHash:
		return len(e.Fields)
	case rdb.TypeStream:
		if e.Stream != nil {
			return len(e.Stream.Entries)
		}
	}
	return 0
}

// StreamSummary is a stream's metadata as Redis holds it after loading:
// streams stored before RDB type 19 (Redis 7.0) carry no first id,
// max-deleted id or entries-added, and Redis derives them on load
// (rdb.c: entries_added = length, max_deleted_entry_id = 0-0, first_id =
// the first live entry, or UINT64_MAX-UINT64_MAX for an empty stream).
type StreamSummary struct {
	Length       uint64
	LastID       rdb.StreamID
	FirstID      rdb.StreamID
	MaxDeletedID rdb.StreamID
	EntriesAdded uint64
	Derived      bool // the fields above were derived, not read
}

// Summarize returns the summary of the stream k follows, whose metadata is
// m (on its last chunk).
func Summarize(k *Key, m *rdb.StreamMeta) StreamSummary {
	s := StreamSummary{Length: m.Length, LastID: m.LastID}
	if k.Enc != rdb.EncStreamListpacks {
		s.FirstID, s.MaxDeletedID, s.EntriesAdded = m.FirstID, m.MaxDeletedID, m.EntriesAdded
		return s
	}
	s.Derived = true
	s.EntriesAdded = m.Length
	if k.HaveFirst {
		s.FirstID = k.FirstID
	} else {
		s.FirstID = rdb.StreamID{Ms: math.MaxUint64, Seq: math.MaxUint64}
	}
	return s
}

// EntriesRead returns a group's entries-read counter, or -1 when unknown.
// Type 19 and later store it; for older streams Redis estimates it on load
// from the group's last-delivered id (t_stream.c
// streamEstimateDistanceFromFirstEverEntry), and so does this.
func (s *StreamSummary) EntriesRead(g *rdb.StreamGroup) int64 {
	if !s.Derived {
		return g.EntriesRead
	}
	const unknown = -1
	if s.EntriesAdded == 0 {
		return 0
	}
	if s.Length == 0 && g.LastID.Compare(s.LastID) < 1 {
		return int64(s.EntriesAdded)
	}
	switch c := g.LastID.Compare(s.LastID); {
	case c == 0:
		return int64(s.EntriesAdded)
	case c > 0:
		return unknown
	}
	zero := rdb.StreamID{}
	if s.MaxDeletedID == zero || s.MaxDeletedID.Compare(s.FirstID) < 0 {
		switch g.LastID.Compare(s.FirstID) {
		case -1:
			return int64(s.EntriesAdded - s.Length)
		case 0:
			return int64(s.EntriesAdded - s.Length + 1)
		}
	}
	return unknown
}

// PEL joins a group's pending-entries list with its consumers: the RDB
// stores the PEL (id, delivery time, count) once per group and only the ids
// under each consumer. owner[i] is the index of the consumer owning
// g.PEL[i], or -1; index maps a PEL id to its position in g.PEL.
type PEL struct {
	Owner []int
	index map[rdb.StreamID]int
}

func (p *PEL) Build(g *rdb.StreamGroup) {
	p.Owner = p.Owner[:0]
	if p.index == nil {
		p.index = make(map[rdb.StreamID]int)
	}
	clear(p.index)
	for i, pe := range g.PEL {
		p.Owner = append(p.Owner, -1)
		p.index[pe.ID] = i
	}
	for ci := range g.Consumers {
		for _, id := range g.Consumers[ci].PEL {
			if i, ok := p.index[id]; ok {
				p.Owner[i] = ci
			}
		}
	}
}

// Lookup returns the group PEL entry of a consumer's pending id.
func (p *PEL) Lookup(g *rdb.StreamGroup, id rdb.StreamID) (*rdb.StreamPending, bool) {
	i, ok := p.index[id]
	if !ok {
		return nil, false
	}
	return &g.PEL[i], true
}
