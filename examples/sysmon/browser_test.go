package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/browser"
	"github.com/redtap/redtap/internal/testkit/redistest"
)

var update = flag.Bool("update", false, "write the browser test's screenshot to docs/sysmon.png")

const screenshotPath = "../../docs/sysmon.png"

// browserWindow is the records per key of the test's dashboard: small, so
// that the page sees evictions (del) while the test runs, large enough for a
// picture with some history (12s at the test's 200ms ticks).
const browserWindow = 60

// dashServer serves the page and a dashboard handler on a fixed address, so
// that the test can stop it and start another one in its place.
type dashServer struct {
	srv  *http.Server
	stop func() error
}

func startDash(t *testing.T, addr, redisAddr string) *dashServer {
	t.Helper()
	h, stop, err := newDashboardHandler(context.Background(), dashConfig{Addr: redisAddr, Match: []string{keyPrefix + "*"}, Window: browserWindow})
	require.NoError(t, err)
	var l net.Listener
	redistest.WaitFor(t, 10*time.Second, "to listen on "+addr, func() bool {
		l, err = net.Listen("tcp", addr)
		return err == nil
	})
	d := &dashServer{srv: &http.Server{Handler: newMux(h), ReadHeaderTimeout: 10 * time.Second}, stop: stop}
	go d.srv.Serve(l) //nolint:errcheck // ends with Close
	return d
}

func (d *dashServer) Close() {
	d.srv.Close()
	d.stop() //nolint:errcheck // closing
}

