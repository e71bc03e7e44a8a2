package oracle

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The operations of Run's steps, one per keyspace (see Workload): each
// picks a random command of its type.

func (w *Workload) stringOp(ctx context.Context) error {
	k := w.key("str")
	switch w.rnd.IntN(8) {
	case 0:
		return w.conn.Write(ctx, "APPEND", k, w.value())
	case 1:
		return w.conn.Write(ctx, "SETRANGE", k, w.rnd.IntN(50), w.value())
	case 2:
		return w.conn.Write(ctx, "MSET", k, w.value(), w.key("str"), w.value())
	case 3:
		return w.conn.Write(ctx, "GETDEL", k)
	case 4:
		return w.conn.Write(ctx, "SET", k, w.value(), "KEEPTTL")
	case 5:
		return w.conn.Write(ctx, "SETNX", k, w.value())
	case 6:
		return w.conn.Write(ctx, "GETSET", k, w.value())
	default:
		return w.conn.Write(ctx, "SET", k, w.value())
	}
}

func (w *Workload) counterOp(ctx context.Context) error {
	switch w.rnd.IntN(5) {
	case 0:
		return w.conn.Write(ctx, "INCRBYFLOAT", w.key("flt"), strconv.FormatFloat(w.rnd.Float64()*10-3, 'f', 3, 64))
	case 1:
		return w.conn.Write(ctx, "DECRBY", w.key("cnt"), w.rnd.IntN(100))
	case 2:
		return w.conn.Write(ctx, "PFADD", w.key("hll"), w.value(), w.value(), w.value())
	default:
		return w.conn.Write(ctx, "INCR", w.key("cnt"))
	}
}

func (w *Workload) listOp(ctx context.Context) error {
	k := w.key("list")
	switch w.rnd.IntN(10) {
	case 0:
		return w.conn.Write(ctx, "LPOP", k, 1+w.rnd.IntN(3))
	case 1:
		return w.conn.Write(ctx, "RPOP", k)
	case 2:
		n, err := w.conn.LLen(ctx, k).Result()
		if err != nil || n == 0 {
			return err
		}
		return w.conn.Write(ctx, "LSET", k, w.rnd.Int64N(n), w.value())
	case 3:
		return w.conn.Write(ctx, "LTRIM", k, 0, 20+w.rnd.IntN(30))
	case 4:
		return w.conn.Write(ctx, "LMOVE", k, w.key("list"), "LEFT", "RIGHT")
	case 5:
		return w.conn.Write(ctx, "LINSERT", k, "BEFORE", w.value(), w.value())
	case 6:
		return w.conn.Write(ctx, "LREM", k, 0, "x")
	case 7:
		// A blocking pop that finds data is replicated as a plain pop.
		n, err := w.conn.LLen(ctx, k).Result()
		if err != nil || n == 0 {
			return err
		}
		return w.conn.Write(ctx, "BLPOP", k, 1)
	default:
		args := []any{"RPUSH", k}
		for i := 0; i < 1+w.rnd.IntN(5); i++ {
			args = append(args, w.value())
		}
		if w.rnd.IntN(2) == 0 {
			args[0] = "LPUSH"
		}
		return w.conn.Write(ctx, args...)
	}
}

func (w *Workload) setOp(ctx context.Context) error {
	k := w.key("set")
	switch w.rnd.IntN(8) {
	case 0:
		return w.conn.Write(ctx, "SREM", k, w.value())
	case 1:
		return w.conn.Write(ctx, "SPOP", k, 1+w.rnd.IntN(2))
	case 2:
		return w.conn.Write(ctx, "SMOVE", k, w.key("set"), w.value())
	case 3:
		return w.conn.Write(ctx, "SUNIONSTORE", w.key("set"), k, w.key("set"))
	case 4:
		return w.conn.Write(ctx, "SINTERSTORE", w.key("set"), k, w.key("set"))
	default:
		// Small integers keep some sets intsets.
		if w.rnd.IntN(2) == 0 {
			return w.conn.Write(ctx, "SADD", k, w.rnd.IntN(1000), w.rnd.IntN(1000))
		}
		return w.conn.Write(ctx, "SADD", k, w.value(), w.value())
	}
}

