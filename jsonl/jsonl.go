// Package jsonl encodes what redtap reads as JSON lines, the format of
// `redtap dump` and `redtap tap`, and the body of the messages package
// publish sends. One JSON object per line: one per key, in the format of
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
//
// An [Encoder] appends records to a byte slice and allocates nothing in the
// steady state. It is not safe for concurrent use: it follows the key being
// written across its chunks.
package jsonl

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/redtap/redtap/internal/keystate"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// Encoder appends JSON records to a byte slice, each ending with a newline.
// The zero value is ready to use.
//
// Snapshot keys arrive as [*rdb.Entry] chunks (Chunk from 0, Last on the
// final one): [Encoder.AppendRecord] begins a key's record on its first
// element, appends every chunk's elements as they come and finishes the
// record on the Last chunk, so the records of one key's chunks, appended one
// after the other, make one line. [Encoder.AppendKey] instead writes each
// chunk as a record of its own, for consumers that receive chunks one by
// one. Slices in an argument are only read during the call.
type Encoder struct {
	// KeepEmpty writes keys whose collection has no element. Redis drops
	// such keys when it loads a file (they only occur in damaged files),
	// so by default they are skipped.
	KeepEmpty bool

	k     keystate.Key
	pel   keystate.PEL
	keys  []monitor.KeyRef // scratch for a command's keys
	pairs bool             // per-key hash form, fixed on the key's first element
	one   rdb.Entry        // scratch for AppendKey

	// AppendKey of a key in several chunks: write "chunk" and "last"
	chunk     bool
	chunkNo   int
	chunkLast bool
}

// AppendKey appends one chunk of a snapshot key as a complete record of its
// own. A key that comes in one chunk gets the same record as from
// AppendRecord. A chunk of a key that spans several has, in addition,
// "chunk" (its number, from 0) and "last" (true on the final one) before
// "value", and holds the elements of that chunk only (a stream's metadata
// comes with the last one):
//
//	{"kind":"key","db":0,"key":"big","type":"set","expire_ms":null,"chunk":1,"last":false,"value":["m1025",...]}
//
// A consumer rebuilds the key by adding the elements of every chunk. An
// empty chunk is written (as an empty value) only when it is the first and
// last one and KeepEmpty is set, or when it ends a key of several chunks.
func (w *Encoder) AppendKey(b []byte, e *rdb.Entry) []byte {
	if e.Chunk == 0 && e.Last {
		return w.entry(b, e)
	}
	if keystate.ChunkLen(e) == 0 && !e.Last && e.Type != rdb.TypeStream {
		return b
	}
	w.one = *e
	w.one.Chunk, w.one.Last = 0, true
	w.chunk, w.chunkNo, w.chunkLast = true, e.Chunk, e.Last
	keep := w.KeepEmpty
	w.KeepEmpty = true
	b = w.entry(b, &w.one)
	w.KeepEmpty = keep
	w.chunk = false
	w.one = rdb.Entry{}
	return b
}

// AppendRecord appends the record of one snapshot record: a "key" record
// (begun on a key's first element and finished on its Last chunk, see
// Encoder), "aux", "function" or "module_aux". Records with nothing to show
// (headers, RESIZEDB hints ...) append nothing.
func (w *Encoder) AppendRecord(b []byte, rec rdb.Record) []byte {
	switch r := rec.(type) {
	case *rdb.Entry:
		return w.entry(b, r)
	case *rdb.Aux:
		b = append(b, `{"kind":"aux","key":`...)
		b = AppendBytes(b, r.Key)
		b = append(b, `,"value":`...)
		b = AppendBytes(b, r.Value)
		b = append(b, "}\n"...)
	case *rdb.Function:
		b = append(b, `{"kind":"function","code":`...)
		b = AppendBytes(b, r.Code)
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
	}
	return b
}

// AppendSync appends the "sync" record of a (re)synchronisation; "reason"
// is there only when s has one (the master refused to resume).
func (w *Encoder) AppendSync(b []byte, s *replica.Sync) []byte {
	b = append(b, `{"kind":"sync","mode":"`...)
	b = append(b, s.Mode.String()...)
	b = append(b, `","replid":`...)
	b = appendJSONString(b, s.ReplID)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, s.Offset, 10)
	if s.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, s.Reason)
	}
	return append(b, "}\n"...)
}

