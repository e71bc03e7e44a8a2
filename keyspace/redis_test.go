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

// TestSameAsMaster runs random workloads on a master with
// notify-keyspace-events KEA and checks that PSUBSCRIBE __keyevent@*__:*
// and __keyspace@*__:* subscribers get the same (channel, message)
// sequences from redtap, in RESP2 and RESP3, as from the master itself:
//
//   - first a workload whose notifications the commands' arguments tell
//     (no collection emptied, no missing key deleted), through a face
//     without and one with Config.TrackKeys;
//   - then one that empties hashes, lists, sets and sorted sets, deletes
//     missing keys and SMOVEs members the destination has, through the
//     face with TrackKeys, which took the snapshot of a preloaded master.
func TestSameAsMaster(t *testing.T) {
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		srv := redistest.Start(t, k.Options(redistest.Options{Args: []string{"--notify-keyspace-events", "KEA", "--repl-diskless-sync-delay", "0"}}))
		ctx := context.Background()
		rc := srv.Client()
		// A seed per server: more workloads, each reproducible.
		h := fnv.New64a()
		h.Write([]byte(k.Name))
		seed := h.Sum64()
		model := newModel()
		workload(t, ctx, rc, seed+1, 150, model, false) // in the snapshot

		plain := tapOn(t, srv, keyspace.Config{})
		tracking := tapOn(t, srv, keyspace.Config{TrackKeys: true})

		subscribe := func(c *redis.Client, pattern string) *redis.PubSub {
			ps := c.PSubscribe(ctx, pattern)
			t.Cleanup(func() { ps.Close() })
			_, err := ps.Receive(ctx) // the confirmation
			require.NoError(t, err)
			return ps
		}
		faces := map[string]*redis.PubSub{
			"RESP2":          subscribe(plain.client(t, 2), "__keyevent@*__:*"),
			"RESP3":          subscribe(plain.client(t, 3), "__keyevent@*__:*"),
			"keyspace":       subscribe(plain.client(t, 3), "__keyspace@*__:*"),
			"track":          subscribe(tracking.client(t, 3), "__keyevent@*__:*"),
			"track keyspace": subscribe(tracking.client(t, 2), "__keyspace@*__:*"),
		}
		// Wait until the taps are streaming: a write reaches the faces.
		require.NoError(t, rc.Set(ctx, "sentinel", "0", 0).Err())
		for _, ps := range faces {
			collect(t, ps)
		}
		master := subscribe(rc, "__keyevent@*__:*")
		masterKS := subscribe(rc, "__keyspace@*__:*")

		workload(t, ctx, rc, seed, 800, model, false)
		want, wantKS := collect(t, master), collect(t, masterKS)
		require.Greater(t, len(want), 300)
		for name, ps := range faces {
			if name == "keyspace" || name == "track keyspace" {
				require.Equal(t, wantKS, collect(t, ps), name)
			} else {
				require.Equal(t, want, collect(t, ps), name)
			}
		}

		workload(t, ctx, rc, seed+2, 800, model, true)
		want, wantKS = collect(t, master), collect(t, masterKS)
		var dels int
		for _, m := range want {
			if m.Channel == "__keyevent@0__:del" || m.Channel == "__keyevent@1__:del" {
				dels++
			}
		}
		require.Greater(t, dels, 20, "the workload empties keys")
		t.Logf("%d notifications, %d dels", len(want), dels)
		require.Equal(t, want, collect(t, faces["track"]), "track")
		require.Equal(t, wantKS, collect(t, faces["track keyspace"]), "track keyspace")
	})
}