func (w *Workload) zsetOp(ctx context.Context) error {
	k := w.key("zset")
	switch w.rnd.IntN(9) {
	case 0:
		return w.conn.Write(ctx, "ZREM", k, w.value())
	case 1:
		return w.conn.Write(ctx, "ZPOPMIN", k)
	case 2:
		return w.conn.Write(ctx, "ZINCRBY", k, w.rnd.Float64(), "m"+strconv.Itoa(w.rnd.IntN(10)))
	case 3:
		return w.conn.Write(ctx, "ZUNIONSTORE", w.key("zset"), 2, k, w.key("zset"))
	case 4:
		return w.conn.Write(ctx, "ZREMRANGEBYRANK", k, 0, w.rnd.IntN(3))
	case 5:
		return w.conn.Write(ctx, "ZRANGESTORE", w.key("zset"), k, 0, 5)
	case 6:
		return w.conn.Write(ctx, "GEOADD", w.key("geo"), 13.361389+w.rnd.Float64(), 38.115556, w.value())
	case 7:
		return w.conn.Write(ctx, "ZADD", k, "-inf", "lo", "+inf", "hi", math.Pi, "pi")
	default:
		return w.conn.Write(ctx, "ZADD", k, w.rnd.NormFloat64()*1e6, w.value(), w.rnd.IntN(100), "m"+strconv.Itoa(w.rnd.IntN(10)))
	}
}

func (w *Workload) hashOp(ctx context.Context) error {
	k := w.key("hash")
	if w.FieldTTL && w.rnd.IntN(3) == 0 {
		return w.fieldTTLOp(ctx, k)
	}
	switch w.rnd.IntN(7) {
	case 0:
		return w.conn.Write(ctx, "HDEL", k, "f"+strconv.Itoa(w.rnd.IntN(10)))
	case 1:
		return w.conn.Write(ctx, "HINCRBY", k, "ctr", w.rnd.IntN(10))
	case 2:
		return w.conn.Write(ctx, "HINCRBYFLOAT", k, "flt", w.rnd.Float64())
	case 3:
		return w.conn.Write(ctx, "HSETNX", k, "f"+strconv.Itoa(w.rnd.IntN(10)), w.value())
	default:
		return w.conn.Write(ctx, "HSET", k, "f"+strconv.Itoa(w.rnd.IntN(10)), w.value(), "g"+strconv.Itoa(w.rnd.IntN(200)), w.value())
	}
}

// fieldTTLOp sets or removes hash field expiries (an hour or more away,
// or in the past, which deletes the field). The master propagates them as
// HPEXPIREAT, HPERSIST and HDEL.
func (w *Workload) fieldTTLOp(ctx context.Context, k string) error {
	f := func() string { return "f" + strconv.Itoa(w.rnd.IntN(10)) }
	secs := 3600 + w.rnd.IntN(3600)
	switch w.rnd.IntN(6) {
	case 0:
		return w.conn.Write(ctx, "HPEXPIRE", k, secs*1000, "FIELDS", 1, f())
	case 1:
		return w.conn.Write(ctx, "HEXPIREAT", k, time.Now().Unix()+int64(secs), "FIELDS", 2, f(), f())
	case 2:
		return w.conn.Write(ctx, "HPERSIST", k, "FIELDS", 2, f(), f())
	case 3:
		return w.conn.Write(ctx, "HEXPIREAT", k, 1, "FIELDS", 1, f())
	case 4:
		return w.conn.Write(ctx, "HEXPIRE", k, secs, "NX", "FIELDS", 1, f())
	default:
		return w.conn.Write(ctx, "HEXPIRE", k, secs, "FIELDS", 3, f(), f(), f())
	}
}

