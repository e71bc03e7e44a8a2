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
		return w.do(ctx, "APPEND", k, w.value())
	case 1:
		return w.do(ctx, "SETRANGE", k, w.rnd.IntN(50), w.value())
	case 2:
		return w.do(ctx, "MSET", k, w.value(), w.key("str"), w.value())
	case 3:
		return w.do(ctx, "GETDEL", k)
	case 4:
		return w.do(ctx, "SET", k, w.value(), "KEEPTTL")
	case 5:
		return w.do(ctx, "SETNX", k, w.value())
	case 6:
		return w.do(ctx, "GETSET", k, w.value())
	default:
		return w.do(ctx, "SET", k, w.value())
	}
}

func (w *Workload) counterOp(ctx context.Context) error {
	switch w.rnd.IntN(5) {
	case 0:
		return w.do(ctx, "INCRBYFLOAT", w.key("flt"), strconv.FormatFloat(w.rnd.Float64()*10-3, 'f', 3, 64))
	case 1:
		return w.do(ctx, "DECRBY", w.key("cnt"), w.rnd.IntN(100))
	case 2:
		return w.do(ctx, "PFADD", w.key("hll"), w.value(), w.value(), w.value())
	default:
		return w.do(ctx, "INCR", w.key("cnt"))
	}
}

func (w *Workload) listOp(ctx context.Context) error {
	k := w.key("list")
	switch w.rnd.IntN(10) {
	case 0:
		return w.do(ctx, "LPOP", k, 1+w.rnd.IntN(3))
	case 1:
		return w.do(ctx, "RPOP", k)
	case 2:
		n, err := w.conn.LLen(ctx, k).Result()
		if err != nil || n == 0 {
			return err
		}
		return w.do(ctx, "LSET", k, w.rnd.Int64N(n), w.value())
	case 3:
		return w.do(ctx, "LTRIM", k, 0, 20+w.rnd.IntN(30))
	case 4:
		return w.do(ctx, "LMOVE", k, w.key("list"), "LEFT", "RIGHT")
	case 5:
		return w.do(ctx, "LINSERT", k, "BEFORE", w.value(), w.value())
	case 6:
		return w.do(ctx, "LREM", k, 0, "x")
	case 7:
		// A blocking pop that finds data is replicated as a plain pop.
		n, err := w.conn.LLen(ctx, k).Result()
		if err != nil || n == 0 {
			return err
		}
		return w.do(ctx, "BLPOP", k, 1)
	default:
		args := []any{"RPUSH", k}
		for i := 0; i < 1+w.rnd.IntN(5); i++ {
			args = append(args, w.value())
		}
		if w.rnd.IntN(2) == 0 {
			args[0] = "LPUSH"
		}
		return w.do(ctx, args...)
	}
}

func (w *Workload) setOp(ctx context.Context) error {
	k := w.key("set")
	switch w.rnd.IntN(8) {
	case 0:
		return w.do(ctx, "SREM", k, w.value())
	case 1:
		return w.do(ctx, "SPOP", k, 1+w.rnd.IntN(2))
	case 2:
		return w.do(ctx, "SMOVE", k, w.key("set"), w.value())
	case 3:
		return w.do(ctx, "SUNIONSTORE", w.key("set"), k, w.key("set"))
	case 4:
		return w.do(ctx, "SINTERSTORE", w.key("set"), k, w.key("set"))
	default:
		// Small integers keep some sets intsets.
		if w.rnd.IntN(2) == 0 {
			return w.do(ctx, "SADD", k, w.rnd.IntN(1000), w.rnd.IntN(1000))
		}
		return w.do(ctx, "SADD", k, w.value(), w.value())
	}
}