// AppendSnapshotDone appends a "snapshot_done" record: the snapshot of the
// sync with replication id replid is complete, and the command stream
// continues from offset.
//
//	{"kind":"snapshot_done","replid":"...","offset":1234}
func (w *Encoder) AppendSnapshotDone(b []byte, replid string, offset int64) []byte {
	b = append(b, `{"kind":"snapshot_done","replid":`...)
	b = appendJSONString(b, replid)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	return append(b, "}\n"...)
}

// AppendCommand appends the "cmd" record of one command run in database db,
// offset being the replication offset right after it.
func (w *Encoder) AppendCommand(b []byte, db int, offset int64, args [][]byte) []byte {
	return w.appendCmd(b, db, offset, args, true)
}

// AppendTransaction appends the records of a transaction: MULTI, cmds and
// EXEC. cmds are tx.Commands, or those of them a filter keeps; MULTI and
// EXEC are those of the whole of tx.
func (w *Encoder) AppendTransaction(b []byte, tx *replica.Transaction, cmds []replica.Command) []byte {
	b = w.appendCmd(b, tx.DB, MultiOffset(tx), argsMulti, false)
	for i := range cmds {
		b = w.appendCmd(b, cmds[i].DB, cmds[i].Offset, cmds[i].Args, true)
	}
	return w.appendCmd(b, execDB(tx), tx.Offset, argsExec, false)
}

// appendCmd appends one "cmd" record, with its "keys" when withKeys is set
// and they can be told.
func (w *Encoder) appendCmd(b []byte, db int, off int64, args [][]byte, withKeys bool) []byte {
	b = append(b, `{"kind":"cmd","db":`...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, off, 10)
	b = append(b, `,"args":[`...)
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendBytes(b, a)
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
				b = AppendBytes(b, args[k.Index])
			}
			b = append(b, ']')
		}
	}
	return append(b, "}\n"...)
}

// head writes the record up to and including `"value":`.
func (w *Encoder) head(b []byte) []byte {
	k := &w.k
	b = append(b, `{"kind":"key","db":`...)
	b = strconv.AppendInt(b, int64(k.DB), 10)
	b = append(b, `,"key":`...)
	b = AppendBytes(b, k.Key)
	b = append(b, `,"type":"`...)
	b = append(b, k.Type.String()...)
	b = append(b, `","expire_ms":`...)
	if k.Expire < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, k.Expire, 10)
	}
	if w.chunk {
		b = append(b, `,"chunk":`...)
		b = strconv.AppendInt(b, int64(w.chunkNo), 10)
		b = append(b, `,"last":`...)
		b = strconv.AppendBool(b, w.chunkLast)
	}
	b = append(b, `,"value":`...)
	k.Begun = true
	return b
}

