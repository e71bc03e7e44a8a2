package main

import (
	"encoding/base64"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// jsonlWriter writes one JSON object per line: one per key, in the format of
// the conformance corpus (rdb-corpus/MANIFEST.md, "Layout and formats"),
// plus records for aux fields, functions and module aux data, and for the
// tap one per (re)synchronisation and one per command:
//
//	{"kind":"key","db":0,"key":"k","type":"hash","expire_ms":null,"value":{"f":"v"}}
//	{"kind":"aux","key":"redis-ver","value":"7.0.15"}
//	{"kind":"function","code":"#!lua name=lib\n..."}
//	{"kind":"module_aux","module":"test__rdb","version":1,"when":2,"raw":{"base64":"..."}}
//	{"kind":"sync","mode":"full","replid":"...","offset":0,"reason":"..."}
//	{"kind":"cmd","db":0,"offset":1234,"args":["SET","k","v"],"keys":["k"]}
//
// Strings that are not valid UTF-8 are written as {"base64":"..."}. Zset
// scores are JSON numbers in their shortest round-trip form, or the strings
// "inf", "-inf" and "nan". Module values are
// {"module":"name","version":N,"raw":{"base64":"..."}} with the raw bytes
// after the module id (see rdb.Module).
//
// Hashes: a hash delivered in one chunk is a JSON object {field: value}, or
// {"pairs":[[f,v],...]} when a field name is not valid UTF-8, and its field
// TTLs are "field_expire_ms": {field: ms} (a list of [f, ms] pairs in the
// pairs form). Choosing the object form needs every field name up front, so
// a hash that spans several chunks (more fields than --chunk) always uses
// the pairs form, and a field with a TTL is written as [f, v, ms] there:
// the writer holds no more than one chunk of any key.
//
// A sync record's reason is there only when the master refused to resume.
// A cmd record's offset is the replication offset right after the command,
// and a transaction is a MULTI record, the commands and an EXEC record. A
// cmd record's "keys" are the keys the command touches, in the order
// COMMAND GETKEYS gives them (argument order: ZUNIONSTORE dst 2 a b has
// ["dst","a","b"]), as [monitor.AppendKeys] finds them: [] for a command
// without keys (PUBLISH, FLUSHALL), and no "keys" field at all when they
// cannot be told (a command the table does not know, or arguments that do
// not parse). MULTI and EXEC records have no "keys".
type jsonlWriter struct {
	o    out
	cfg  writerConfig
	k    keyState
	pel  groupPEL
	keys []monitor.KeyRef // scratch for a command's keys

	// per-key hash form, fixed on the key's first element
	pairs bool
}

func newJSONLWriter(w io.Writer, cfg writerConfig) *jsonlWriter {
	return &jsonlWriter{o: newOut(w), cfg: cfg}
}

func (w *jsonlWriter) Flush() error { return w.o.flush() }

func (w *jsonlWriter) Record(rec rdb.Record) error {
	b := w.o.buf
	switch r := rec.(type) {
	case *rdb.Entry:
		return w.entry(r)
	case *rdb.Aux:
		b = append(b, `{"kind":"aux","key":`...)
		b = appendJSONBytes(b, r.Key)
		b = append(b, `,"value":`...)
		b = appendJSONBytes(b, r.Value)
		b = append(b, "}\n"...)
	case *rdb.Function:
		b = append(b, `{"kind":"function","code":`...)
		b = appendJSONBytes(b, r.Code)
		b = append(b, "}\n"...)
	case *rdb.ModuleAux:
		b = append(b, `{"kind":"module_aux","module":`...)
		b = appendJSONString(b, r.Module.Name)
		b = append(b, `,"version":`...)
		b = strconv.AppendUint(b, r.Module.Version, 10)
		b = append(b, `,"when":`...)
		b = strconv.AppendUint(b, r.Module.When, 10)
		b = append(b, `,"raw":`...)
		b = appendBase64(b, r.Module.Raw)
		b = append(b, "}\n"...)
	default:
		return nil
	}
	w.o.buf = b
	return w.o.spill()
}

func (w *jsonlWriter) Sync(s *replica.Sync) error {
	b := append(w.o.buf, `{"kind":"sync","mode":"`...)
	b = append(b, s.Mode.String()...)
	b = append(b, `","replid":`...)
	b = appendJSONString(b, s.ReplID)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, s.Offset, 10)
	if s.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, s.Reason)
	}
	w.o.buf = append(b, "}\n"...)
	return w.o.spill()
}

