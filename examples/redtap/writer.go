package main

import (
	"bufio"
	"fmt"
	"io"
	"math"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// eventWriter renders what redtap reads in one output format, and owns
// all of that format's encoding. dump feeds it the records of a file
// (Record, then Flush); the tap feeds it the replica's events through a
// [tapWriter], which adds what every format shares on a live stream.
//
// Keys arrive as [*rdb.Entry] chunks (Chunk from 0, Last on the final one):
// a writer begins a key's record on its first element, appends every chunk's
// elements as they come and finishes the record on the Last chunk, so no key
// is ever held whole. Slices in an argument are only read during the call.
type eventWriter interface {
	// Sync starts a (re)synchronisation with a master.
	Sync(s *replica.Sync) error
	// Record renders one snapshot record. Records with nothing to show in
	// this format (headers, RESIZEDB hints ...) are ignored.
	Record(rec rdb.Record) error
	// Command renders one write of the command stream.
	Command(c *replica.Command) error
	// Transaction renders MULTI, cmds and EXEC. cmds are tx.Commands, or
	// those of them that the filter (--db, --match, --type) keeps; MULTI and EXEC are those
	// of the whole of tx.
	Transaction(tx *replica.Transaction, cmds []replica.Command) error
	// Flush writes everything buffered to the underlying writer.
	Flush() error
}

// writerConfig holds the options every format shares.
type writerConfig struct {
	// KeepEmpty writes keys whose collection has no element. Redis drops
	// such keys when it loads a file (they only occur in damaged files),
	// so by default they are skipped. The RESP format cannot create an
	// empty collection and always skips them.
	KeepEmpty bool
	// DBs are the only databases the output holds (--db), none for all.
	DBs []int
	// Match and Types select keys (--match, --type), none for all: the
	// snapshot's through the decoder (snapshotOptions), commands in the
	// tapWriter (see tapWriter.keep).
	Match []string
	Types []rdb.Type
	// Resumed says that the output continues an earlier run's (the tap
	// resumed from a checkpoint): even the first full sync replaces
	// something.
	Resumed bool
	// NoSnapshot says that full syncs bring no snapshot (tap --snapshot
	// skip): nothing would rebuild what they replace.
	NoSnapshot bool
}

// Output formats, as --format names them.
const (
	formatJSONL = "jsonl"
	formatRESP  = "resp"
	formatNone  = "none"
)

// formats are the output formats by --format name.
var formats = map[string]func(io.Writer, writerConfig) eventWriter{
	formatJSONL: func(w io.Writer, cfg writerConfig) eventWriter { return newJSONLWriter(w, cfg) },
	formatRESP:  func(w io.Writer, cfg writerConfig) eventWriter { return newRESPWriter(w, cfg) },
	formatNone:  func(io.Writer, writerConfig) eventWriter { return noneWriter{} },
}

// checkFormat reports an unknown --format name.
func checkFormat(format string) error {
	if _, ok := formats[format]; !ok {
		return fmt.Errorf("unknown --format %q (want jsonl, resp or none)", format)
	}
	return nil
}

// newEventWriter returns the writer of a format.
func newEventWriter(format string, w io.Writer, cfg writerConfig) (eventWriter, error) {
	if err := checkFormat(format); err != nil {
		return nil, err
	}
	return formats[format](w, cfg), nil
}

// noneWriter discards everything: --format none, which still decodes every
// value.
type noneWriter struct{}

func (noneWriter) Sync(*replica.Sync) error                                  { return nil }
func (noneWriter) Record(rdb.Record) error                                   { return nil }
func (noneWriter) Command(*replica.Command) error                            { return nil }
func (noneWriter) Transaction(*replica.Transaction, []replica.Command) error { return nil }
func (noneWriter) Flush() error                                              { return nil }

const (
	outBufSize = 256 << 10 // the bufio.Writer in front of stdout
	flushAt    = 32 << 10  // hand the scratch buffer over once it holds this much
)

// out is the append-style output both text formats share: records are
// appended to buf and handed to a 256 KiB bufio.Writer in large pieces. The
// first write error sticks.
type out struct {
	bw  *bufio.Writer
	buf []byte
	err error
}

func newOut(w io.Writer) out {
	return out{bw: bufio.NewWriterSize(w, outBufSize), buf: make([]byte, 0, 2*flushAt)}
}

// spill hands buf to the bufio.Writer once it is large.
func (o *out) spill() error {
	if len(o.buf) >= flushAt {
		return o.drain()
	}
	return o.err
}

func (o *out) drain() error {
	if o.err == nil && len(o.buf) > 0 {
		_, o.err = o.bw.Write(o.buf)
	}
	o.buf = o.buf[:0]
	return o.err
}

func (o *out) flush() error {
	if err := o.drain(); err != nil {
		return err
	}
	if o.err == nil {
		o.err = o.bw.Flush()
	}
	return o.err
}

// keyState follows one key across its chunks.
type keyState struct {
	db     int
	key    []byte // a copy: the entry's slices change with every chunk
	typ    rdb.Type
	enc    rdb.Encoding
	expire int64
	begun  bool  // the key's record or first command has been written
	multi  bool  // the value spans more than one chunk
	n      int64 // elements written so far

	// streams: the first live entry, from which Redis derives the first id
	// of streams stored before RDB type 19
	firstID   rdb.StreamID
	haveFirst bool
}

// follow starts over on a key's first chunk.
func (k *keyState) follow(e *rdb.Entry) {
	if e.Chunk == 0 {
		*k = keyState{db: e.DB, key: append(k.key[:0], e.Key...), typ: e.Type, enc: e.Encoding, expire: e.Expire}
	}
}

// chunkLen is the number of elements in one chunk of a collection.
func chunkLen(e *rdb.Entry) int {
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

// streamSummary is a stream's metadata as Redis holds it after loading:
// streams stored before RDB type 19 (Redis 7.0) carry no first id,
// max-deleted id or entries-added, and Redis derives them on load
// (rdb.c: entries_added = length, max_deleted_entry_id = 0-0, first_id =
// the first live entry, or UINT64_MAX-UINT64_MAX for an empty stream).
type streamSummary struct {
	length       uint64
	lastID       rdb.StreamID
	firstID      rdb.StreamID
	maxDeletedID rdb.StreamID
	entriesAdded uint64
	derived      bool // the fields above were derived, not read
}

func summarizeStream(k *keyState, m *rdb.StreamMeta) streamSummary {
	s := streamSummary{length: m.Length, lastID: m.LastID}
	if k.enc != rdb.EncStreamListpacks {
		s.firstID, s.maxDeletedID, s.entriesAdded = m.FirstID, m.MaxDeletedID, m.EntriesAdded
		return s
	}
	s.derived = true
	s.entriesAdded = m.Length
	if k.haveFirst {
		s.firstID = k.firstID
	} else {
		s.firstID = rdb.StreamID{Ms: math.MaxUint64, Seq: math.MaxUint64}
	}
	return s
}

// entriesRead returns a group's entries-read counter, or -1 when unknown.
// Type 19 and later store it; for older streams Redis estimates it on load
// from the group's last-delivered id (t_stream.c
// streamEstimateDistanceFromFirstEverEntry), and so does this.
func (s *streamSummary) entriesRead(g *rdb.StreamGroup) int64 {
	if !s.derived {
		return g.EntriesRead
	}
	const unknown = -1
	if s.entriesAdded == 0 {
		return 0
	}
	if s.length == 0 && g.LastID.Compare(s.lastID) < 1 {
		return int64(s.entriesAdded)
	}
	switch c := g.LastID.Compare(s.lastID); {
	case c == 0:
		return int64(s.entriesAdded)
	case c > 0:
		return unknown
	}
	zero := rdb.StreamID{}
	if s.maxDeletedID == zero || s.maxDeletedID.Compare(s.firstID) < 0 {
		switch g.LastID.Compare(s.firstID) {
		case -1:
			return int64(s.entriesAdded - s.length)
		case 0:
			return int64(s.entriesAdded - s.length + 1)
		}
	}
	return unknown
}

// groupPEL joins a group's pending-entries list with its consumers: the RDB
// stores the PEL (id, delivery time, count) once per group and only the ids
// under each consumer. owner[i] is the index of the consumer owning
// g.PEL[i], or -1; index maps a PEL id to its position in g.PEL.
type groupPEL struct {
	owner []int
	index map[rdb.StreamID]int
}

func (p *groupPEL) build(g *rdb.StreamGroup) {
	p.owner = p.owner[:0]
	if p.index == nil {
		p.index = make(map[rdb.StreamID]int)
	}
	clear(p.index)
	for i, pe := range g.PEL {
		p.owner = append(p.owner, -1)
		p.index[pe.ID] = i
	}
	for ci := range g.Consumers {
		for _, id := range g.Consumers[ci].PEL {
			if i, ok := p.index[id]; ok {
				p.owner[i] = ci
			}
		}
	}
}

// lookup returns the group PEL entry of a consumer's pending id.
func (p *groupPEL) lookup(g *rdb.StreamGroup, id rdb.StreamID) (*rdb.StreamPending, bool) {
	i, ok := p.index[id]
	if !ok {
		return nil, false
	}
	return &g.PEL[i], true
}
