package main

import (
	"bufio"
	"fmt"
	"io"

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