func (w *jsonlWriter) Command(c *replica.Command) error {
	w.o.buf = w.appendCmd(w.o.buf, c.DB, c.Offset, c.Args, true)
	return w.o.spill()
}

func (w *jsonlWriter) Transaction(tx *replica.Transaction, cmds []replica.Command) error {
	b := w.appendCmd(w.o.buf, tx.DB, multiOffset(tx), argsMulti, false)
	for i := range cmds {
		b = w.appendCmd(b, cmds[i].DB, cmds[i].Offset, cmds[i].Args, true)
	}
	w.o.buf = w.appendCmd(b, execDB(tx), tx.Offset, argsExec, false)
	return w.o.spill()
}

// appendCmd appends one "cmd" record, with its "keys" when withKeys is set
// and they can be told.
func (w *jsonlWriter) appendCmd(b []byte, db int, off int64, args [][]byte, withKeys bool) []byte {
	b = append(b, `{"kind":"cmd","db":`...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, off, 10)
	b = append(b, `,"args":[`...)
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONBytes(b, a)
	}
	b = append(b, ']')
	if withKeys {
		var err error
		if w.keys, err = monitor.AppendKeys(w.keys[:0], args); err == nil {
			b = append(b, `,"keys":[`...)
			for i, k := range w.keys {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONBytes(b, args[k.Index])
			}
			b = append(b, ']')
		}
	}
	return append(b, "}\n"...)
}

// head writes the record up to and including `"value":`.
func (w *jsonlWriter) head(b []byte) []byte {
	k := &w.k
	b = append(b, `{"kind":"key","db":`...)
	b = strconv.AppendInt(b, int64(k.db), 10)
	b = append(b, `,"key":`...)
	b = appendJSONBytes(b, k.key)
	b = append(b, `,"type":"`...)
	b = append(b, k.typ.String()...)
	b = append(b, `","expire_ms":`...)
	if k.expire < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, k.expire, 10)
	}
	b = append(b, `,"value":`...)
	k.begun = true
	return b
}

func (w *jsonlWriter) entry(e *rdb.Entry) error {
	k := &w.k
	k.follow(e)
	b := w.o.buf
	switch e.Type {
	case rdb.TypeString, rdb.TypeModule:
		b = w.head(b)
		if e.Type == rdb.TypeString {
			b = appendJSONBytes(b, e.Str)
		} else {
			b = appendModule(b, e.Module)
		}
		w.o.buf = append(b, "}\n"...)
		return w.o.spill()
	case rdb.TypeStream:
		if !k.begun {
			b = w.head(b)
			b = append(b, '[')
		}
		b = w.streamEntries(b, e)
		if e.Last {
			b = append(b, ']')
			if e.Stream != nil && e.Stream.Meta != nil {
				b = w.streamMeta(b, e.Stream.Meta)
			}
			b = append(b, "}\n"...)
		}
		w.o.buf = b
		return w.o.spill()
	}

	n := chunkLen(e)
	if n > 0 && !k.begun {
		k.multi = e.Chunk > 0 || !e.Last
		b = w.open(b, e)
	}
	if n > 0 {
		b = w.elems(b, e)
	}
	if e.Last {
		if !k.begun {
			if !w.cfg.KeepEmpty {
				return nil
			}
			k.multi = false
			b = w.open(b, e)
		}
		b = w.close(b, e)
	}
	w.o.buf = b
	return w.o.spill()
}

// open writes the head of a collection's record and opens its value.
func (w *jsonlWriter) open(b []byte, e *rdb.Entry) []byte {
	b = w.head(b)
	if e.Type != rdb.TypeHash {
		return append(b, '[')
	}
	w.pairs = w.k.multi
	if !w.pairs {
		for i := range e.Fields {
			if !utf8.Valid(e.Fields[i].Name) {
				w.pairs = true
				break
			}
		}
	}
	if w.pairs {
		return append(b, `{"pairs":[`...)
	}
	return append(b, '{')
}

