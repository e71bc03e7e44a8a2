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
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
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

	r, err := replica.Dial(ctx, replica.Config{Addr: srv.Addr, RDBOptions: []rdb.Option{rdb.WithMatch("cpu:*")}})
	require.NoError(t, err)
	defer r.Close()
	m, err := monitor.New(r)
	require.NoError(t, err)
	defer m.Close()
	sub, err := m.Subscribe(monitor.Filter{Match: []string{"cpu:*"}}, monitor.OnSlow(monitor.Block))
	require.NoError(t, err)
	a, err := assembler.New(assembler.Config{Windows: []assembler.Window{{Match: "cpu:*", Limit: 3}}})
	require.NoError(t, err)
	h, err := live.NewHub(ctx, sub, a, live.Config{})
	require.NoError(t, err)
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
