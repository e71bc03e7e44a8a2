package live_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/monitor"
)

// TestRedis taps a real redis-server: replica -> monitor -> assembler ->
// hub -> SSE.
func TestRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rc := srv.Client()
	defer rc.Close()
	ctx := context.Background()
	require.NoError(t, rc.ZAdd(ctx, "cpu:h1", redisZ(1000, "x")...).Err())
	require.NoError(t, rc.Set(ctx, "other", "v", 0).Err())

	h := tapHub(t, ctx, srv.Addr, "cpu:*", assembler.Config{Windows: []assembler.Window{{Match: "cpu:*", Limit: 3}}},
		live.Config{}, monitor.OnSlow(monitor.Block))
	defer func() { require.NoError(t, h.Close()) }()
	hs := serve(t, h.SSE())

	c := dialSSE(t, hs.URL, "")
	e := c.next(t)
	require.Equal(t, "updates", e.Event)
	require.Equal(t, []string{"cpu:h1"}, keysOf(t, e.Data))
	require.GreaterOrEqual(t, e.ID, int64(0), "the replication offset of the snapshot")

	require.NoError(t, rc.ZAdd(ctx, "cpu:h1", redisZ(2000, "y")...).Err())
	e2 := c.next(t)
	require.Equal(t, "dUpdates", e2.Event)
	require.Greater(t, e2.ID, e.ID)
	require.Equal(t, []string{"cpu:h1/y"}, setIDs(t, e2.Data))
	info, err := srv.Info(ctx, "replication")
	require.NoError(t, err)
	require.Equal(t, info["master_repl_offset"], fmt.Sprint(e2.ID), "id is the master's offset")
}

func redisZ(score float64, member string) []redis.Z {
	return []redis.Z{{Score: score, Member: member}}
}

// TestRedisAtOnce: with Interval AtOnce, what arrives together (a pipeline,
// other keys' writes in between) may leave in one message, and nothing is
// lost: every member arrives, in offset order, the last id being the
// master's offset.
func TestRedisAtOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	rc := srv.Client()
	defer rc.Close()
	ctx := context.Background()
	h := tapHub(t, ctx, srv.Addr, "z", assembler.Config{Windows: []assembler.Window{{Match: "z", Limit: 1000}}, Interval: assembler.AtOnce},
		live.Config{Interval: assembler.AtOnce}, monitor.OnSlow(monitor.Block))
	hs := serve(t, h.SSE())
	c := dialSSE(t, hs.URL, "")
	require.Equal(t, "updates", c.next(t).Event)

	const n = 300
	p := rc.Pipeline()
	for i := range n {
		p.Set(ctx, fmt.Sprint("other", i), "v", 0)
		p.ZAdd(ctx, "z", redisZ(float64(i), fmt.Sprint("m", i))...)
	}
	_, err := p.Exec(ctx)
	require.NoError(t, err)
	info, err := srv.Info(ctx, "replication")
	require.NoError(t, err)
	last := info["master_repl_offset"]

	var got []string
	msgs, id := 0, int64(-1)
	for len(got) < n {
		e := c.next(t)
		require.Equal(t, "dUpdates", e.Event)
		require.Greater(t, e.ID, id)
		id = e.ID
		got = append(got, setIDs(t, e.Data)...)
		msgs++
	}
	for i, m := range got {
		require.Equal(t, fmt.Sprint("z/m", i), m)
	}
	require.Equal(t, last, fmt.Sprint(id))
	t.Logf("%d changes in %d messages", n, msgs)
}