// sep appends the comma before each element of a value but the first.
func (w *jsonlWriter) sep(b []byte) []byte {
	if w.k.n > 0 {
		b = append(b, ',')
	}
	w.k.n++
	return b
}

func (w *jsonlWriter) elems(b []byte, e *rdb.Entry) []byte {
	k := &w.k
	switch e.Type {
	case rdb.TypeList, rdb.TypeSet:
		for _, s := range e.Elems {
			b = w.sep(b)
			b = appendJSONBytes(b, s)
		}
	case rdb.TypeZSet:
		for i := range e.Members {
			m := &e.Members[i]
			b = w.sep(b)
			b = append(b, '[')
			b = appendJSONBytes(b, m.Name)
			b = append(b, ',')
			b = appendScore(b, m.Score)
			b = append(b, ']')
		}
	case rdb.TypeHash:
		for i := range e.Fields {
			f := &e.Fields[i]
			b = w.sep(b)
			b = w.field(b, f.Name)
			b = appendJSONBytes(b, f.Value)
			if k.multi && f.Expire != 0 { // the pairs form
				b = append(b, ',')
				b = strconv.AppendInt(b, f.Expire, 10)
			}
			b = w.fieldEnd(b)
		}
	}
	return b
}

// field starts a hash entry of field name: [name, in the pairs form, name:
// in the object form. fieldEnd ends it.
func (w *jsonlWriter) field(b, name []byte) []byte {
	if w.pairs {
		b = append(b, '[')
	}
	b = appendJSONBytes(b, name)
	if w.pairs {
		return append(b, ',')
	}
	return append(b, ':')
}

func (w *jsonlWriter) fieldEnd(b []byte) []byte {
	if w.pairs {
		return append(b, ']')
	}
	return b
}

// close ends a collection's value and record. A hash in one chunk gets its
// field TTLs here, from the same chunk.
func (w *jsonlWriter) close(b []byte, e *rdb.Entry) []byte {
	if e.Type != rdb.TypeHash {
		return append(b, "]}\n"...)
	}
	if w.pairs {
		b = append(b, "]}"...)
	} else {
		b = append(b, '}')
	}
	if !w.k.multi {
		first := true
		for i := range e.Fields {
			f := &e.Fields[i]
			if f.Expire == 0 {
				continue
			}
			if first {
				if w.pairs {
					b = append(b, `,"field_expire_ms":[`...)
				} else {
					b = append(b, `,"field_expire_ms":{`...)
				}
				first = false
			} else {
				b = append(b, ',')
			}
			b = w.field(b, f.Name)
			b = strconv.AppendInt(b, f.Expire, 10)
			b = w.fieldEnd(b)
		}
		if !first {
			if w.pairs {
				b = append(b, ']')
			} else {
				b = append(b, '}')
			}
		}
	}
	return append(b, "}\n"...)
}

func (w *jsonlWriter) streamEntries(b []byte, e *rdb.Entry) []byte {
	k := &w.k
	if e.Stream == nil {
		return b
	}
	for i := range e.Stream.Entries {
		se := &e.Stream.Entries[i]
		if !k.haveFirst {
			k.firstID, k.haveFirst = se.ID, true
		}
		b = w.sep(b)
		b = append(b, '[')
		b = appendID(b, se.ID)
		b = append(b, ",["...)
		for j, f := range se.Fields {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONBytes(b, f)
		}
		b = append(b, "]]"...)
	}
	return b
}

