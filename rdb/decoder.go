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
	cfg config
	r   reader

	version int
	magic   string
	valkey  bool
	started bool
	done    bool
	closed  bool
	err     error // sticky
	db      int

	// pending per-key opcodes
	keyStart int64
	expire   int64
	idle     int64
	freq     int
	havePre  bool

	cur      valueIter // the key being delivered in chunks, or nil
	itCount  countIter
	itBlob   blobIter
	itQuick  quickIter
	itStream streamIter
	keyb     []byte
	arena    arena
	blob     []byte   // listpack/ziplist/intset bytes of the current key
	slab     [][]byte // stream entry fields of the current chunk

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
	d.resetKey()
	return d, nil
}

// Next returns the next record. After the [*End] record it returns io.EOF.
// The record and every slice in it are valid until the next call. ctx is
// checked between records; a read blocked in the underlying reader is not
// interrupted by it (close the reader to unblock it). After an error, Next
// keeps returning that error.
func (d *Decoder) Next(ctx context.Context) (Record, error) {
	if d.closed {
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
		d.cur = nil
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
func (d *Decoder) Version() (int, string) { return d.version, d.magic }

// Close releases the decoder's buffers; later calls to Next return
// [ErrClosed]. It does not close the underlying reader. Close is idempotent.
func (d *Decoder) Close() error {
	d.closed = true
	d.cur = nil
	d.arena = arena{}
	d.blob, d.keyb, d.r.scratch = nil, nil, nil
	return nil
}
