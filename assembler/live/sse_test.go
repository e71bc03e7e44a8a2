package live_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
)

func TestSSEUpdatesThenDeltas(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.SSE())

	c := dialSSE(t, srv.URL, "") // before the snapshot: it waits for it
	src.snapshot(100, "a:1", "b:1")
	e := c.next(t)
	require.Equal(t, "updates", e.Event)
	require.EqualValues(t, 100, e.ID)
	require.Equal(t, []string{"a:1", "b:1"}, keysOf(t, e.Data))

	src.zadd(150, "a:1", 1, "m1")
	e = c.next(t)
	require.Equal(t, "dUpdates", e.Event)
	require.EqualValues(t, 150, e.ID)
	require.Equal(t, []string{"a:1/m1"}, setIDs(t, e.Data))
}

func TestSSEMatch(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.SSE())
	src.snapshot(100, "a:1", "a:2", "b:1")

	c := dialSSE(t, srv.URL+"?match=a:*&match=b:1", "")
	require.Equal(t, []string{"a:1", "a:2", "b:1"}, keysOf(t, c.next(t).Data))
	c = dialSSE(t, srv.URL+"?match=a:2", "")
	require.Equal(t, []string{"a:2"}, keysOf(t, c.next(t).Data))

	src.zadd(110, "a:1", 1, "x") // not selected
	src.zadd(120, "a:2", 1, "y")
	e := c.next(t)
	require.Equal(t, "dUpdates", e.Event)
	require.Equal(t, []string{"a:2/y"}, setIDs(t, e.Data))

	resp, err := http.Get(srv.URL + "?match=")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestSSEResume(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.SSE())
	src.snapshot(100, "a:1")

	c := dialSSE(t, srv.URL, "")
	require.Equal(t, "updates", c.next(t).Event)
	src.zadd(110, "a:1", 1, "m1")
	e := c.next(t)
	require.Equal(t, "dUpdates", e.Event)
	c.close()

	// Missed while away: two changes in two intervals (one Tick each, as
	// the hub waits for each message to reach the viewer below).
	ch, cancel, err := live.Chan(h.Assembler(), nil, 8)
	require.NoError(t, err)
	defer cancel()
	require.Equal(t, "updates", (<-ch).Event)
	src.zadd(120, "a:1", 2, "m2")
	require.EqualValues(t, 120, (<-ch).ID)
	src.zadd(130, "a:1", 3, "m3")
	require.EqualValues(t, 130, (<-ch).ID)

	c = dialSSE(t, srv.URL, strconv.FormatInt(e.ID, 10))
	e = c.next(t)
	require.Equal(t, "dUpdates", e.Event, "resumed after the last event seen")
	require.EqualValues(t, 120, e.ID)
	require.Equal(t, []string{"a:1/m2"}, setIDs(t, e.Data))
	e = c.next(t)
	require.EqualValues(t, 130, e.ID)

	// An ID the assembler does not know: a fresh updates.
	c = dialSSE(t, srv.URL, "99999")
	e = c.next(t)
	require.Equal(t, "updates", e.Event)
	require.EqualValues(t, 130, e.ID)
}

func TestSSECleanup(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.SSE())
	src.snapshot(100, "a:1")
	base := warmSSE(t, srv.URL, h)

	for i := range 50 {
		c := dialSSE(t, srv.URL+fmt.Sprintf("?match=a:%d", i%3), "")
		if i%2 == 0 {
			c.next(t)
		}
		c.close()
	}
	require.LessOrEqual(t, settle(t, h), base, "goroutines left behind")
}

// warmSSE warms up the client's transport and the server's connection with
// one viewer that reads its first message and leaves, and returns settle's
// count of goroutines after it.
func warmSSE(t *testing.T, url string, h *live.Hub) int {
	t.Helper()
	c := dialSSE(t, url, "")
	c.next(t)
	c.close()
	return settle(t, h)
}

