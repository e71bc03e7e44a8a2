package main

import (
	"encoding/binary"
	"io"
	"math"
	"strconv"

	"github.com/tidwall/redcon"

	"github.com/redtap/redtap/internal/keystate"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// respWriter writes RESP commands that rebuild the snapshot's dataset when
// piped into `redis-cli --pipe`:
//
//   - SELECT whenever the database changes;
//   - strings: SET; lists, sets, zsets, hashes: RPUSH, SADD, ZADD, HSET, one
//     command per chunk (so --chunk bounds a command's size); zset scores in
//     their shortest round-trip form, "inf" and "-inf";
//   - key TTLs: PEXPIREAT after the value; hash field TTLs: HPEXPIREAT key ms
//     FIELDS 1 field (Redis 7.4 and later);
//   - streams: XADD per entry with its id, then XSETID key last-id
//     ENTRIESADDED n MAXDELETEDID id, and per group XGROUP CREATE key group
//     last-id [ENTRIESREAD n], XGROUP CREATECONSUMER per consumer and
//     XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID per
//     pending entry. An empty stream is created through a temporary group
//     (XGROUP CREATE ... MKSTREAM, XGROUP DESTROY). Consumers' seen and
//     active times cannot be set through commands: they become the time of
//     the load. Pending entries whose stream entry was deleted cannot be
//     recreated (XCLAIM drops them);
//   - module values: RESTORE key 0 <DUMP payload> REPLACE, the payload being
//     built from the module id and the value's raw bytes;
//   - functions: FUNCTION LOAD REPLACE <code>.
//
// Aux fields and module aux data have no command and are skipped; so are
// empty collections, which Redis cannot hold. LRU/LFU hints are not kept.
//
// The tap's commands are written as they came, MULTI and EXEC included,
// with SELECT whenever the database changes. A full resynchronisation
// replaces the dataset, as on a real replica: when something may have been
// written before, it starts with FLUSHALL and FUNCTION FLUSH (FLUSHDB of
// each --db database).
type respWriter struct {
	o   out
	cfg writerConfig
	k   keystate.Key
	pel keystate.PEL
	db  int // selected database, -1 before the first SELECT
	num [40]byte
	pay []byte // RESTORE payload scratch
	// written: something may have been written before the next full sync
	// (by an earlier session, or by the run a resumed tap continues).
	written bool
}

func newRESPWriter(w io.Writer, cfg writerConfig) *respWriter {
	return &respWriter{o: newOut(w), cfg: cfg, db: -1, written: cfg.Resumed}
}

func (w *respWriter) Flush() error { return w.o.flush() }

func (w *respWriter) Record(rec rdb.Record) error {
	switch r := rec.(type) {
	case *rdb.Entry:
		return w.entry(r)
	case *rdb.Function:
		b := redcon.AppendArray(w.o.buf, 4)
		b = redcon.AppendBulkString(b, "FUNCTION")
		b = redcon.AppendBulkString(b, "LOAD")
		b = redcon.AppendBulkString(b, "REPLACE")
		b = redcon.AppendBulk(b, r.Code)
		w.o.buf = b
		return w.o.spill()
	}
	return nil
}

func (w *respWriter) Sync(s *replica.Sync) error {
	if s.Mode == replica.SyncFull && w.written && !w.cfg.NoSnapshot {
		b := w.o.buf
		for _, db := range w.cfg.DBs {
			b = w.command(b, db, argsFlushDB)
		}
		if len(w.cfg.DBs) == 0 {
			b = w.command(b, -1, argsFlushAll)
			b = w.command(b, -1, argsFunctionFlush)
		}
		w.o.buf = b
	}
	w.written = true
	return w.o.spill()
}

func (w *respWriter) Command(c *replica.Command) error {
	w.o.buf = w.command(w.o.buf, c.DB, c.Args)
	return w.o.spill()
}

func (w *respWriter) Transaction(tx *replica.Transaction, cmds []replica.Command) error {
	b := w.command(w.o.buf, tx.DB, argsMulti)
	for i := range cmds {
		b = w.command(b, cmds[i].DB, cmds[i].Args)
	}
	w.o.buf = w.command(b, -1, argsExec)
	return w.o.spill()
}

var (
	argsFlushDB       = [][]byte{[]byte("FLUSHDB")}
	argsFlushAll      = [][]byte{[]byte("FLUSHALL")}
	argsFunctionFlush = [][]byte{[]byte("FUNCTION"), []byte("FLUSH")}
)

// command appends a command of the stream, run in database db (-1: any).
func (w *respWriter) command(b []byte, db int, args [][]byte) []byte {
	b = w.selectDB(b, db)
	b = redcon.AppendArray(b, len(args))
	for _, a := range args {
		b = redcon.AppendBulk(b, a)
	}
	return b
}

// selectDB appends SELECT db unless db is selected already or -1.
func (w *respWriter) selectDB(b []byte, db int) []byte {
	if db < 0 || db == w.db {
		return b
	}
	b = redcon.AppendArray(b, 2)
	b = redcon.AppendBulkString(b, "SELECT")
	b = w.bulkInt(b, int64(db))
	w.db = db
	return b
}

func (w *respWriter) bulkInt(b []byte, v int64) []byte {
	return redcon.AppendBulk(b, strconv.AppendInt(w.num[:0], v, 10))
}

func (w *respWriter) bulkUint(b []byte, v uint64) []byte {
	return redcon.AppendBulk(b, strconv.AppendUint(w.num[:0], v, 10))
}

func (w *respWriter) bulkID(b []byte, id rdb.StreamID) []byte {
	n := strconv.AppendUint(w.num[:0], id.Ms, 10)
	n = append(n, '-')
	n = strconv.AppendUint(n, id.Seq, 10)
	return redcon.AppendBulk(b, n)
}

func (w *respWriter) bulkScore(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return redcon.AppendBulkString(b, "inf")
	case math.IsInf(f, -1):
		return redcon.AppendBulkString(b, "-inf")
	}
	// NaN cannot be a score; ZADD will refuse it and redis-cli reports
	// the error.
	return redcon.AppendBulk(b, strconv.AppendFloat(w.num[:0], f, 'g', -1, 64))
}