// The whole demo in a real browser: two collectors, the dashboard, the page.
func TestBrowserDashboard(t *testing.T) {
	chrome := browser.Path(t)
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, host := range []string{"beta", "alpha"} {
		col := newCollector(rdb, collectorConfig{Host: host, Every: 200 * time.Millisecond, Retain: time.Minute})
		wg.Add(1)
		go func() { defer wg.Done(); col.Run(ctx) }() //nolint:errcheck // ends with ctx
	}

	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	dash := startDash(t, addr, srv.Addr)
	t.Cleanup(func() { dash.Close() })

	bctx := browser.Start(t, chrome, chromedp.WindowSize(1360, 900))

	// Every console message, to fail on a page error at the end.
	var cmu sync.Mutex
	var console []chromedp.ConsoleMessage
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			cmu.Lock()
			console = append(console, m)
			cmu.Unlock()
		}
	}()

	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("http://"+addr+"/")))
	poll := func(what, expr string) { t.Helper(); browser.Poll(t, bctx, what, expr) }
	eval := func(expr string, v any) {
		t.Helper()
		b, err := chromedp.Run(bctx, chromedp.Evaluate[[]byte](expr))
		require.NoError(t, err, expr)
		require.NoError(t, jsonUnmarshal(b, v), "%s: %s", expr, b)
	}
	newest := func(host string) int64 {
		t.Helper()
		var s string
		eval(fmt.Sprintf(`document.querySelector('.host[data-host=%q]').dataset.newest || "0"`, host), &s)
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		return n
	}

	// Charts: one card per host, sorted; a canvas per metric with points.
	charts := []string{"cpu", "mem", "load", "net", "disk"}
	var ready []string
	for _, h := range []string{"alpha", "beta"} {
		for _, m := range charts {
			ready = append(ready, fmt.Sprintf("sysmon.points(%q, %q) >= 2", h, m))
		}
		ready = append(ready, fmt.Sprintf("document.querySelectorAll('.host[data-host=%q] table.procs tbody tr').length > 0", h))
	}
	poll("charts with data", strings.Join(ready, " && "))
	poll("the connection indicator", `sysmon.connection() === "connected"`)
	var hosts []string
	eval(`[...document.querySelectorAll('.host')].map(e => e.dataset.host)`, &hosts)
	require.Equal(t, []string{"alpha", "beta"}, hosts, "one card per host, sorted")
	for _, h := range hosts {
		for _, m := range charts {
			var n int
			eval(fmt.Sprintf(`document.querySelectorAll('.host[data-host=%q] .chart[data-metric=%q] canvas').length`, h, m), &n)
			require.Equal(t, 1, n, "canvas of %s %s", h, m)
			var now string
			eval(fmt.Sprintf(`document.querySelector('.host[data-host=%q] .chart[data-metric=%q] .now').textContent`, h, m), &now)
			require.NotEmpty(t, now, "latest value of %s %s", h, m)
		}
	}

	// They advance: the newest time shown grows.
	for _, h := range hosts {
		n := newest(h)
		require.NotZero(t, n)
		poll(h+" to advance", fmt.Sprintf(`+document.querySelector('.host[data-host=%q]').dataset.newest > %d`, h, n))
	}

	// Malformed members: shown raw, the charts go on.
	now := time.Now().UnixMilli()
	require.NoError(t, rdb.ZAdd(context.Background(), "sysmon:bad:cpu", redis.Z{Score: float64(now), Member: "not-json"}).Err())
	badLoad := fmt.Sprintf(`{"id":"alpha:bad","t":%d,"l1":"high","l5":1,"l15":1}`, now)
	require.NoError(t, rdb.ZAdd(context.Background(), "sysmon:alpha:load", redis.Z{Score: float64(now), Member: badLoad}).Err())
	poll("the unparsed list", `!document.getElementById('unparsed').hidden && [...document.querySelectorAll('#unparsed li .raw')].map(e => e.textContent).includes('not-json')`)
	poll("the unparsed load record", fmt.Sprintf(`[...document.querySelectorAll('#unparsed li .raw')].some(e => e.textContent === %q)`, badLoad))
	eval(`[...document.querySelectorAll('.host')].map(e => e.dataset.host)`, &hosts)
	require.Equal(t, []string{"alpha", "beta"}, hosts, "no card for a host without one good record")
	n := newest("alpha")
	poll("alpha to advance after the malformed records", fmt.Sprintf(`+document.querySelector('.host[data-host="alpha"]').dataset.newest > %d && sysmon.points("alpha", "load") >= 2`, n))

	// Deleting a key (clear) takes its records off the page.
	require.NoError(t, rdb.Del(context.Background(), "sysmon:bad:cpu").Err())
	poll("the deleted key to leave the unparsed list", `!sysmon.unparsed().includes('not-json')`)

	// A full window, which then slides: evicted records (del) leave the
	// charts as new ones arrive.
	poll("a full window", fmt.Sprintf(`sysmon.points("alpha", "cpu") === %d`, browserWindow))
	n = newest("alpha")
	poll("the full window to slide", fmt.Sprintf(`+document.querySelector('.host[data-host="alpha"]').dataset.newest > %d`, n))
	var points int
	eval(`sysmon.points("alpha", "cpu")`, &points)
	require.Equal(t, browserWindow, points)

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	require.Greater(t, img.Bounds().Dx(), 1000)
	if *update {
		require.NoError(t, os.WriteFile(screenshotPath, shot, 0o644))
		t.Logf("wrote %s (%dx%d)", screenshotPath, img.Bounds().Dx(), img.Bounds().Dy())
	}

	// The server goes away and comes back: the page says so, reconnects,
	// and a fresh updates replaces its state.
	cmu.Lock()
	beforeRestart := len(console)
	cmu.Unlock()
	dash.Close()
	poll("the indicator to show the lost connection", `sysmon.connection() !== "connected"`)
	dash = startDash(t, addr, srv.Addr)
	poll("the reconnect", `sysmon.connection() === "connected"`)
	n = newest("beta")
	poll("beta to advance after the reconnect", fmt.Sprintf(`+document.querySelector('.host[data-host="beta"]').dataset.newest > %d`, n))

	cmu.Lock()
	defer cmu.Unlock()
	for i, m := range console {
		if m.Type != chromedp.ConsoleException && m.Type != chromedp.ConsoleError {
			continue
		}
		// While the server is down the browser logs the broken stream and
		// the failed reconnects.
		if i >= beforeRestart && m.Type == chromedp.ConsoleError && strings.HasSuffix(m.URL, "/events") {
			continue
		}
		t.Errorf("page %s (%s)", m, m.URL)
	}
}

func jsonUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("no result")
	}
	return json.Unmarshal(b, v)
}