// settle waits until no viewer is subscribed and the number of goroutines
// is steady, and returns it.
func settle(t *testing.T, h *live.Hub) int {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	require.Eventually(t, func() bool { return h.Assembler().Stats().Subscribers == 0 },
		time.Minute, 10*time.Millisecond, "every viewer unsubscribed")
	n, same := -1, 0
	require.Eventually(t, func() bool {
		g := runtime.NumGoroutine()
		if g == n {
			same++
		} else {
			n, same = g, 0
		}
		return same == 5
	}, time.Minute, 20*time.Millisecond)
	return n
}

func TestSSEHubStopped(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.SSE())
	src.snapshot(100, "a:1")
	c := dialSSE(t, srv.URL, "")
	c.next(t)

	close(src) // io.EOF: the hub stops, and the stream ends
	<-h.Done()
	_, err := c.r.ReadString('\n')
	require.Error(t, err)
	require.NoError(t, h.Close())
	require.ErrorIs(t, h.Err(), io.EOF)

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// noHijack is a middleware's ResponseWriter that can flush but not hand
// over its connection (and has no Unwrap).
type noHijack struct{ w http.ResponseWriter }

func (n noHijack) Header() http.Header         { return n.w.Header() }
func (n noHijack) Write(b []byte) (int, error) { return n.w.Write(b) }
func (n noHijack) WriteHeader(code int)        { n.w.WriteHeader(code) }
func (n noHijack) Flush()                      { n.w.(http.Flusher).Flush() }

// TestSSEWriters runs a stream through both of the handler's writers: the
// connection taken from net/http (a plain request, or a middleware that
// only sets a header) and net/http's own (a middleware whose writer cannot
// hand the connection over, or an HTTP/1.0 request).
func TestSSEWriters(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	mux := http.NewServeMux()
	mux.Handle("/plain", h.SSE())
	mux.Handle("/header", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Middleware", "yes")
		w.Header().Set("Content-Length", "12") // not for a stream: dropped
		h.SSE().ServeHTTP(w, r)
	}))
	mux.Handle("/wrapped", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Middleware", "yes")
		h.SSE().ServeHTTP(noHijack{w}, r)
	}))
	srv := serve(t, mux)
	src.snapshot(100, "a:1")

	var cs []*sseClient
	for _, path := range []string{"/plain", "/header", "/wrapped"} {
		c := dialSSE(t, srv.URL+path, "")
		require.Equal(t, []string{"chunked"}, c.resp.TransferEncoding, path)
		require.Equal(t, "no-cache", c.resp.Header.Get("Cache-Control"), path)
		if path != "/plain" {
			require.Equal(t, "yes", c.resp.Header.Get("X-Middleware"), path)
		}
		require.Empty(t, c.resp.Header.Get("Content-Length"), path)
		// The taken connection says it closes when the stream ends.
		require.Equal(t, path != "/wrapped", c.resp.Close, path)
		require.Equal(t, "updates", c.next(t).Event, path)
		cs = append(cs, c)
	}
	// HTTP/1.0: no chunked encoding, the body ends with the connection.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, "GET /plain HTTP/1.0\r\n\r\n")
	require.NoError(t, err)
	old := &sseClient{r: bufio.NewReader(conn)}
	status, err := old.r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.0 200 OK\r\n", status)
	for { // the header
		l, err := old.r.ReadString('\n')
		require.NoError(t, err)
		if l == "\r\n" {
			break
		}
	}
	require.Equal(t, "updates", old.next(t).Event)

	src.zadd(110, "a:1", 1, "m1")
	src.zadd(120, "a:1", 2, "m2")
	for _, c := range append(cs, old) {
		var got []string
		for len(got) < 2 {
			e := c.next(t)
			require.Equal(t, "dUpdates", e.Event)
			got = append(got, setIDs(t, e.Data)...)
		}
		require.Equal(t, []string{"a:1/m1", "a:1/m2"}, got)
	}

	// The hub stops: every stream ends cleanly (the last chunk).
	close(src)
	<-h.Done()
	for _, c := range cs {
		_, err := io.ReadAll(c.r)
		require.NoError(t, err)
	}
}