// fieldTTLCycle gives a hash field an expiry, removes it, and expires the
// field at once with a time in the past: one each of HPEXPIREAT, HPERSIST
// and HDEL in the stream.
func (w *Workload) fieldTTLCycle(ctx context.Context) error {
	k := w.key("hash")
	for _, args := range [][]any{
		{"HSET", k, "cycle", w.value()},
		{"HPEXPIRE", k, 3_600_000, "FIELDS", 1, "cycle"},
		{"HPERSIST", k, "FIELDS", 1, "cycle"},
		{"HEXPIREAT", k, 1, "FIELDS", 1, "cycle"},
	} {
		if err := w.conn.Write(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// streamOp works on streams without consumer groups (trimming them cannot
// strand pending entries).
func (w *Workload) streamOp(ctx context.Context) error {
	k := w.key("stream")
	switch w.rnd.IntN(6) {
	case 0:
		ids, err := w.conn.XRangeN(ctx, k, "-", "+", 3).Result()
		if err != nil || len(ids) == 0 {
			return err
		}
		return w.conn.Write(ctx, "XDEL", k, ids[w.rnd.IntN(len(ids))].ID)
	case 1:
		return w.conn.Write(ctx, "XTRIM", k, "MAXLEN", 20+w.rnd.IntN(10))
	case 2:
		return w.conn.Write(ctx, "XADD", k, "MAXLEN", "~", 50, "*", "a", w.value())
	default:
		return w.conn.Write(ctx, "XADD", k, "*", "a", w.value(), "b", w.value())
	}
}

func (w *Workload) groupOp(ctx context.Context) error {
	k := "gstream:" + strconv.Itoa(w.rnd.IntN(3))
	exists, err := w.conn.Exists(ctx, k).Result()
	if err != nil {
		return err
	}
	if exists == 0 {
		if err := w.conn.Write(ctx, "XADD", k, "*", "init", "1"); err != nil {
			return err
		}
		return w.conn.Write(ctx, "XGROUP", "CREATE", k, "grp", "0", "ENTRIESREAD", 0)
	}
	consumer := "c" + strconv.Itoa(w.rnd.IntN(3))
	switch w.rnd.IntN(7) {
	case 0, 1:
		return w.conn.Write(ctx, "XREADGROUP", "GROUP", "grp", consumer, "COUNT", 1+w.rnd.IntN(3), "STREAMS", k, ">")
	case 2:
		id, err := w.conn.FirstPending(ctx, k, "grp")
		if err != nil || id == "" {
			return err
		}
		return w.conn.Write(ctx, "XACK", k, "grp", id)
	case 3:
		id, err := w.conn.FirstPending(ctx, k, "grp")
		if err != nil || id == "" {
			return err
		}
		return w.conn.Write(ctx, "XCLAIM", k, "grp", consumer, 0, id)
	case 4:
		return w.conn.Write(ctx, "XAUTOCLAIM", k, "grp", consumer, 0, "0-0", "COUNT", 2)
	case 5:
		return w.conn.Write(ctx, "XREADGROUP", "GROUP", "grp", consumer, "COUNT", 1, "NOACK", "STREAMS", k, ">")
	default:
		return w.conn.Write(ctx, "XADD", k, "*", "x", w.value())
	}
}

// ttlOp works on short-lived keys only, with commands whose replay stays
// convergent when the target expires the key before the master does.
func (w *Workload) ttlOp(ctx context.Context) error {
	k := w.key("ttl")
	ttl := 20 + w.rnd.Int64N(w.MaxTTL.Milliseconds())
	switch w.rnd.IntN(8) {
	case 0:
		return w.conn.Write(ctx, "PEXPIRE", k, ttl)
	case 1:
		// APPEND alone could create a key without expiry.
		_, err := w.conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Append(ctx, k, "+")
			p.PExpire(ctx, k, time.Duration(ttl)*time.Millisecond)
			return nil
		})
		return err
	case 2:
		return w.conn.Write(ctx, "GETEX", k, "PX", ttl)
	case 3:
		return w.conn.Write(ctx, "GET", k) // may expire the key lazily: a DEL
	case 4:
		return w.conn.Write(ctx, "SET", k, w.value(), "PXAT", time.Now().UnixMilli()+ttl)
	case 5:
		return w.conn.Write(ctx, "PSETEX", k, ttl, w.value())
	case 6:
		// A transaction that creates a short-lived hash.
		h := "ttl:h" + strconv.Itoa(w.rnd.IntN(w.Keys))
		_, err := w.conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, h, "a", w.value())
			p.PExpire(ctx, h, time.Duration(ttl)*time.Millisecond)
			return nil
		})
		return err
	default:
		return w.conn.Write(ctx, "SET", k, w.value(), "PX", ttl)
	}
}

