package oracle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Workload drives a reproducible mixed write workload through one
// connection: every data type, MULTI/EXEC, EVAL, FUNCTION LOAD and FCALL,
// keys with long expiries, short-lived keys that expire while it runs
// (keyspace "ttl:*"), several databases, SWAPDB, FLUSHDB, MOVE, COPY,
// RENAME, RESTORE, and big keys. Key names fix the type ("str:*", "list:*",
// "hash:*" ...), so nothing ever meets WRONGTYPE.
type Workload struct {
	Seed uint64
	// DBs is the number of databases used, 0..DBs-1 (default 3).
	DBs int
	// Keys per keyspace and database (default 20).
	Keys int
	// BigElems is the element count of big keys (default 3000; 0 keeps
	// the default, a negative value disables big keys).
	BigElems int
	// MaxTTL bounds the lifetime of "ttl:*" keys (default 300ms).
	MaxTTL time.Duration
	// Swaps allows SWAPDB and FLUSHDB (off by default: they upset tests
	// that track a single database).
	Swaps bool

	rnd    *rand.Rand
	conn   *redis.Conn
	db     int
	ops    int
	loaded bool
	bigN   int
}

// Library is the Lua function library Preload loads; FCALL calls its
// functions.
const Library = `#!lua name=redtap_oracle
redis.register_function('oracle_bump', function(keys, args)
  redis.call('HINCRBY', keys[1], 'ctr', 1)
  redis.call('RPUSH', keys[2], args[1])
  return 1
end)
`

// library2 is loaded while the workload runs, so that the stream carries a
// FUNCTION LOAD.
const library2 = `#!lua name=redtap_oracle2
redis.register_function('oracle_zbump', function(keys, args)
  redis.call('ZINCRBY', keys[1], 1, args[1])
  redis.call('SADD', keys[2], args[1])
  return 1
end)
`

const script = `redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1`

func (w *Workload) init(ctx context.Context, c *redis.Client) error {
	if w.DBs <= 0 {
		w.DBs = 3
	}
	if w.Keys <= 0 {
		w.Keys = 20
	}
	if w.BigElems == 0 {
		w.BigElems = 3000
	}
	if w.MaxTTL <= 0 {
		w.MaxTTL = 300 * time.Millisecond
	}
	if w.rnd == nil {
		w.rnd = rand.New(rand.NewPCG(w.Seed, w.Seed^0x5eed))
	}
	if w.conn == nil {
		w.conn = c.Conn()
		w.db = -1
	}
	return w.use(ctx, 0)
}

// Close releases the workload's connection.
func (w *Workload) Close() error {
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}

// Ops counts the operations run so far.
func (w *Workload) Ops() int { return w.ops }

func (w *Workload) use(ctx context.Context, db int) error {
	if db == w.db {
		return nil
	}
	if err := w.conn.Select(ctx, db).Err(); err != nil {
		return err
	}
	w.db = db
	return nil
}

// do runs one command; redis.Nil is not an error.
func (w *Workload) do(ctx context.Context, args ...any) error {
	err := w.conn.Do(ctx, args...).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("oracle workload %v: %w", clipArgs(args), err)
	}
	return nil
}