// streamMeta writes "stream_meta" as XINFO STREAM FULL shows it, without
// the fields derived at query time (radix-tree sizes, lag). Consumers'
// active-time appears only when the file stores it (RDB type 21).
func (w *jsonlWriter) streamMeta(b []byte, m *rdb.StreamMeta) []byte {
	s := summarizeStream(&w.k, m)
	b = append(b, `,"stream_meta":{"length":`...)
	b = strconv.AppendUint(b, s.length, 10)
	b = append(b, `,"last-generated-id":`...)
	b = appendID(b, s.lastID)
	b = append(b, `,"max-deleted-entry-id":`...)
	b = appendID(b, s.maxDeletedID)
	b = append(b, `,"entries-added":`...)
	b = strconv.AppendUint(b, s.entriesAdded, 10)
	b = append(b, `,"recorded-first-entry-id":`...)
	b = appendID(b, s.firstID)
	b = append(b, `,"groups":[`...)
	for gi := range m.Groups {
		g := &m.Groups[gi]
		w.pel.build(g)
		if gi > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONBytes(b, g.Name)
		b = append(b, `,"last-delivered-id":`...)
		b = appendID(b, g.LastID)
		b = append(b, `,"entries-read":`...)
		if er := s.entriesRead(g); er == -1 {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, er, 10)
		}
		b = append(b, `,"pel-count":`...)
		b = strconv.AppendInt(b, int64(len(g.PEL)), 10)
		b = append(b, `,"pending":[`...)
		for i := range g.PEL {
			p := &g.PEL[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendID(b, p.ID)
			b = append(b, ',')
			if ci := w.pel.owner[i]; ci >= 0 {
				b = appendJSONBytes(b, g.Consumers[ci].Name)
			} else {
				b = append(b, "null"...)
			}
			b = append(b, ',')
			b = strconv.AppendInt(b, p.DeliveryTime, 10)
			b = append(b, ',')
			b = strconv.AppendUint(b, p.DeliveryCount, 10)
			b = append(b, ']')
		}
		b = append(b, `],"consumers":[`...)
		for ci := range g.Consumers {
			c := &g.Consumers[ci]
			if ci > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONBytes(b, c.Name)
			b = append(b, `,"seen-time":`...)
			b = strconv.AppendInt(b, c.SeenTime, 10)
			if c.ActiveTime != -1 {
				b = append(b, `,"active-time":`...)
				b = strconv.AppendInt(b, c.ActiveTime, 10)
			}
			b = append(b, `,"pel-count":`...)
			b = strconv.AppendInt(b, int64(len(c.PEL)), 10)
			b = append(b, `,"pending":[`...)
			for i, id := range c.PEL {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, '[')
				b = appendID(b, id)
				if p, ok := w.pel.lookup(g, id); ok {
					b = append(b, ',')
					b = strconv.AppendInt(b, p.DeliveryTime, 10)
					b = append(b, ',')
					b = strconv.AppendUint(b, p.DeliveryCount, 10)
				} else {
					b = append(b, ",null,null"...)
				}
				b = append(b, ']')
			}
			b = append(b, "]}"...)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}

func appendModule(b []byte, m *rdb.Module) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"module":`...)
	b = appendJSONString(b, m.Name)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, m.Version, 10)
	b = append(b, `,"raw":`...)
	b = appendBase64(b, m.Raw)
	return append(b, '}')
}

func appendID(b []byte, id rdb.StreamID) []byte {
	b = append(b, '"')
	b = strconv.AppendUint(b, id.Ms, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, id.Seq, 10)
	return append(b, '"')
}

// appendScore writes a zset score as a JSON number in its shortest
// round-trip form, or as "inf", "-inf" or "nan".
func appendScore(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, `"inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-inf"`...)
	case math.IsNaN(f):
		return append(b, `"nan"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendBase64(b []byte, s []byte) []byte {
	b = append(b, `{"base64":"`...)
	b = base64.StdEncoding.AppendEncode(b, s)
	return append(b, `"}`...)
}

// appendJSONBytes writes s as a JSON string, or as {"base64":"..."} when it
// is not valid UTF-8 (checked only when s has a byte above 0x7f).
func appendJSONBytes(b []byte, s []byte) []byte {
	for _, c := range s {
		if c >= 0x80 {
			if !utf8.Valid(s) {
				return appendBase64(b, s)
			}
			break
		}
	}
	return appendQuoted(b, s)
}

// appendJSONString is appendJSONBytes for a string known to be valid UTF-8
// (module names).
func appendJSONString(b []byte, s string) []byte { return appendQuoted(b, s) }

// appendQuoted writes valid UTF-8 s as a quoted, escaped JSON string.
func appendQuoted[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		b = appendEscape(b, c)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