// expireOp sets and removes long expiries (an hour or more) on keys of the
// other keyspaces.
func (w *Workload) expireOp(ctx context.Context) error {
	spaces := []string{"str", "list", "set", "zset", "hash", "stream", "cnt"}
	k := w.key(spaces[w.rnd.IntN(len(spaces))])
	switch w.rnd.IntN(5) {
	case 0:
		return w.conn.Write(ctx, "PERSIST", k)
	case 1:
		return w.conn.Write(ctx, "EXPIREAT", k, time.Now().Unix()+3600+w.rnd.Int64N(3600))
	case 2:
		return w.conn.Write(ctx, "SET", w.key("str"), w.value(), "EX", 3600+w.rnd.IntN(3600))
	case 3:
		return w.conn.Write(ctx, "GETEX", w.key("str"), "EX", 3600+w.rnd.IntN(3600))
	default:
		return w.conn.Write(ctx, "EXPIRE", k, 3600+w.rnd.IntN(3600))
	}
}

// bitsOp works on bit strings; with NoBits it writes plain strings to the
// same keys instead, drawing the same random numbers (so the rest of the
// workload stays the same).
func (w *Workload) bitsOp(ctx context.Context) error {
	switch w.rnd.IntN(3) {
	case 0:
		k, off, bit := w.key("bits"), w.rnd.IntN(2000), w.rnd.IntN(2)
		if w.NoBits {
			return w.conn.Write(ctx, "SET", k, strconv.Itoa(off)+":"+strconv.Itoa(bit))
		}
		return w.conn.Write(ctx, "SETBIT", k, off, bit)
	case 1:
		dst, a, b := w.key("bits"), w.key("bits"), w.key("bits")
		if w.NoBits {
			return w.conn.Write(ctx, "SET", dst, a+"|"+b)
		}
		return w.conn.Write(ctx, "BITOP", "OR", dst, a, b)
	default:
		k, off := w.key("bits"), 8*w.rnd.IntN(10)
		if w.NoBits {
			return w.conn.Write(ctx, "SET", k, strconv.Itoa(off))
		}
		return w.conn.Write(ctx, "BITFIELD", k, "INCRBY", "u8", off, 3)
	}
}

func (w *Workload) keyspaceOp(ctx context.Context) error {
	spaces := []string{"str", "list", "set", "zset", "hash", "stream", "cnt"}
	space := spaces[w.rnd.IntN(len(spaces))]
	k := w.key(space)
	exists, err := w.conn.Exists(ctx, k).Result()
	if err != nil {
		return err
	}
	switch w.rnd.IntN(8) {
	case 0:
		return w.conn.Write(ctx, "DEL", k)
	case 1:
		return w.conn.Write(ctx, "UNLINK", k, w.key(space))
	case 2:
		if exists == 0 {
			return nil
		}
		return w.conn.Write(ctx, "RENAME", k, w.key(space))
	case 3:
		to, db := w.key(space), w.rnd.IntN(w.DBs)
		if to == k && db == w.conn.DB() {
			return nil
		}
		return w.conn.Write(ctx, "COPY", k, to, "DB", db, "REPLACE")
	case 4:
		to := w.rnd.IntN(w.DBs)
		if to == w.conn.DB() {
			return nil
		}
		return w.conn.Write(ctx, "MOVE", k, to)
	case 5:
		if exists == 0 {
			return nil
		}
		dump, err := w.conn.Dump(ctx, k).Result()
		if err != nil {
			return err
		}
		ttl := 0
		if w.rnd.IntN(2) == 0 {
			ttl = 3_600_000
		}
		return w.conn.Write(ctx, "RESTORE", w.key(space), ttl, dump, "REPLACE")
	case 6:
		if space != "list" && space != "set" {
			return nil
		}
		return w.conn.Write(ctx, "SORT", k, "ALPHA", "STORE", w.key("list"))
	default:
		if exists == 0 {
			return nil
		}
		return w.conn.Write(ctx, "RENAMENX", k, w.key(space)+"x")
	}
}

// multi runs a MULTI/EXEC of a few simple writes.
func (w *Workload) multi(ctx context.Context) error {
	_, err := w.conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 2+w.rnd.IntN(4); i++ {
			switch w.rnd.IntN(4) {
			case 0:
				p.Incr(ctx, w.key("cnt"))
			case 1:
				p.RPush(ctx, w.key("list"), w.value())
			case 2:
				p.HSet(ctx, w.key("hash"), "f"+strconv.Itoa(w.rnd.IntN(10)), w.value())
			default:
				p.Set(ctx, w.key("str"), w.value(), 0)
			}
		}
		return nil
	})
	return err
}
