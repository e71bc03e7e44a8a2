package oracle

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Preload writes the data a snapshot should carry: a few keys of every
// type in each database, big keys, keys with long expiries, short-lived
// keys (they expire after the snapshot, so the tap sees their DELs), the
// Lua function library, a stream with consumer groups and pending entries.
func (w *Workload) Preload(ctx context.Context, c *redis.Client) error {
	if err := w.init(ctx, c); err != nil {
		return err
	}
	if err := w.conn.Write(ctx, "FUNCTION", "LOAD", "REPLACE", Library); err != nil {
		return err
	}
	for db := 0; db < w.DBs; db++ {
		if err := w.conn.Use(ctx, db); err != nil {
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
		if w.FieldTTL {
			// Small hashes with field expiries: listpack-ex in snapshots.
			for i := 0; i < 3; i++ {
				k := "hash:fttl" + strconv.Itoa(i)
				if err := w.conn.Write(ctx, "HSET", k, "a", w.value(), "b", w.value(), "c", w.value()); err != nil {
					return err
				}
				args := []any{"HPEXPIRE", k, 7_200_000 + w.rnd.IntN(1000), "FIELDS", 1 + i}
				for _, f := range []string{"a", "b", "c"}[:1+i] {
					args = append(args, f)
				}
				if err := w.conn.Write(ctx, args...); err != nil {
					return err
				}
			}
		}
		if err := w.big(ctx); err != nil {
			return err
		}
		// Short-lived keys that expire once the tap has the snapshot.
		for i := 0; i < 5; i++ {
			ttl := 3*w.MaxTTL + time.Duration(w.rnd.IntN(100))*time.Millisecond
			if err := w.conn.Write(ctx, "SET", "ttl:pre"+strconv.Itoa(i), w.value(), "PX", ttl.Milliseconds()); err != nil {
				return err
			}
		}
		if err := w.conn.Write(ctx, "SET", "str:long", w.value(), "EX", 7200); err != nil {
			return err
		}
	}
	return w.conn.Use(ctx, 0)
}

// groups builds a stream with a consumer group, consumers and pending
// entries (some deleted from the stream).
func (w *Workload) groups(ctx context.Context) error {
	k := "gstream:pre"
	for i := 0; i < 30; i++ {
		if err := w.conn.Write(ctx, "XADD", k, "*", "n", i, "v", w.value()); err != nil {
			return err
		}
	}
	if err := w.conn.Write(ctx, "XGROUP", "CREATE", k, "g1", "0"); err != nil {
		return err
	}
	if err := w.conn.Write(ctx, "XGROUP", "CREATE", k, "g2", "$"); err != nil {
		return err
	}
	if err := w.conn.Write(ctx, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", 10, "STREAMS", k, ">"); err != nil {
		return err
	}
	if err := w.conn.Write(ctx, "XREADGROUP", "GROUP", "g1", "bob", "COUNT", 5, "STREAMS", k, ">"); err != nil {
		return err
	}
	if err := w.conn.Write(ctx, "XGROUP", "CREATECONSUMER", k, "g2", "idle"); err != nil {
		return err
	}
	ids, err := w.conn.XRange(ctx, k, "-", "+").Result()
	if err != nil {
		return err
	}
	// Acknowledge one pending entry and delete it, delete one never
	// delivered. (A deleted entry that stays pending cannot be rebuilt with
	// commands: see Applier.Record.)
	if err := w.conn.Write(ctx, "XACK", k, "g1", ids[0].ID); err != nil {
		return err
	}
	return w.conn.Write(ctx, "XDEL", k, ids[0].ID, ids[20].ID)
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
			if err := w.conn.Write(ctx, cmd...); err != nil {
				return err
			}
		}
	}
	if w.FieldTTL {
		// A big hash with field expiries: hashtable with metadata.
		if err := w.conn.Write(ctx, "HEXPIRE", "hash:big"+suffix, 7200, "FIELDS", 2, "f0", "f1"); err != nil {
			return err
		}
	}
	for i := 0; i < n/10; i++ {
		if err := w.conn.Write(ctx, "XADD", "stream:big"+suffix, "*", "i", i, "v", w.value()); err != nil {
			return err
		}
	}
	return w.conn.Write(ctx, "SET", "str:big"+suffix, strings.Repeat("0123456789abcdef", n*8))
}
