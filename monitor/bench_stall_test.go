package monitor_test

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/redtap/redtap/monitor"
)

// BenchmarkStalledSubscriber measures what a subscriber that never reads
// costs the others: 9 subscribers of every key drain the in-memory source,
// next to a tenth that reads like them ("none"), or that is subscribed but
// never calls Next, under the Drop or the Reset policy (a queue of 16
// batches). Compare ns/op and cpu-ns/op: a stalled subscriber under Drop or
// Reset must not slow the others down compared with one more reader (under
// Block it would stop them all, by design).
func BenchmarkStalledSubscriber(b *testing.B) {
	cmds, sizes := benchCommands()
	for _, tc := range []struct {
		name   string
		policy monitor.SlowPolicy
		stall  bool
	}{{"none", monitor.Block, false}, {"drop", monitor.Drop, true}, {"reset", monitor.Reset, true}} {
		b.Run("stalled="+tc.name, func(b *testing.B) {
			m, err := monitor.New(&benchSource{cmds: cmds, size: sizes, n: b.N})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			n := 9
			if !tc.stall {
				n = 10
			}
			readers := make([]*monitor.Subscriber, n)
			for j := range readers {
				if readers[j], err = m.Subscribe(monitor.Filter{}); err != nil {
					b.Fatal(err)
				}
			}
			if tc.stall {
				if _, err := m.Subscribe(monitor.Filter{}, monitor.QueueLen(16), monitor.OnSlow(tc.policy)); err != nil {
					b.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for _, s := range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						if _, err := s.Next(context.Background()); err != nil {
							if err != io.EOF {
								b.Error(err)
							}
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
