package live_test

import (
	"bufio"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIdleMemory measures what idle SSE subscribers cost: REDTAP_IDLE=n
// connects n of them (server and clients in this process, so the figure is
// an upper bound of the server's share) and logs the heap and goroutines
// per subscriber. A measurement, run only when asked.
func TestIdleMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("REDTAP_IDLE"))
	if n <= 0 {
		t.Skip("set REDTAP_IDLE=n to measure n idle SSE subscribers")
	}
	src, h := newHub(t, 50*time.Millisecond)
	srv := serve(t, h.SSE())
	src.snapshot(100, "a:1", "b:1")
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	client := &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)

	heap := func() (uint64, int) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
	}
	h0, g0 := heap()
	var bodies []*bufio.Reader
	for range n {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		br := bufio.NewReaderSize(resp.Body, 4096)
		for { // the updates
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			if line == "\n" {
				break
			}
		}
		bodies = append(bodies, br)
	}
	h1, g1 := heap()
	t.Logf("%d idle SSE subscribers: heap+stacks %.1f MiB (%.1f KiB each, clients included), %.1f goroutines each, assembler %+v",
		n, float64(h1-h0)/(1<<20), float64(h1-h0)/1024/float64(n), float64(g1-g0)/float64(n), h.Assembler().Stats())
	runtime.KeepAlive(bodies)
}
