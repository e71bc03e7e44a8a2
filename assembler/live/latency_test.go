package live_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
	"github.com/redtap/redtap/internal/testkit/benchdata"
	"github.com/redtap/redtap/internal/testkit/redistest"
)

// TestLatency measures the time from a write on the master to its arrival
// on the SSE subscribers' sockets, for rates and numbers of subscribers
// given by REDTAP_LATENCY ("rate/subscribers/interval,...", e.g.
// "1000/100/50ms,10000/100/atonce"). It is a measurement, not a check: it
// logs p50/p99 and the process's CPU per 1,000 deliveries (clients
// included, as they run in the same process), and runs only when asked.
func TestLatency(t *testing.T) {
	spec := os.Getenv("REDTAP_LATENCY")
	if spec == "" {
		t.Skip("set REDTAP_LATENCY=rate/subscribers/interval,... to measure")
	}
	for _, run := range strings.Split(spec, ",") {
		f := strings.Split(run, "/")
		require.Len(t, f, 3, run)
		rate, err := strconv.Atoi(f[0])
		require.NoError(t, err)
		subs, err := strconv.Atoi(f[1])
		require.NoError(t, err)
		iv := assembler.AtOnce
		if f[2] != "atonce" {
			iv, err = time.ParseDuration(f[2])
			require.NoError(t, err)
		}
		t.Run(run, func(t *testing.T) { measure(t, rate, subs, iv, 5*time.Second) })
	}
}

func measure(t *testing.T, rate, nsubs int, iv time.Duration, dur time.Duration) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	rc := srv.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, rc.ZAdd(ctx, "lat", redis.Z{Score: 0, Member: "0:0"}).Err())

	h := tapHub(t, ctx, srv.Addr, "lat", assembler.Config{Windows: []assembler.Window{{Match: "lat", Limit: 100}}, Interval: iv},
		live.Config{Interval: iv})
	hs := serve(t, h.SSE())

	// Subscribers: all read; the first 10 parse and time every entry.
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: nsubs}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var (
		mu        sync.Mutex
		lats      []time.Duration
		delivered atomic.Int64
		ready     sync.WaitGroup
		wg        sync.WaitGroup
	)
	ready.Add(nsubs)
	for i := range nsubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL, nil)
			resp, err := client.Do(req)
			if err != nil {
				ready.Done()
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReaderSize(resp.Body, 64<<10)
			first := true
			for {
				line, err := br.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if !bytes.HasPrefix(line, []byte("data: ")) {
					continue
				}
				if first {
					first = false
					ready.Done()
					continue
				}
				delivered.Add(1)
				if i >= 10 {
					continue
				}
				now := time.Now().UnixNano()
				var mine []time.Duration
				for rest := line; ; {
					j := bytes.Index(rest, []byte(`"value":"`))
					if j < 0 {
						break
					}
					rest = rest[j+len(`"value":"`):]
					k := bytes.IndexByte(rest, '"')
					if c := bytes.IndexByte(rest[:k], ':'); c >= 0 {
						if ns, err := strconv.ParseInt(string(rest[c+1:k]), 10, 64); err == nil && ns > 0 {
							mine = append(mine, time.Duration(now-ns))
						}
					}
					rest = rest[k:]
				}
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			}
		}()
	}
	ready.Wait()

	// The writer: rate ZADDs per second, in 1 ms ticks.
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0) //nolint:errcheck // Linux
	perTick := max(rate/1000, 1)
	every := time.Duration(int64(time.Second) * int64(perTick) / int64(rate))
	tick := time.NewTicker(every)
	seq := 0
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		<-tick.C
		p := rc.Pipeline()
		for range perTick {
			seq++
			now := time.Now().UnixNano()
			p.ZAdd(ctx, "lat", redis.Z{Score: float64(seq), Member: fmt.Sprintf("%d:%d", seq, now)})
		}
		_, err := p.Exec(ctx)
		require.NoError(t, err)
	}
	tick.Stop()
	time.Sleep(500 * time.Millisecond) // the last deliveries
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1) //nolint:errcheck // Linux
	cancel()
	hs.CloseClientConnections()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return benchdata.Percentile(lats, p) }
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d := delivered.Load()
	t.Logf("rate %d/s, %d SSE subscribers, interval %v: %d writes, %d messages delivered, latency p50 %v p99 %v (%d samples), CPU %v (%.2f ms per 1,000 deliveries, clients included), assembler %+v",
		rate, nsubs, iv, seq, d, pct(0.5), pct(0.99), len(lats), cpu, float64(cpu.Milliseconds())*1000/float64(max(d, 1)), h.Assembler().Stats())
}