// TestSSESlowViewer fills a viewer's socket: the hub's writer leaves it to
// its handler, the other viewers go on, and once the slow one reads again
// it catches up, in order, through a fresh updates when it fell too far
// behind.
func TestSSESlowViewer(t *testing.T) {
	src, h := newHub(t, assembler.AtOnce)
	srv := serve(t, h.SSE())
	src.snapshot(100, "a:1")
	fast := dialSSE(t, srv.URL, "")
	slow := dialSSE(t, srv.URL, "")
	require.Equal(t, "updates", fast.next(t).Event)
	require.Equal(t, "updates", slow.next(t).Event)

	// 400 messages of 64 KiB each: more than the slow viewer's socket
	// buffers, its queue and the assembler's bound hold.
	const n = 400
	big := strings.Repeat("x", 64<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			src.zadd(int64(100+i), "a:1", i, fmt.Sprintf("%d:%s", i, big))
		}
	}()
	for i := 1; i <= n; i++ { // the fast viewer gets every change, in order
		e := fast.next(t)
		require.Equal(t, "dUpdates", e.Event)
		require.EqualValues(t, 100+i, e.ID)
	}
	<-done

	// The slow viewer: IDs only grow, and it ends where the others are.
	var last int64
	updates := 0
	for last != 100+n {
		e := slow.next(t)
		require.Greater(t, e.ID, last)
		if e.Event == "updates" {
			updates++
		}
		last = e.ID
	}
	require.Positive(t, updates, "a fresh updates after falling behind")
	st := h.Assembler().Stats()
	require.Positive(t, st.Refused)
	require.Positive(t, st.FreshUpdates)
}

// TestSSEChurn serves a stream to viewers that come and go while it flows:
// the ones that stay get every change in order, and the ones that left
// leave nothing behind.
func TestSSEChurn(t *testing.T) {
	src, h := newHub(t, assembler.AtOnce)
	srv := serve(t, h.SSE())
	src.snapshot(100, "a:1")
	base := warmSSE(t, srv.URL, h)

	// The viewers that stay read in goroutines of their own; the writes
	// wait for the slowest when it is 20 behind, so that none falls
	// behind its bounds (and gets a fresh updates) on a slow machine.
	const n = 300
	var (
		mu   sync.Mutex
		got  = make([][]string, 4)
		errs = make(chan error, len(got))
	)
	var stay []*sseClient
	for k := range got {
		c := dialSSE(t, srv.URL, "")
		require.Equal(t, "updates", c.next(t).Event)
		stay = append(stay, c)
		go func() {
			for {
				e, err := c.read()
				if err != nil {
					errs <- err
					return
				}
				if e.Event != "dUpdates" {
					errs <- fmt.Errorf("viewer %d: %s after the first updates", k, e.Event)
					return
				}
				ids, err := setIDsOf(e.Data)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[k] = append(got[k], ids...)
				full := len(got[k]) >= n
				mu.Unlock()
				if full {
					errs <- nil
					return
				}
			}
		}()
	}
	slowest := func() int {
		mu.Lock()
		defer mu.Unlock()
		m := n
		for _, g := range got {
			m = min(m, len(g))
		}
		return m
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range 40 { // come, read a little or not, go
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if err != nil {
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			_, _ = io.CopyN(io.Discard, resp.Body, int64(i*97))
		}()
	}
	for i := 1; i <= n; i++ {
		src.zadd(int64(100+i), "a:1", i, strconv.Itoa(i))
		for i-slowest() > 20 {
			time.Sleep(time.Millisecond)
		}
	}
	for range got {
		require.NoError(t, <-errs)
	}
	for _, g := range got {
		want := make([]string, n)
		for i := range want {
			want[i] = "a:1/" + strconv.Itoa(i+1)
		}
		require.Equal(t, want, g)
	}
	cancel() // the viewers still reading a little
	wg.Wait()
	for _, c := range stay {
		c.close()
	}
	require.LessOrEqual(t, settle(t, h), base, "goroutines left behind")
}
