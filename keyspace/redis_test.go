package keyspace_test

import (
	"context"
	"hash/fnv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/keyspace"
)

// TestSameAsMaster runs a random workload on a master with
// notify-keyspace-events KEA and checks that a PSUBSCRIBE __keyevent@*__:*
// subscriber gets the same (channel, message) sequence from the face,
// in RESP2 and RESP3, as from the master itself; and a __keyspace@*__:*
// subscriber too.
func TestSameAsMaster(t *testing.T) {
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		tp := startTap(t, &k, keyspace.Config{})
		ctx := context.Background()

		subscribe := func(c *redis.Client, pattern string) *redis.PubSub {
			ps := c.PSubscribe(ctx, pattern)
			t.Cleanup(func() { ps.Close() })
			_, err := ps.Receive(ctx) // the confirmation
			require.NoError(t, err)
			return ps
		}
		face2 := subscribe(tp.client(t, 2), "__keyevent@*__:*")
		face3 := subscribe(tp.client(t, 3), "__keyevent@*__:*")
		faceKS := subscribe(tp.client(t, 3), "__keyspace@*__:*")
		// Wait until the tap is streaming: a write reaches the face.
		require.NoError(t, tp.rc.Set(ctx, "sentinel", "0", 0).Err())
		collect(t, face2)
		collect(t, face3)
		collect(t, faceKS)
		master := subscribe(tp.rc, "__keyevent@*__:*")
		masterKS := subscribe(tp.rc, "__keyspace@*__:*")

		// A seed per server: more workloads, each reproducible.
		h := fnv.New64a()
		h.Write([]byte(k.Name))
		workload(t, ctx, tp.rc, h.Sum64(), 600)

		want := collect(t, master)
		require.Greater(t, len(want), 400)
		require.Equal(t, want, collect(t, face2), "RESP2")
		require.Equal(t, want, collect(t, face3), "RESP3")
		require.Equal(t, collect(t, masterKS), collect(t, faceKS), "keyspace channels")
	})
}
