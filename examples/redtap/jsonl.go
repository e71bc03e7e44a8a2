package main

import (
	"io"

	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// jsonlWriter writes one JSON object per line, in the format package jsonl
// documents: one per key (the format of the conformance corpus,
// rdb-corpus/MANIFEST.md, "Layout and formats"), one per aux field,
// function and module aux data, and for the tap one per
// (re)synchronisation and one per command.
type jsonlWriter struct {
	o   out
	enc jsonl.Encoder
}

func newJSONLWriter(w io.Writer, cfg writerConfig) *jsonlWriter {
	return &jsonlWriter{o: newOut(w), enc: jsonl.Encoder{KeepEmpty: cfg.KeepEmpty}}
}

func (w *jsonlWriter) Flush() error { return w.o.flush() }

func (w *jsonlWriter) Record(rec rdb.Record) error {
	w.o.buf = w.enc.AppendRecord(w.o.buf, rec)
	return w.o.spill()
}

func (w *jsonlWriter) Sync(s *replica.Sync) error {
	w.o.buf = w.enc.AppendSync(w.o.buf, s)
	return w.o.spill()
}

func (w *jsonlWriter) Command(c *replica.Command) error {
	w.o.buf = w.enc.AppendCommand(w.o.buf, c.DB, c.Offset, c.Args)
	return w.o.spill()
}

func (w *jsonlWriter) Transaction(tx *replica.Transaction, cmds []replica.Command) error {
	w.o.buf = w.enc.AppendTransaction(w.o.buf, tx, cmds)
	return w.o.spill()
}