func (w *Workload) zsetOp(ctx context.Context) error {
	k := w.key("zset")
	switch w.rnd.IntN(9) {
	case 0:
		return w.do(ctx, "ZREM", k, w.value())
	case 1:
		return w.do(ctx, "ZPOPMIN", k)
	case 2:
		return w.do(ctx, "ZINCRBY", k, w.rnd.Float64(), "m"+strconv.Itoa(w.rnd.IntN(10)))
	case 3:
		return w.do(ctx, "ZUNIONSTORE", w.key("zset"), 2, k, w.key("zset"))
	case 4:
		return w.do(ctx, "ZREMRANGEBYRANK", k, 0, w.rnd.IntN(3))
	case 5:
		return w.do(ctx, "ZRANGESTORE", w.key("zset"), k, 0, 5)
	case 6:
		return w.do(ctx, "GEOADD", w.key("geo"), 13.361389+w.rnd.Float64(), 38.115556, w.value())
	case 7:
		return w.do(ctx, "ZADD", k, "-inf", "lo", "+inf", "hi", math.Pi, "pi")
	default:
		return w.do(ctx, "ZADD", k, w.rnd.NormFloat64()*1e6, w.value(), w.rnd.IntN(100), "m"+strconv.Itoa(w.rnd.IntN(10)))
	}
}

func (w *Workload) hashOp(ctx context.Context) error {
	k := w.key("hash")
	if w.FieldTTL && w.rnd.IntN(3) == 0 {
		return w.fieldTTLOp(ctx, k)
	}
	switch w.rnd.IntN(7) {
	case 0:
		return w.do(ctx, "HDEL", k, "f"+strconv.Itoa(w.rnd.IntN(10)))
	case 1:
		return w.do(ctx, "HINCRBY", k, "ctr", w.rnd.IntN(10))
	case 2:
		return w.do(ctx, "HINCRBYFLOAT", k, "flt", w.rnd.Float64())
	case 3:
		return w.do(ctx, "HSETNX", k, "f"+strconv.Itoa(w.rnd.IntN(10)), w.value())
	default:
		return w.do(ctx, "HSET", k, "f"+strconv.Itoa(w.rnd.IntN(10)), w.value(), "g"+strconv.Itoa(w.rnd.IntN(200)), w.value())
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
		return w.do(ctx, "HPEXPIRE", k, secs*1000, "FIELDS", 1, f())
	case 1:
		return w.do(ctx, "HEXPIREAT", k, time.Now().Unix()+int64(secs), "FIELDS", 2, f(), f())
	case 2:
		return w.do(ctx, "HPERSIST", k, "FIELDS", 2, f(), f())
	case 3:
		return w.do(ctx, "HEXPIREAT", k, 1, "FIELDS", 1, f())
	case 4:
		return w.do(ctx, "HEXPIRE", k, secs, "NX", "FIELDS", 1, f())
	default:
		return w.do(ctx, "HEXPIRE", k, secs, "FIELDS", 3, f(), f(), f())
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
		if err := w.do(ctx, args...); err != nil {
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
		return w.do(ctx, "XDEL", k, ids[w.rnd.IntN(len(ids))].ID)
	case 1:
		return w.do(ctx, "XTRIM", k, "MAXLEN", 20+w.rnd.IntN(10))
	case 2:
		return w.do(ctx, "XADD", k, "MAXLEN", "~", 50, "*", "a", w.value())
	default:
		return w.do(ctx, "XADD", k, "*", "a", w.value(), "b", w.value())
	}
}

func (w *Workload) groupOp(ctx context.Context) error {
	k := "gstream:" + strconv.Itoa(w.rnd.IntN(3))
	exists, err := w.conn.Exists(ctx, k).Result()
	if err != nil {
		return err
	}
	if exists == 0 {
		if err := w.do(ctx, "XADD", k, "*", "init", "1"); err != nil {
			return err
		}
		return w.do(ctx, "XGROUP", "CREATE", k, "grp", "0", "ENTRIESREAD", 0)
	}
	consumer := "c" + strconv.Itoa(w.rnd.IntN(3))
	switch w.rnd.IntN(7) {
	case 0, 1:
		return w.do(ctx, "XREADGROUP", "GROUP", "grp", consumer, "COUNT", 1+w.rnd.IntN(3), "STREAMS", k, ">")
	case 2:
		p, err := w.conn.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: k, Group: "grp", Start: "-", End: "+", Count: 2}).Result()
		if err != nil || len(p) == 0 {
			return err
		}
		return w.do(ctx, "XACK", k, "grp", p[0].ID)
	case 3:
		p, err := w.conn.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: k, Group: "grp", Start: "-", End: "+", Count: 2}).Result()
		if err != nil || len(p) == 0 {
			return err
		}
		return w.do(ctx, "XCLAIM", k, "grp", consumer, 0, p[0].ID)
	case 4:
		return w.do(ctx, "XAUTOCLAIM", k, "grp", consumer, 0, "0-0", "COUNT", 2)
	case 5:
		return w.do(ctx, "XREADGROUP", "GROUP", "grp", consumer, "COUNT", 1, "NOACK", "STREAMS", k, ">")
	default:
		return w.do(ctx, "XADD", k, "*", "x", w.value())
	}
}

