package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Workload writes a reproducible mix of commands to every slot of a
// cluster: strings, hashes, lists, sets, sorted sets, streams, expiries an
// hour away, deletes and MULTI/EXEC blocks on keys of one hash slot.
type Workload struct {
	Seed uint64
	Keys int // keys per type (default 200)
	rng  *rand.Rand
	ops  int
}

// Ops counts the operations done.
func (w *Workload) Ops() int { return w.ops }

// Run performs n operations. A failing write (during a failover) is
// retried until it succeeds or ctx ends.
func (w *Workload) Run(ctx context.Context, c *redis.ClusterClient, n int) error {
	if w.rng == nil {
		w.rng = rand.New(rand.NewPCG(w.Seed, w.Seed^0x9e3779b97f4a7c15))
	}
	if w.Keys == 0 {
		w.Keys = 200
	}
	for range n {
		op := w.rng.IntN(16)
		k := w.rng.IntN(w.Keys)
		v := strconv.Itoa(w.rng.IntN(1000))
		var err error
		for try := 0; ; try++ {
			err = w.one(ctx, c, op, k, v)
			if err == nil || ctx.Err() != nil {
				break
			}
			if try > 200 {
				return fmt.Errorf("workload op %d: %w", op, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return err
		}
		w.ops++
	}
	return nil
}

func (w *Workload) one(ctx context.Context, c *redis.ClusterClient, op, k int, v string) error {
	key := func(t string) string { return t + ":" + strconv.Itoa(k) }
	var err error
	switch op {
	case 0, 1:
		err = c.Set(ctx, key("str"), v, 0).Err()
	case 2:
		err = c.Append(ctx, key("str"), v).Err()
	case 3:
		err = c.IncrBy(ctx, key("ctr"), int64(len(v))).Err()
	case 4:
		err = c.HSet(ctx, key("hash"), "f"+v[:1], v).Err()
	case 5:
		err = c.HDel(ctx, key("hash"), "f"+v[:1]).Err()
	case 6:
		err = c.RPush(ctx, key("list"), v, v+"x").Err()
	case 7:
		err = c.LPop(ctx, key("list")).Err()
	case 8:
		err = c.SAdd(ctx, key("set"), v).Err()
	case 9:
		err = c.SRem(ctx, key("set"), v).Err()
	case 10:
		err = c.ZAdd(ctx, key("zset"), redis.Z{Score: float64(len(v)), Member: v}).Err()
	case 11:
		err = c.XAdd(ctx, &redis.XAddArgs{Stream: key("stream"), Values: []any{"v", v}}).Err()
	case 12:
		err = c.Expire(ctx, key("str"), time.Hour+time.Duration(k)*time.Second).Err()
	case 13:
		err = c.Del(ctx, key([]string{"str", "hash", "list", "set"}[k%4])).Err()
	case 14:
		// A transaction on keys of one slot.
		tag := "{tx" + strconv.Itoa(k) + "}"
		_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, tag+":n")
			p.RPush(ctx, tag+":log", v)
			p.HSet(ctx, tag+":h", "last", v)
			return nil
		})
	case 15:
		err = c.ZIncrBy(ctx, key("zset"), 1, "m"+v[:1]).Err()
	}
	if err == redis.Nil {
		err = nil
	}
	return err
}

// expiryDrift is how far a key's expiry may move in the cluster without
// the tap: MIGRATE sends the remaining time to live, not the deadline, so
// a migrated key's deadline moves by what the migration took.
const expiryDrift = 100 * time.Millisecond

// Compare diffs the cluster's keys (from every live primary) with the
// keys of the single server behind target: the same set of keys, and for
// each the same value (DEBUG DIGEST-VALUE) and expiry (PEXPIRETIME, within
// expiryDrift). It
// returns at most 20 differences.
func (c *Cluster) Compare(ctx context.Context, target *redis.Client) ([]string, error) {
	var diffs []string
	add := func(f string, a ...any) {
		if len(diffs) < 20 {
			diffs = append(diffs, fmt.Sprintf(f, a...))
		}
	}
	total := 0
	for _, p := range c.Primaries() {
		src := redis.NewClient(&redis.Options{Addr: p.Addr, DisableIdentity: true, Protocol: 2})
		var cursor uint64
		for {
			keys, next, err := src.Scan(ctx, cursor, "*", 1000).Result()
			if err != nil {
				src.Close()
				return nil, err
			}
			for _, k := range keys {
				total++
				a, err := src.Do(ctx, "DEBUG", "DIGEST-VALUE", k).Result()
				if err != nil {
					src.Close()
					return nil, err
				}
				b, err := target.Do(ctx, "DEBUG", "DIGEST-VALUE", k).Result()
				if err != nil {
					src.Close()
					return nil, err
				}
				if fmt.Sprint(a) != fmt.Sprint(b) {
					add("%s: value differs (%s on %s)", k, describe(ctx, src, k), p.Addr)
					continue
				}
				ea, _ := src.PExpireTime(ctx, k).Result()
				eb, _ := target.PExpireTime(ctx, k).Result()
				if d := ea - eb; d > expiryDrift || d < -expiryDrift || (ea < 0) != (eb < 0) {
					add("%s: expiry %v, replay %v", k, ea, eb)
				}
			}
			cursor = next
			if cursor == 0 {
				break
			}
		}
		src.Close()
	}
	n, err := target.DBSize(ctx).Result()
	if err != nil {
		return nil, err
	}
	if int(n) != total {
		add("the cluster has %d keys, the replay %d", total, n)
	}
	return diffs, nil
}

func describe(ctx context.Context, c *redis.Client, k string) string {
	t, _ := c.Type(ctx, k).Result()
	return strings.TrimSpace(t)
}