func clipArgs(args []any) string {
	s := fmt.Sprint(args)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func (w *Workload) key(space string) string {
	return space + ":" + strconv.Itoa(w.rnd.IntN(w.Keys))
}

// value returns a random value: a word, a number, or binary bytes that are
// not valid UTF-8.
func (w *Workload) value() string {
	switch w.rnd.IntN(6) {
	case 0:
		return strconv.Itoa(w.rnd.IntN(100000) - 500)
	case 1:
		b := make([]byte, 1+w.rnd.IntN(24))
		for i := range b {
			b[i] = byte(w.rnd.IntN(256))
		}
		b[0] = 0xff
		return string(b)
	case 2:
		return strings.Repeat("x", w.rnd.IntN(300))
	default:
		return "v" + strconv.FormatUint(w.rnd.Uint64()%1e6, 36)
	}
}

// Preload writes the data a snapshot should carry: a few keys of every
// type in each database, big keys, keys with long expiries, short-lived
// keys (they expire after the snapshot, so the tap sees their DELs), the
// Lua function library, a stream with consumer groups and pending entries.
func (w *Workload) Preload(ctx context.Context, c *redis.Client) error {
	if err := w.init(ctx, c); err != nil {
		return err
	}
	if err := w.do(ctx, "FUNCTION", "LOAD", "REPLACE", Library); err != nil {
		return err
	}
	for db := 0; db < w.DBs; db++ {
		if err := w.use(ctx, db); err != nil {
			return err
		}
		for i := 0; i < w.Keys; i++ {
			if err := w.step(ctx, false); err != nil {
				return err
			}
		}
		if err := w.groups(ctx); err != nil {
			return err
		}
		if err := w.big(ctx); err != nil {
			return err
		}
		// Short-lived keys that expire once the tap has the snapshot.
		for i := 0; i < 5; i++ {
			ttl := 3*w.MaxTTL + time.Duration(w.rnd.IntN(100))*time.Millisecond
			if err := w.do(ctx, "SET", "ttl:pre"+strconv.Itoa(i), w.value(), "PX", ttl.Milliseconds()); err != nil {
				return err
			}
		}
		if err := w.do(ctx, "SET", "str:long", w.value(), "EX", 7200); err != nil {
			return err
		}
	}
	return w.use(ctx, 0)
}

// groups builds a stream with a consumer group, consumers and pending
// entries (some deleted from the stream).
func (w *Workload) groups(ctx context.Context) error {
	k := "gstream:pre"
	for i := 0; i < 30; i++ {
		if err := w.do(ctx, "XADD", k, "*", "n", i, "v", w.value()); err != nil {
			return err
		}
	}
	if err := w.do(ctx, "XGROUP", "CREATE", k, "g1", "0"); err != nil {
		return err
	}
	if err := w.do(ctx, "XGROUP", "CREATE", k, "g2", "$"); err != nil {
		return err
	}
	if err := w.do(ctx, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", 10, "STREAMS", k, ">"); err != nil {
		return err
	}
	if err := w.do(ctx, "XREADGROUP", "GROUP", "g1", "bob", "COUNT", 5, "STREAMS", k, ">"); err != nil {
		return err
	}
	if err := w.do(ctx, "XGROUP", "CREATECONSUMER", k, "g2", "idle"); err != nil {
		return err
	}
	ids, err := w.conn.XRange(ctx, k, "-", "+").Result()
	if err != nil {
		return err
	}
	// Acknowledge one pending entry and delete it, delete one never
	// delivered. (A deleted entry that stays pending cannot be rebuilt with
	// commands: see Applier.Record.)
	if err := w.do(ctx, "XACK", k, "g1", ids[0].ID); err != nil {
		return err
	}
	return w.do(ctx, "XDEL", k, ids[0].ID, ids[20].ID)
}

// big writes big keys of every type (chunked in snapshots).
func (w *Workload) big(ctx context.Context) error {
	if w.BigElems < 0 {
		return nil
	}
	w.bigN++
	n := w.BigElems
	suffix := strconv.Itoa(w.bigN)
	for start := 0; start < n; start += 500 {
		end := min(start+500, n)
		list := []any{"RPUSH", "list:big" + suffix}
		set := []any{"SADD", "set:big" + suffix}
		zset := []any{"ZADD", "zset:big" + suffix}
		hash := []any{"HSET", "hash:big" + suffix}
		for i := start; i < end; i++ {
			v := "e" + strconv.Itoa(i) + "-" + w.value()
			list = append(list, v)
			set = append(set, v)
			zset = append(zset, float64(i)/7, v)
			hash = append(hash, "f"+strconv.Itoa(i), v)
		}
		for _, cmd := range [][]any{list, set, zset, hash} {
			if err := w.do(ctx, cmd...); err != nil {
				return err
			}
		}
	}
	for i := 0; i < n/10; i++ {
		if err := w.do(ctx, "XADD", "stream:big"+suffix, "*", "i", i, "v", w.value()); err != nil {
			return err
		}
	}
	return w.do(ctx, "SET", "str:big"+suffix, strings.Repeat("0123456789abcdef", n*8))
}

// Run performs n random operations, among them at least one SWAPDB and
// one FLUSHDB (with Swaps) and one set of big keys.
func (w *Workload) Run(ctx context.Context, c *redis.Client, n int) error {
	if err := w.init(ctx, c); err != nil {
		return err
	}
	if !w.loaded {
		w.loaded = true
		if err := w.do(ctx, "FUNCTION", "LOAD", "REPLACE", library2); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.use(ctx, w.rnd.IntN(w.DBs)); err != nil {
			return err
		}
		var err error
		switch {
		// The rare operations happen at least once in every run.
		case i == n/3 && w.Swaps && w.DBs > 1:
			err = w.do(ctx, "SWAPDB", 0, 1)
		case i == n/2 && w.BigElems > 0:
			err = w.big(ctx)
		case i == 2*n/3 && w.Swaps:
			err = w.do(ctx, "FLUSHDB")
		default:
			err = w.step(ctx, true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// step runs one random operation in the current database; rare operations
// (big keys, SWAPDB, FLUSHDB) only when rare is set.
func (w *Workload) step(ctx context.Context, rare bool) error {
	w.ops++
	if rare {
		switch r := w.rnd.IntN(1000); {
		case r < 2 && w.BigElems > 0:
			return w.big(ctx)
		case r < 4 && w.Swaps && w.DBs > 1:
			return w.do(ctx, "SWAPDB", w.rnd.IntN(w.DBs), w.rnd.IntN(w.DBs))
		case r < 5 && w.Swaps:
			return w.do(ctx, "FLUSHDB")
		}
	}
	switch w.rnd.IntN(16) {
	case 0:
		return w.stringOp(ctx)
	case 1:
		return w.counterOp(ctx)
	case 2:
		return w.listOp(ctx)
	case 3:
		return w.setOp(ctx)
	case 4:
		return w.zsetOp(ctx)
	case 5:
		return w.hashOp(ctx)
	case 6:
		return w.streamOp(ctx)
	case 7:
		return w.groupOp(ctx)
	case 8, 9:
		return w.ttlOp(ctx)
	case 10:
		return w.keyspaceOp(ctx)
	case 11:
		return w.multi(ctx)
	case 12:
		return w.do(ctx, "EVAL", script, 3, w.key("cnt"), w.key("list"), w.key("hash"), "s"+strconv.Itoa(w.ops), w.value())
	case 13:
		if w.rnd.IntN(2) == 0 || !w.loaded {
			return w.do(ctx, "FCALL", "oracle_bump", 2, w.key("hash"), w.key("list"), w.value())
		}
		return w.do(ctx, "FCALL", "oracle_zbump", 2, w.key("zset"), w.key("set"), w.value())
	case 14:
		return w.bitsOp(ctx)
	default:
		return w.expireOp(ctx)
	}
}

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

func (w *Workload) bitsOp(ctx context.Context) error {
	switch w.rnd.IntN(3) {
	case 0:
		return w.do(ctx, "SETBIT", w.key("bits"), w.rnd.IntN(2000), w.rnd.IntN(2))
	case 1:
		return w.do(ctx, "BITOP", "OR", w.key("bits"), w.key("bits"), w.key("bits"))
	default:
		return w.do(ctx, "BITFIELD", w.key("bits"), "INCRBY", "u8", 8*w.rnd.IntN(10), 3)
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

// Settle waits until no short-lived key is left on the master: it waits
// MaxTTL, then scans every database (SCAN expires what it meets) until no
// "ttl:*" key remains.
func (w *Workload) Settle(ctx context.Context, c *redis.Client) error {
	if err := w.init(ctx, c); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w.MaxTTL):
		}
		left := 0
		for db := 0; db < w.DBs; db++ {
			if err := w.use(ctx, db); err != nil {
				return err
			}
			var keys []string
			it := w.conn.Scan(ctx, 0, "ttl:*", 1000).Iterator()
			for it.Next(ctx) {
				keys = append(keys, it.Val())
			}
			if err := it.Err(); err != nil {
				return err
			}
			for _, k := range keys {
				// A key seen by SCAN may be gone already; EXISTS expires it
				// lazily when its time has passed.
				n, err := w.conn.Exists(ctx, k).Result()
				if err != nil {
					return err
				}
				left += int(n)
			}
		}
		if left == 0 {
			return w.use(ctx, 0)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("oracle: %d short-lived keys still alive after 30s", left)
		}
	}
}

// Fence writes a marker key in db 0 and returns its value; a tap has
// delivered everything written before it once it delivers
// "SET __oracle:fence <value>".
func (w *Workload) Fence(ctx context.Context, c *redis.Client) (string, error) {
	if err := w.init(ctx, c); err != nil {
		return "", err
	}
	v := "fence-" + strconv.Itoa(w.ops) + "-" + strconv.FormatUint(w.rnd.Uint64(), 36)
	return v, w.do(ctx, "SET", FenceKey, v)
}

// FenceKey is the key Fence writes.
const FenceKey = "__oracle:fence"