// cmd starts a command of n arguments whose first two are name and the
// current key, selecting the key's database first when needed.
func (w *respWriter) cmd(b []byte, n int, name string) []byte {
	return w.subcmd(b, n, name, "")
}

// subcmd is cmd for commands with a subcommand before the key (XGROUP).
func (w *respWriter) subcmd(b []byte, n int, name, sub string) []byte {
	b = w.selectDB(b, w.k.DB)
	b = redcon.AppendArray(b, n)
	b = redcon.AppendBulkString(b, name)
	if sub != "" {
		b = redcon.AppendBulkString(b, sub)
	}
	w.k.Begun = true
	return redcon.AppendBulk(b, w.k.Key)
}

func (w *respWriter) expire(b []byte) []byte {
	if !w.k.Begun || w.k.Expire < 0 {
		return b
	}
	b = w.cmd(b, 3, "PEXPIREAT")
	return w.bulkInt(b, w.k.Expire)
}

func (w *respWriter) entry(e *rdb.Entry) error {
	k := &w.k
	k.Follow(e)
	b := w.o.buf
	switch e.Type {
	case rdb.TypeString:
		b = w.cmd(b, 3, "SET")
		b = redcon.AppendBulk(b, e.Str)
	case rdb.TypeModule:
		if e.Module == nil {
			break
		}
		b = w.cmd(b, 5, "RESTORE")
		b = redcon.AppendBulkString(b, "0")
		w.pay = modulePayload(w.pay[:0], e.Module)
		b = redcon.AppendBulk(b, w.pay)
		b = redcon.AppendBulkString(b, "REPLACE")
	case rdb.TypeList, rdb.TypeSet:
		if len(e.Elems) > 0 {
			name := "RPUSH"
			if e.Type == rdb.TypeSet {
				name = "SADD"
			}
			b = w.cmd(b, 2+len(e.Elems), name)
			for _, s := range e.Elems {
				b = redcon.AppendBulk(b, s)
			}
		}
	case rdb.TypeZSet:
		if len(e.Members) > 0 {
			b = w.cmd(b, 2+2*len(e.Members), "ZADD")
			for i := range e.Members {
				b = w.bulkScore(b, e.Members[i].Score)
				b = redcon.AppendBulk(b, e.Members[i].Name)
			}
		}
	case rdb.TypeHash:
		if len(e.Fields) > 0 {
			b = w.cmd(b, 2+2*len(e.Fields), "HSET")
			for i := range e.Fields {
				b = redcon.AppendBulk(b, e.Fields[i].Name)
				b = redcon.AppendBulk(b, e.Fields[i].Value)
			}
			for i := range e.Fields {
				if f := &e.Fields[i]; f.Expire > 0 {
					b = w.cmd(b, 6, "HPEXPIREAT")
					b = w.bulkInt(b, f.Expire)
					b = redcon.AppendBulkString(b, "FIELDS")
					b = redcon.AppendBulkString(b, "1")
					b = redcon.AppendBulk(b, f.Name)
				}
			}
		}
	case rdb.TypeStream:
		if e.Stream != nil {
			for i := range e.Stream.Entries {
				se := &e.Stream.Entries[i]
				if !k.HaveFirst {
					k.FirstID, k.HaveFirst = se.ID, true
				}
				k.N++
				b = w.cmd(b, 3+len(se.Fields), "XADD")
				b = w.bulkID(b, se.ID)
				for _, f := range se.Fields {
					b = redcon.AppendBulk(b, f)
				}
				if len(b) >= flushAt {
					w.o.buf = b
					if err := w.o.drain(); err != nil {
						return err
					}
					b = w.o.buf
				}
			}
			if e.Last && e.Stream.Meta != nil {
				b = w.streamMeta(b, e.Stream.Meta)
			}
		}
	}
	if e.Last {
		b = w.expire(b)
	}
	w.o.buf = b
	return w.o.spill()
}

