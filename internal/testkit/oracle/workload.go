package oracle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redtap/redtap/internal/testkit/redistest"
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
	// FieldTTL adds hash field expiries (Redis 7.4+): HEXPIRE, HPEXPIRE,
	// HEXPIREAT (also in the past, which deletes the field) and HPERSIST
	// in the hash operations, and fields with expiries in Preload's hashes,
	// big ones included. Field expiries are an hour or more away, so the
	// target of a replay never expires a field on its own.
	FieldTTL bool
	// NoBits leaves the bit-string operations (SETBIT, BITOP, BITFIELD)
	// out: on Valkey 8.0.1 a real replica, as well as a replay of the
	// stream, sometimes ends with another last byte of a bit string than
	// its master (seen with SETBIT alone).
	NoBits bool

	rnd    *rand.Rand
	conn   *Conn
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
		w.conn = NewConn(c)
	}
	return w.conn.Use(ctx, 0)
}

// On sets the workload's server-dependent switches for a server of the
// matrix: field expiries where it has them, no bit-string operations where
// they do not replicate exactly. It returns w.
func (w *Workload) On(k redistest.Kind) *Workload {
	w.FieldTTL = k.Has(redistest.HashFieldTTL)
	w.NoBits = !k.Has(redistest.BitsReplicateExactly)
	return w
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

// Run performs n random operations, among them at least one SWAPDB and
// one FLUSHDB (with Swaps), one set of big keys, and one field expiry set,
// removed and set in the past (with FieldTTL).
func (w *Workload) Run(ctx context.Context, c *redis.Client, n int) error {
	if err := w.init(ctx, c); err != nil {
		return err
	}
	if !w.loaded {
		w.loaded = true
		if err := w.conn.Write(ctx, "FUNCTION", "LOAD", "REPLACE", library2); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.conn.Use(ctx, w.rnd.IntN(w.DBs)); err != nil {
			return err
		}
		var err error
		switch {
		// The rare operations happen at least once in every run.
		case i == n/3 && w.Swaps && w.DBs > 1:
			err = w.conn.Write(ctx, "SWAPDB", 0, 1)
		case i == n/2 && w.BigElems > 0:
			err = w.big(ctx)
		case i == 2*n/3 && w.Swaps:
			err = w.conn.Write(ctx, "FLUSHDB")
		case i == n/4 && w.FieldTTL:
			err = w.fieldTTLCycle(ctx)
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
			return w.conn.Write(ctx, "SWAPDB", w.rnd.IntN(w.DBs), w.rnd.IntN(w.DBs))
		case r < 5 && w.Swaps:
			return w.conn.Write(ctx, "FLUSHDB")
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
		return w.conn.Write(ctx, "EVAL", script, 3, w.key("cnt"), w.key("list"), w.key("hash"), "s"+strconv.Itoa(w.ops), w.value())
	case 13:
		if w.rnd.IntN(2) == 0 || !w.loaded {
			return w.conn.Write(ctx, "FCALL", "oracle_bump", 2, w.key("hash"), w.key("list"), w.value())
		}
		return w.conn.Write(ctx, "FCALL", "oracle_zbump", 2, w.key("zset"), w.key("set"), w.value())
	case 14:
		return w.bitsOp(ctx)
	default:
		return w.expireOp(ctx)
	}
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
		left, err := w.conn.Alive(ctx, w.DBs, "ttl:*")
		if err != nil {
			return err
		}
		if left == 0 {
			return nil
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
	return v, w.conn.Write(ctx, "SET", FenceKey, v)
}

// FenceKey is the key Fence writes.
const FenceKey = "__oracle:fence"
