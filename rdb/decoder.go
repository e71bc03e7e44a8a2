package rdb

import (
	"bufio"
	"context"
	"io"
	"iter"
)

// Decoder reads one RDB snapshot record by record. It is not safe for
// concurrent use.
type Decoder struct {
	cfg   config
	r     reader
	arena arena // the strings of the current record
	err   error // sticky
	file  fileState
	pre   keyOpcodes
	key   keyState
	rec   records
}

// fileState is where the decoder stands in the file.
type fileState struct {
	version int
	magic   string
	valkey  bool
	started bool // the header was read
	done    bool // the End record was returned
	closed  bool
	db      int // of the keys that follow
}

// keyOpcodes are the opcodes read ahead of a key's type byte: its expiry,
// LRU idle time and LFU frequency.
type keyOpcodes struct {
	start  int64 // where the key's record starts: its first opcode
	expire int64
	idle   int64
	freq   int
	seen   bool // one was read since the last key
}

// keyState is the key being decoded: its name, the iterator that hands its
// value out in chunks (one per layout, reused from key to key) and the
// buffers of the current chunk.
type keyState struct {
	name   []byte    // copied out of the arena: it outlives every chunk
	cur    valueIter // nil between keys
	count  countIter
	blob   blobIter
	quick  quickIter
	stream streamIter
	buf    []byte   // the encoded value (listpack, ziplist ...) being read
	slab   [][]byte // stream entry fields of the current chunk
}

// records are the values Next hands out, one of each kind, reused.
type records struct {
	hdr  Header
	aux  Aux
	sel  SelectDB
	rsz  ResizeDB
	slot SlotInfo
	simp SlotImport
	fn   Function
	maux ModuleAux
	ent  Entry
	end  End
	strm Stream
	meta StreamMeta
	mod  Module
}

// NewDecoder returns a decoder reading a snapshot from r. It reads nothing
// until the first call to Next. Pass a [*bufio.Reader] for speed: the
// decoder then leaves any bytes after the snapshot in it (see the package
// documentation).
func NewDecoder(r io.Reader, opts ...Option) (*Decoder, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if r == nil {
		return nil, errNilReader
	}
	d := &Decoder{cfg: cfg}
	if br, ok := r.(*bufio.Reader); ok {
		d.r.br = br
	} else {
		d.r.raw = r
	}
	d.pre.reset()
	return d, nil
}

// Next returns the next record. After the [*End] record it returns io.EOF.
// The record and every slice in it are valid until the next call. ctx is
// checked between records; a read blocked in the underlying reader is not
// interrupted by it (close the reader to unblock it). After an error, Next
// keeps returning that error.
func (d *Decoder) Next(ctx context.Context) (Record, error) {
	if d.file.closed {
		return nil, ErrClosed
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec, err := d.next()
	if err != nil {
		d.err = err
		d.key.cur = nil
	}
	return rec, err
}

// All returns an iterator over the remaining records, ending after the
// [*End] record or at the first error, which it yields with a nil record.
func (d *Decoder) All(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := d.Next(ctx)
			if err == io.EOF {
				return
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// BytesRead returns the number of snapshot bytes consumed so far.
func (d *Decoder) BytesRead() int64 { return d.r.off }

// Version returns the RDB version and magic ("REDIS" or "VALKEY") once the
// header has been read, and 0 and "" before.
func (d *Decoder) Version() (int, string) { return d.file.version, d.file.magic }

// Close releases the decoder's buffers; later calls to Next return
// [ErrClosed]. It does not close the underlying reader. Close is idempotent.
func (d *Decoder) Close() error {
	d.file.closed = true
	d.key.cur = nil
	d.arena = arena{}
	d.key.buf, d.key.name, d.r.scratch = nil, nil, nil
	return nil
}
