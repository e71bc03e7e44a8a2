package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/internal/testkit/browser"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
)

func TestServeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{}, "--addr is required"},
		{[]string{"--addr", "h:1", "--window", "0"}, "--window 0"},
		{[]string{"--addr", "h:1", "--interval", "-1s"}, "--interval -1s"},
		{[]string{"--addr", "h:1", "--match", ""}, "empty pattern"},
		{[]string{"--addr", "h:1", "--cert", "c.pem"}, "--cert and --key go together"},
		{[]string{"--addr", "h:1", "x"}, "unexpected arguments"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), append([]string{"serve"}, tc.args...), nil, io.Discard, &stderr)
		require.Equal(t, exitUsage, code, "%q", tc.args)
		require.Contains(t, stderr.String(), tc.msg, "%q", tc.args)
	}
	o, err := parseServeArgs([]string{"--addr", "h:1", "--cacert", "ca.pem", "--match", "a:*", "--match", "b"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.tls.TLS, "--cacert implies --tls, as for tap")
	require.Equal(t, []string{"a:*", "b"}, o.match)
	o, err = parseServeArgs([]string{"--addr", "h:1", "--interval", "0"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, assembler.AtOnce, o.interval, "--interval 0 sends each change at once")

	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:1", "--listen", "127.0.0.1:0"}, nil, io.Discard, &stderr)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr.String(), "redtap: serve 127.0.0.1:1:")
}

// startServe runs `redtap serve` against addr until the test ends, and
// returns its base URL once it answers.
func startServe(t *testing.T, addr string, args ...string) string {
	t.Helper()
	listen := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr syncbuf.Buffer
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", addr, "--listen", listen}, args...), nil, io.Discard, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		require.Equal(t, exitOK, <-done, "exit code; stderr: %s", stderr.String())
	})
	url := "http://" + listen
	redistest.WaitFor(t, 30*time.Second, "redtap serve to answer", func() bool {
		resp, err := http.Get(url + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url
}

// An SSE client, as curl -N would read it: updates, then dUpdates.
func TestServeSSE(t *testing.T) {
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := m.Client()
	ctx := context.Background()
	require.NoError(t, c.ZAdd(ctx, "cpu:a", redis.Z{Score: 1, Member: "10"}).Err())
	require.NoError(t, c.HSet(ctx, "cfg:a", "mode", "fast").Err())
	require.NoError(t, c.Set(ctx, "other", "x", 0).Err())
	url := startServe(t, m.Addr, "--match", "cpu:*", "--match", "cfg:*", "--window", "2")

	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url+"/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	br := bufio.NewReader(resp.Body)
	next := func() (event, id, data string) {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "" && event != "":
				return
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
		}
	}

	event, id, data := next()
	require.Equal(t, "updates", event)
	var up struct {
		Offset  int64 `json:"offset"`
		Windows []struct {
			Key  string `json:"key"`
			Type string `json:"type"`
		} `json:"windows"`
	}
	require.NoError(t, json.Unmarshal([]byte(data), &up), data)
	require.Equal(t, fmt.Sprint(up.Offset), id)
	require.Len(t, up.Windows, 2)
	require.Equal(t, "cfg:a", up.Windows[0].Key)
	require.Equal(t, "hash", up.Windows[0].Type)
	require.Equal(t, "cpu:a", up.Windows[1].Key)

	require.NoError(t, c.Set(ctx, "other", "y", 0).Err(), "not matched")
	require.NoError(t, c.ZAdd(ctx, "cpu:a", redis.Z{Score: 2, Member: "20"}, redis.Z{Score: 3, Member: "30"}).Err())
	event, id, data = next()
	require.Equal(t, "dUpdates", event)
	require.Greater(t, mustInt(t, id), up.Offset)
	require.JSONEq(t, `{"offset":`+id+`,"deltas":[{"db":0,"key":"cpu:a","type":"zset","clear":false,`+
		`"del":["10"],"set":[{"id":"20","score":2,"value":"20"},{"id":"30","score":3,"value":"30"}]}]}`, data,
		"a window of the newest 2")
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

// The page in a real browser: keys render, then follow their changes.
func TestServeBrowser(t *testing.T) {
	chrome := browser.Path(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := m.Client()
	ctx := context.Background()
	require.NoError(t, c.HSet(ctx, "app:cfg", "mode", "fast").Err())
	for i := range 5 {
		require.NoError(t, c.ZAdd(ctx, "app:load", redis.Z{Score: float64(i), Member: strconv.Itoa(10 * i)}).Err())
	}
	url := startServe(t, m.Addr, "--match", "app:*")

	bctx := browser.Start(t, chrome)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(url+"/")))
	poll := func(what, expr string) { t.Helper(); browser.Poll(t, bctx, what, expr) }
	poll("the connection", `redtap.connection() === "connected"`)
	poll("the hash", `document.querySelector('section.key[data-key="app:cfg"] tr[data-id="mode"] td.value')?.textContent === "fast"`)
	poll("the zset's chart", `+document.querySelector('section.key[data-key="app:load"] svg.chart')?.dataset.points === 5`)

	require.NoError(t, c.HSet(ctx, "app:cfg", "mode", "slow").Err())
	require.NoError(t, c.ZAdd(ctx, "app:load", redis.Z{Score: 5, Member: "50"}).Err())
	require.NoError(t, c.RPush(ctx, "app:log", "started").Err())
	poll("the hash to change", `document.querySelector('section.key[data-key="app:cfg"] tr[data-id="mode"] td.value')?.textContent === "slow"`)
	poll("the chart to grow", `+document.querySelector('section.key[data-key="app:load"] svg.chart')?.dataset.points === 6`)
	poll("a new key", `document.querySelector('section.key[data-key="app:log"] td.value')?.textContent === "started"`)

	require.NoError(t, c.Del(ctx, "app:cfg").Err())
	poll("the deleted key to go", `!document.querySelector('section.key[data-key="app:cfg"]')`)
}
