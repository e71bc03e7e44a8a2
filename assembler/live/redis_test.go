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