func (w *Encoder) entry(b []byte, e *rdb.Entry) []byte {
	k := &w.k
	k.Follow(e)
	switch e.Type {
	case rdb.TypeString, rdb.TypeModule:
		b = w.head(b)
		if e.Type == rdb.TypeString {
			b = AppendBytes(b, e.Str)
		} else {
			b = appendModule(b, e.Module)
		}
		return append(b, "}\n"...)
	case rdb.TypeStream:
		if !k.Begun {
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
		return b
	}

	n := keystate.ChunkLen(e)
	if n > 0 && !k.Begun {
		k.Multi = e.Chunk > 0 || !e.Last
		b = w.open(b, e)
	}
	if n > 0 {
		b = w.elems(b, e)
	}
	if e.Last {
		if !k.Begun {
			if !w.KeepEmpty {
				return b
			}
			k.Multi = false
			b = w.open(b, e)
		}
		b = w.close(b, e)
	}
	return b
}

// open writes the head of a collection's record and opens its value.
func (w *Encoder) open(b []byte, e *rdb.Entry) []byte {
	b = w.head(b)
	if e.Type != rdb.TypeHash {
		return append(b, '[')
	}
	w.pairs = w.k.Multi
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
func (w *Encoder) sep(b []byte) []byte {
	if w.k.N > 0 {
		b = append(b, ',')
	}
	w.k.N++
	return b
}

func (w *Encoder) elems(b []byte, e *rdb.Entry) []byte {
	k := &w.k
	switch e.Type {
	case rdb.TypeList, rdb.TypeSet:
		for _, s := range e.Elems {
			b = w.sep(b)
			b = AppendBytes(b, s)
		}
	case rdb.TypeZSet:
		for i := range e.Members {
			m := &e.Members[i]
			b = w.sep(b)
			b = append(b, '[')
			b = AppendBytes(b, m.Name)
			b = append(b, ',')
			b = appendScore(b, m.Score)
			b = append(b, ']')
		}
	case rdb.TypeHash:
		for i := range e.Fields {
			f := &e.Fields[i]
			b = w.sep(b)
			b = w.field(b, f.Name)
			b = AppendBytes(b, f.Value)
			if k.Multi && f.Expire != 0 { // the pairs form
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
func (w *Encoder) field(b, name []byte) []byte {
	if w.pairs {
		b = append(b, '[')
	}
	b = AppendBytes(b, name)
	if w.pairs {
		return append(b, ',')
	}
	return append(b, ':')
}

func (w *Encoder) fieldEnd(b []byte) []byte {
	if w.pairs {
		return append(b, ']')
	}
	return b
}

// close ends a collection's value and record. A hash in one chunk gets its
// field TTLs here, from the same chunk.
func (w *Encoder) close(b []byte, e *rdb.Entry) []byte {
	if e.Type != rdb.TypeHash {
		return append(b, "]}\n"...)
	}
	if w.pairs {
		b = append(b, "]}"...)
	} else {
		b = append(b, '}')
	}
	if !w.k.Multi {
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

func (w *Encoder) streamEntries(b []byte, e *rdb.Entry) []byte {
	k := &w.k
	if e.Stream == nil {
		return b
	}
	for i := range e.Stream.Entries {
		se := &e.Stream.Entries[i]
		if !k.HaveFirst {
			k.FirstID, k.HaveFirst = se.ID, true
		}
		b = w.sep(b)
		b = append(b, '[')
		b = appendID(b, se.ID)
		b = append(b, ",["...)
		for j, f := range se.Fields {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendBytes(b, f)
		}
		b = append(b, "]]"...)
	}
	return b
}

// streamMeta writes "stream_meta" as XINFO STREAM FULL shows it, without
// the fields derived at query time (radix-tree sizes, lag). Consumers'
// active-time appears only when the file stores it (RDB type 21).
func (w *Encoder) streamMeta(b []byte, m *rdb.StreamMeta) []byte {
	s := keystate.Summarize(&w.k, m)
	b = append(b, `,"stream_meta":{"length":`...)
	b = strconv.AppendUint(b, s.Length, 10)
	b = append(b, `,"last-generated-id":`...)
	b = appendID(b, s.LastID)
	b = append(b, `,"max-deleted-entry-id":`...)
	b = appendID(b, s.MaxDeletedID)
	b = append(b, `,"entries-added":`...)
	b = strconv.AppendUint(b, s.EntriesAdded, 10)
	b = append(b, `,"recorded-first-entry-id":`...)
	b = appendID(b, s.FirstID)
	b = append(b, `,"groups":[`...)
	for gi := range m.Groups {
		g := &m.Groups[gi]
		w.pel.Build(g)
		if gi > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = AppendBytes(b, g.Name)
		b = append(b, `,"last-delivered-id":`...)
		b = appendID(b, g.LastID)
		b = append(b, `,"entries-read":`...)
		if er := s.EntriesRead(g); er == -1 {
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
			if ci := w.pel.Owner[i]; ci >= 0 {
				b = AppendBytes(b, g.Consumers[ci].Name)
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
			b = AppendBytes(b, c.Name)
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
				if p, ok := w.pel.Lookup(g, id); ok {
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

// AppendBytes appends s as a JSON string, or as {"base64":"..."} when it
// is not valid UTF-8 (checked only when s has a byte above 0x7f): how every
// key, value and argument is written.
func AppendBytes(b []byte, s []byte) []byte {
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

// appendJSONString is AppendBytes for a string known to be valid UTF-8
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

var (
	argsMulti = [][]byte{[]byte("MULTI")}
	argsExec  = [][]byte{[]byte("EXEC")}
)

// MultiOffset is the offset of tx's MULTI record: like every cmd record's,
// the replication offset right after the command, MULTI. tx.Start is where
// MULTI begins.
func MultiOffset(tx *replica.Transaction) int64 { return tx.Start + MultiSize }

// MultiSize is the wire size of MULTI as the master sends it
// ("*1\r\n$5\r\nMULTI\r\n").
const MultiSize = 15

// execDB is the database selected at tx's EXEC: the last command's.
func execDB(tx *replica.Transaction) int {
	if n := len(tx.Commands); n > 0 {
		return tx.Commands[n-1].DB
	}
	return tx.DB
}

// AppendString appends s, which must be valid UTF-8 (an id, a name), as a
// quoted JSON string.
func AppendString(b []byte, s string) []byte { return appendQuoted(b, s) }
