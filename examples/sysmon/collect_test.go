package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
)

var allMetrics = []string{"cpu", "mem", "load", "net", "disk", "procs"}

// members returns the members of a sorted set, oldest first, decoded.
func members(t *testing.T, c *redis.Client, key string) []map[string]any {
	t.Helper()
	zs, err := c.ZRangeWithScores(context.Background(), key, 0, -1).Result()
	require.NoError(t, err)
	var out []map[string]any
	for _, z := range zs {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(z.Member.(string)), &m), "member of %s: %q", key, z.Member)
		require.Equal(t, z.Score, m["t"], "score = t")
		out = append(out, m)
	}
	return out
}

func TestCollectorWrites(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client()
	ctx := context.Background()
	col := newCollector(c, collectorConfig{Host: "h1", Every: time.Second, Retain: time.Minute})

	t0 := time.Now()
	require.NoError(t, col.tick(ctx, t0))
	// Rates need two samples: the first tick writes mem and load only.
	for _, m := range allMetrics {
		n := len(members(t, c, metricKey("h1", m)))
		if m == "mem" || m == "load" {
			require.Equal(t, 1, n, m)
		} else {
			require.Zero(t, n, m)
		}
	}

	t1 := t0.Add(time.Second)
	require.NoError(t, col.tick(ctx, t1))
	for _, m := range allMetrics {
		ms := members(t, c, metricKey("h1", m))
		require.NotEmpty(t, ms, m)
		last := ms[len(ms)-1]
		require.Equal(t, "h1:"+strconv.FormatInt(t1.UnixMilli(), 10), last["id"], m)
		require.Equal(t, float64(t1.UnixMilli()), last["t"], m)
	}
	last := func(m string) map[string]any { ms := members(t, c, metricKey("h1", m)); return ms[len(ms)-1] }
	cpu := last("cpu")
	require.IsType(t, float64(0), cpu["total"])
	require.NotEmpty(t, cpu["cores"])
	mem := last("mem")
	require.Greater(t, mem["total"], float64(0))
	for _, f := range []string{"used", "pct", "swapUsed", "swapTotal", "swapPct"} {
		require.Contains(t, mem, f)
	}
	for _, f := range []string{"l1", "l5", "l15"} {
		require.IsType(t, float64(0), last("load")[f])
	}
	require.Contains(t, last("net"), "rx")
	require.Contains(t, last("net"), "tx")
	require.Contains(t, last("disk"), "read")
	require.Contains(t, last("disk"), "write")
	top := last("procs")["top"].([]any)
	require.LessOrEqual(t, len(top), topProcs)
	for _, p := range top {
		for _, f := range []string{"pid", "name", "cpu", "rss"} {
			require.Contains(t, p, f)
		}
	}
	hosts, err := c.SMembers(ctx, hostsKey).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"h1"}, hosts)
}

func TestCollectorRetentionInOneTransaction(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client()
	ctx := context.Background()
	now := time.Now()
	key := metricKey("h2", "mem")
	old := now.Add(-11 * time.Minute).UnixMilli()
	edge := now.Add(-9 * time.Minute).UnixMilli()
	require.NoError(t, c.ZAdd(ctx, key,
		redis.Z{Score: float64(old), Member: `{"id":"h2:old","t":` + strconv.FormatInt(old, 10) + `}`},
		redis.Z{Score: float64(edge), Member: `{"id":"h2:edge","t":` + strconv.FormatInt(edge, 10) + `}`},
	).Err())
	require.NoError(t, c.ConfigResetStat(ctx).Err())

	col := newCollector(c, collectorConfig{Host: "h2", Every: time.Second, Retain: 10 * time.Minute})
	require.NoError(t, col.write(ctx, now, []record{{"mem", memValue{Used: 1, Total: 2, Pct: 50}}}))

	var ids []any
	for _, m := range members(t, c, key) {
		ids = append(ids, m["id"])
	}
	require.Equal(t, []any{"h2:edge", "h2:" + strconv.FormatInt(now.UnixMilli(), 10)}, ids, "older than --retain trimmed, the rest kept")

	stats, err := srv.Info(ctx, "commandstats")
	require.NoError(t, err)
	for _, cmd := range []string{"multi", "exec", "zadd", "zremrangebyscore", "sadd"} {
		require.Contains(t, stats["cmdstat_"+cmd], "calls=1,", cmd)
	}
}

func TestCollectorRedisDown(t *testing.T) {
	// Nothing listens on the port: every tick fails, the collector logs it
	// once and keeps going until its context ends.
	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	var logs syncbuf.Buffer
	col := newCollector(c, collectorConfig{Host: "h3", Every: 10 * time.Millisecond, Retain: time.Minute,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	redistest.WaitFor(t, 10*time.Second, "the write failure to be logged", func() bool {
		return bytes.Contains([]byte(logs.String()), []byte("write failed"))
	})
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("write failed")), "logged once, not every tick:\n%s", logs.String())
}
