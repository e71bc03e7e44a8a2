package monitor_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redtap/redtap/internal/testkit/blockmaster"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// benchSource replays pre-built commands n times in all, like a replica
// draining a backlog: one Command event reused for every call (a replica
// reuses its buffers too), offsets growing by the commands' RESP size.
type benchSource struct {
	cmds [][][]byte
	size []int64
	n, i int
	off  int64
	ev   replica.Command
}

func (s *benchSource) Next(context.Context) (replica.Event, error) {
	if s.i >= s.n {
		return nil, io.EOF
	}
	j := s.i % len(s.cmds)
	s.i++
	s.off += s.size[j]
	s.ev = replica.Command{Args: s.cmds[j], Offset: s.off, Pos: replica.Position{Offset: s.off}}
	return &s.ev, nil
}

// benchCommands builds a mix of SET, HSET, ZADD and MSET on keys of 100
// families "f<j>:", each touched by 1% of the commands.
func benchCommands() ([][][]byte, []int64) {
	var cmds [][][]byte
	var sizes []int64
	b := func(s ...string) {
		a := make([][]byte, len(s))
		size := int64(len(strconv.Itoa(len(s))) + 3)
		for i, x := range s {
			a[i] = []byte(x)
			size += int64(len(x) + len(strconv.Itoa(len(x))) + 5)
		}
		cmds = append(cmds, a)
		sizes = append(sizes, size)
	}
	for i := range 4000 {
		k := "f" + strconv.Itoa(i%100) + ":" + strconv.Itoa(i)
		v := "value-" + strconv.Itoa(i*7919)
		switch i % 4 {
		case 0:
			b("SET", k, v)
		case 1:
			b("HSET", k, "field", v, "n", strconv.Itoa(i))
		case 2:
			b("ZADD", k, strconv.Itoa(i%977)+".5", v)
		default:
			// both keys in the same family
			b("MSET", k, v, k+":b", v)
		}
	}
	return cmds, sizes
}

// BenchmarkMonitor measures the monitor's cost per command read from an
// in-memory source (so ns/op is the monitor's overhead: the source costs a
// few ns), with 1, 10 and 100 subscribers each reading in its own
// goroutine, all of them matching every key ("all") or each matching its
// own 1% of the keys ("1pct", a prefix pattern). It reports commands and
// events delivered per second, and the process's CPU time per command
// (cpu-ns/op: what the monitor costs, all goroutines and the garbage
// collector included, whatever the machine's load does to ns/op);
// allocs/op are per command.
func BenchmarkMonitor(b *testing.B) {
	cmds, sizes := benchCommands()
	for _, subs := range []int{1, 10, 100} {
		for _, sel := range []string{"all", "1pct"} {
			b.Run(fmt.Sprintf("subs=%d/match=%s", subs, sel), func(b *testing.B) {
				src := &benchSource{cmds: cmds, size: sizes, n: b.N}
				m, err := monitor.New(src)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				ss := make([]*monitor.Subscriber, subs)
				for j := range ss {
					f := monitor.Filter{}
					if sel == "1pct" {
						f.Match = []string{"f" + strconv.Itoa(j) + ":*"}
					}
					if ss[j], err = m.Subscribe(f); err != nil {
						b.Fatal(err)
					}
				}
				var events sync.WaitGroup
				counts := make([]int64, subs)
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime()
				for j, s := range ss {
					events.Add(1)
					go func() {
						defer events.Done()
						for {
							bt, err := s.Next(context.Background())
							if err != nil {
								if err != io.EOF {
									b.Error(err)
								}
								return
							}
							counts[j] += int64(len(bt.Events))
						}
					}()
				}
				events.Wait()
				b.StopTimer()
				cpu := cpuTime() - cpu0
				var total int64
				for _, c := range counts {
					total += c
				}
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N)/sec, "cmd/s")
				b.ReportMetric(float64(total)/sec, "events/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingSource counts the events it passes on.
type countingSource struct {
	src monitor.Source
	n   int
}

func (c *countingSource) Next(ctx context.Context) (replica.Event, error) {
	c.n++
	return c.src.Next(ctx)
}

// BenchmarkTap drains SETs (16-byte keys and values, as redis-benchmark's)
// from a loopback master that repeats them forever (blockmaster), through
// a replica: bare (Replica.Next), and through a monitor with one
// subscriber matching every key ("all") or the 1% of them named "hot:*"
// ("1pct"). One op is one command; the ratio of cmd/s (or of cpu-ns/op)
// between a monitor run and the bare run is the monitor's cost on top of
// the tap.
func BenchmarkTap(b *testing.B) {
	const perBlock = 10000
	block := blockmaster.SETs(perBlock, func(i int) string {
		if i%100 == 0 {
			return fmt.Sprintf("hot:%012d", i)
		}
		return fmt.Sprintf("key:%012d", i)
	})
	for _, mode := range []string{"bare", "all", "1pct"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			r := blockmaster.Dial(b, block)
			defer r.Close()
			src := &countingSource{src: r}
			var sub *monitor.Subscriber
			if mode != "bare" {
				m, err := monitor.New(src)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				f := monitor.Filter{}
				if mode == "1pct" {
					f.Match = []string{"hot:*"}
				}
				if sub, err = m.Subscribe(f); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(block) / perBlock))
			b.ReportAllocs()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.ResetTimer()
			cpu0 := cpuTime()
			for src.n < b.N {
				if sub == nil {
					if _, err := src.Next(ctx); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, err := sub.Next(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(src.n)/b.Elapsed().Seconds(), "cmd/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(src.n), "cpu-ns/op")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(src.n), "mallocs/cmd")
		})
	}
}