// tmpGroup names the consumer group that creates an empty stream.
const tmpGroup = "redtap-dump-create-empty-stream"

func (w *respWriter) streamMeta(b []byte, m *rdb.StreamMeta) []byte {
	k := &w.k
	s := keystate.Summarize(k, m)
	if k.N == 0 {
		b = w.subcmd(b, 6, "XGROUP", "CREATE")
		b = redcon.AppendBulkString(b, tmpGroup)
		b = redcon.AppendBulkString(b, "0")
		b = redcon.AppendBulkString(b, "MKSTREAM")
		b = w.subcmd(b, 4, "XGROUP", "DESTROY")
		b = redcon.AppendBulkString(b, tmpGroup)
	}
	b = w.cmd(b, 7, "XSETID")
	b = w.bulkID(b, s.LastID)
	b = redcon.AppendBulkString(b, "ENTRIESADDED")
	b = w.bulkUint(b, s.EntriesAdded)
	b = redcon.AppendBulkString(b, "MAXDELETEDID")
	b = w.bulkID(b, s.MaxDeletedID)
	for gi := range m.Groups {
		g := &m.Groups[gi]
		w.pel.Build(g)
		er := s.EntriesRead(g)
		n := 5
		if er >= 0 {
			n = 7
		}
		b = w.subcmd(b, n, "XGROUP", "CREATE")
		b = redcon.AppendBulk(b, g.Name)
		b = w.bulkID(b, g.LastID)
		if er >= 0 {
			b = redcon.AppendBulkString(b, "ENTRIESREAD")
			b = w.bulkInt(b, er)
		}
		for ci := range g.Consumers {
			b = w.subcmd(b, 5, "XGROUP", "CREATECONSUMER")
			b = redcon.AppendBulk(b, g.Name)
			b = redcon.AppendBulk(b, g.Consumers[ci].Name)
		}
		for i := range g.PEL {
			ci := w.pel.Owner[i]
			if ci < 0 {
				continue // no consumer owns it: Redis refuses such files
			}
			p := &g.PEL[i]
			b = w.cmd(b, 12, "XCLAIM")
			b = redcon.AppendBulk(b, g.Name)
			b = redcon.AppendBulk(b, g.Consumers[ci].Name)
			b = redcon.AppendBulkString(b, "0")
			b = w.bulkID(b, p.ID)
			b = redcon.AppendBulkString(b, "TIME")
			b = w.bulkInt(b, p.DeliveryTime)
			b = redcon.AppendBulkString(b, "RETRYCOUNT")
			b = w.bulkUint(b, p.DeliveryCount)
			b = redcon.AppendBulkString(b, "FORCE")
			b = redcon.AppendBulkString(b, "JUSTID")
		}
	}
	return b
}

// modulePayload builds the DUMP payload of a module value for RESTORE: the
// type byte 7 (RDB_TYPE_MODULE_2), the module id as an RDB length, the
// value's opcodes up to and including the EOF opcode (rdb.Module.Raw), the
// RDB version as 2 little-endian bytes and the CRC-64 of all that.
func modulePayload(b []byte, m *rdb.Module) []byte {
	b = append(b, byte(rdb.EncModule2))
	b = appendRDBLen(b, m.ID)
	b = append(b, m.Raw...)
	b = binary.LittleEndian.AppendUint16(b, payloadRDBVersion)
	return binary.LittleEndian.AppendUint64(b, rdb.Checksum(b))
}

// payloadRDBVersion is the RDB version written into RESTORE payloads: 9
// (Redis 5.0-6.2) is accepted by every server that has module type 7.
const payloadRDBVersion = 9

// appendRDBLen appends v in the RDB length encoding (rdbSaveLen).
func appendRDBLen(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, byte(v>>8)|0x40, byte(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0x80), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0x81), v)
}
