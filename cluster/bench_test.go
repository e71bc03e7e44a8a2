package cluster_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redtap/redtap/cluster"
	"github.com/redtap/redtap/internal/testkit/clustertest"
	"github.com/redtap/redtap/replica"
)

// memCheckpointer hands out a fixed checkpoint and keeps nothing.
type memCheckpointer struct{ c cluster.Checkpoint }

func (m *memCheckpointer) Load(context.Context) (cluster.Checkpoint, error) { return m.c, nil }
func (m *memCheckpointer) Save(context.Context, cluster.Checkpoint) error   { return nil }

// benchBacklog starts a 3-primary cluster (no replicas), notes every
// primary's position, writes n SETs across all slots (and then n DELs of
// the same keys, with del), and returns the positions from before the
// writes: each shard's backlog then holds its share of the commands.
func benchBacklog(b *testing.B, n int, del bool) (*clustertest.Cluster, cluster.Checkpoint, map[string]string, map[string]int64) {
	cl := clustertest.Start(b, clustertest.Options{ReplicasPer: -1, Args: []string{"--repl-backlog-size", "512mb"}})
	ctx := context.Background()
	cp := cluster.Checkpoint{Shards: map[string]cluster.ShardMark{}}
	addrs := map[string]string{}
	for _, p := range cl.Primaries() {
		c := redis.NewClient(&redis.Options{Addr: p.Addr, Protocol: 2, DisableIdentity: true})
		// A replication backlog exists once a replica has attached: the
		// first tap does, so take the position through one.
		r, err := replica.Dial(ctx, replica.Config{Addr: p.Addr, Snapshot: replica.SnapshotSkip})
		if err != nil {
			b.Fatal(err)
		}
		var pos replica.Position
		for pos.IsZero() {
			ev, err := r.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			pos = replica.PosOf(ev)
		}
		r.Close()
		c.Close()
		cp.Shards[p.ID] = cluster.ShardMark{ReplID: pos.ReplID, Offset: pos.Offset, Nodes: []string{p.ID}}
		addrs[p.ID] = p.Addr
	}
	cc := cl.Client()
	val := make([]byte, 64)
	for i := 0; i < n; i += 1000 {
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < min(i+1000, n); j++ {
				p.Set(ctx, "k:"+strconv.Itoa(j), val, 0)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; del && i < n; i += 1000 {
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < min(i+1000, n); j++ {
				p.Del(ctx, "k:"+strconv.Itoa(j))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	ends := map[string]int64{}
	for id, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, Protocol: 2, DisableIdentity: true})
		info, err := c.Info(ctx, "replication").Result()
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "master_repl_offset:"); ok {
				ends[id], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return cl, cp, addrs, ends
}

const benchCmds = 300_000

// BenchmarkClusterMerged reads a backlog of benchCmds SETs spread over 3
// shards through one cluster.Tap (one session per shard, merged): the
// figure to compare with BenchmarkClusterSeparate.
func BenchmarkClusterMerged(b *testing.B) { benchMerged(b, benchCmds, false) }

// BenchmarkClusterMergedDel is BenchmarkClusterMerged over a backlog of
// benchCmds/2 SETs and then a DEL of each key: every DEL is told apart
// from a migration's (a barrier over the other primaries).
func BenchmarkClusterMergedDel(b *testing.B) { benchMerged(b, benchCmds/2, true) }

func benchMerged(b *testing.B, n int, del bool) {
	cl, cp, _, _ := benchBacklog(b, n, del)
	cmds := n
	if del {
		cmds *= 2
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var st cluster.Stats
	for range b.N {
		tap, err := cluster.Dial(ctx, cluster.Config{Addrs: cl.Seeds(), Checkpointer: &memCheckpointer{cp}})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		readUntil(b, tap, func(ev replica.Event) bool {
			if _, ok := ev.(*replica.Command); ok {
				n++
			}
			return n == cmds
		})
		st = tap.Stats()
		tap.Close()
	}
	b.ReportMetric(float64(cmds*b.N)/time.Since(start).Seconds(), "cmds/s")
	b.ReportMetric(float64(st.Barriers), "barriers")
}

// BenchmarkClusterSeparate reads the same backlog with three independent
// replica sessions, one per shard, each on its own goroutine.
func BenchmarkClusterSeparate(b *testing.B) {
	_, cp, addrs, ends := benchBacklog(b, benchCmds, false)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var wg sync.WaitGroup
		for id, m := range cp.Shards {
			r, err := replica.Dial(ctx, replica.Config{Addr: addrs[id], Start: m.Pos()})
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				for r.Stats().ProcessedOffset < ends[id] {
					if _, err := r.Next(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(benchCmds*b.N)/time.Since(start).Seconds(), "cmds/s")
}

// BenchmarkClusterSnapshot reads the initial snapshot of benchCmds keys
// spread over 3 shards through one cluster.Tap: every shard's full
// synchronisation, merged.
func BenchmarkClusterSnapshot(b *testing.B) {
	cl, _, _, _ := benchBacklog(b, benchCmds, false)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		tap, err := cluster.Dial(ctx, cluster.Config{Addrs: cl.Seeds()})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		readUntil(b, tap, func(ev replica.Event) bool {
			switch ev.(type) {
			case *replica.SnapshotRecord:
				n++
			case *replica.SnapshotDone:
				return true
			}
			return false
		})
		tap.Close()
		if n < benchCmds {
			b.Fatalf("%d records, want at least %d", n, benchCmds)
		}
	}
	b.ReportMetric(float64(benchCmds*b.N)/time.Since(start).Seconds(), "keys/s")
}

// readUntil reads the tap until done returns true.
func readUntil(b *testing.B, tap *cluster.Tap, done func(replica.Event) bool) {
	for {
		ev, err := tap.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if done(ev) {
			return
		}
	}
}