// ttlOp works on short-lived keys only, with commands whose replay stays
// convergent when the target expires the key before the master does.
func (w *Workload) ttlOp(ctx context.Context) error {
	k := w.key("ttl")
	ttl := 20 + w.rnd.Int64N(w.MaxTTL.Milliseconds())
	switch w.rnd.IntN(8) {
	case 0:
		return w.do(ctx, "PEXPIRE", k, ttl)
	case 1:
		// APPEND alone could create a key without expiry.
		_, err := w.conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Append(ctx, k, "+")
			p.PExpire(ctx, k, time.Duration(ttl)*time.Millisecond)
			return nil
		})
		return err
	case 2:
		return w.do(ctx, "GETEX", k, "PX", ttl)
	case 3:
		return w.do(ctx, "GET", k) // may expire the key lazily: a DEL
	case 4:
		return w.do(ctx, "SET", k, w.value(), "PXAT", time.Now().UnixMilli()+ttl)
	case 5:
		return w.do(ctx, "PSETEX", k, ttl, w.value())
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
		return w.do(ctx, "SET", k, w.value(), "PX", ttl)
	}
}

// expireOp sets and removes long expiries (an hour or more) on keys of the
// other keyspaces.
func (w *Workload) expireOp(ctx context.Context) error {
	spaces := []string{"str", "list", "set", "zset", "hash", "stream", "cnt"}
	k := w.key(spaces[w.rnd.IntN(len(spaces))])
	switch w.rnd.IntN(5) {
	case 0:
		return w.do(ctx, "PERSIST", k)
	case 1:
		return w.do(ctx, "EXPIREAT", k, time.Now().Unix()+3600+w.rnd.Int64N(3600))
	case 2:
		return w.do(ctx, "SET", w.key("str"), w.value(), "EX", 3600+w.rnd.IntN(3600))
	case 3:
		return w.do(ctx, "GETEX", w.key("str"), "EX", 3600+w.rnd.IntN(3600))
	default:
		return w.do(ctx, "EXPIRE", k, 3600+w.rnd.IntN(3600))
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
			return w.do(ctx, "SET", k, strconv.Itoa(off)+":"+strconv.Itoa(bit))
		}
		return w.do(ctx, "SETBIT", k, off, bit)
	case 1:
		dst, a, b := w.key("bits"), w.key("bits"), w.key("bits")
		if w.NoBits {
			return w.do(ctx, "SET", dst, a+"|"+b)
		}
		return w.do(ctx, "BITOP", "OR", dst, a, b)
	default:
		k, off := w.key("bits"), 8*w.rnd.IntN(10)
		if w.NoBits {
			return w.do(ctx, "SET", k, strconv.Itoa(off))
		}
		return w.do(ctx, "BITFIELD", k, "INCRBY", "u8", off, 3)
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
		return w.do(ctx, "DEL", k)
	case 1:
		return w.do(ctx, "UNLINK", k, w.key(space))
	case 2:
		if exists == 0 {
			return nil
		}
		return w.do(ctx, "RENAME", k, w.key(space))
	case 3:
		to, db := w.key(space), w.rnd.IntN(w.DBs)
		if to == k && db == w.db {
			return nil
		}
		return w.do(ctx, "COPY", k, to, "DB", db, "REPLACE")
	case 4:
		to := w.rnd.IntN(w.DBs)
		if to == w.db {
			return nil
		}
		return w.do(ctx, "MOVE", k, to)
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
		return w.do(ctx, "RESTORE", w.key(space), ttl, dump, "REPLACE")
	case 6:
		if space != "list" && space != "set" {
			return nil
		}
		return w.do(ctx, "SORT", k, "ALPHA", "STORE", w.key("list"))
	default:
		if exists == 0 {
			return nil
		}
		return w.do(ctx, "RENAMENX", k, w.key(space)+"x")
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
