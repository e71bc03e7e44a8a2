package replica_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/blockmaster"
	"github.com/redtap/redtap/replica"
)

// BenchmarkNextSET measures Replica.Next over loopback TCP on a stream of
// SETs like redis-benchmark's (16-byte keys and values): one op is one
// command delivered. Run with -benchmem for the allocations per command.
func BenchmarkNextSET(b *testing.B) {
	var block []byte
	const perBlock = 10000
	for i := 0; i < perBlock; i++ {
		k := fmt.Sprintf("key:%012d", i)
		block = fmt.Appendf(block, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n", len(k), k, strings.Repeat("x", 16))
	}
	addr := blockmaster.Start(b, block)
	ctx := context.Background()
	r, err := replica.Dial(ctx, replica.Config{Addr: addr, Snapshot: replica.SnapshotSkip, MaxRetries: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := ev.(*replica.SnapshotDone); ok {
			break
		}
	}
	b.SetBytes(int64(len(block) / perBlock))
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for range b.N {
		ev, err := r.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := ev.(*replica.Command); !ok {
			b.Fatalf("got %T", ev)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmd/s")
	// allocs/op is rounded down to an integer; this is the exact mean.
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "mallocs/cmd")
}
