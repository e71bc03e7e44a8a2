package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

type sseMsg struct {
	event, id, data string
}

// readSSE sends the events of an SSE stream to a channel until it ends.
func readSSE(t *testing.T, url string) <-chan sseMsg {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	ch := make(chan sseMsg, 100)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var m sseMsg
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m.event != "" {
					ch <- m
				}
				m = sseMsg{}
			case strings.HasPrefix(line, "event: "):
				m.event = line[7:]
			case strings.HasPrefix(line, "id: "):
				m.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				m.data = line[6:]
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan sseMsg, v any) sseMsg {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "stream ended")
		require.NoError(t, json.Unmarshal([]byte(m.data), v), m.data)
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return sseMsg{}
	}
}

// Wire types of the message schema (web/README.md), as the page reads them.
type (
	entry struct {
		ID    string  `json:"id"`
		Score float64 `json:"score"`
		Value string  `json:"value"`
	}
	windowMsg struct {
		DB      int     `json:"db"`
		Key     string  `json:"key"`
		Type    string  `json:"type"`
		Entries []entry `json:"entries"`
	}
	updatesMsg struct {
		Offset  int64       `json:"offset"`
		Windows []windowMsg `json:"windows"`
	}
	delta struct {
		DB    int      `json:"db"`
		Key   string   `json:"key"`
		Type  string   `json:"type"`
		Clear bool     `json:"clear"`
		Del   []string `json:"del"`
		Set   []entry  `json:"set"`
	}
	dUpdatesMsg struct {
		Offset int64   `json:"offset"`
		Deltas []delta `json:"deltas"`
	}
)

// The dashboard speaks the schema of web/README.md: one updates with each
// window ascending by score, then dUpdates with evictions (del), new
// members (set) and deleted keys (clear), with the master's replication
// offset as the id.
func TestDashboardMessages(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client()
	ctx := context.Background()
	key := "sysmon:h:cpu"
	require.NoError(t, c.ZAdd(ctx, key,
		redis.Z{Score: 3, Member: `{"id":"h:3","t":3}`},
		redis.Z{Score: 1, Member: `{"id":"h:1","t":1}`},
		redis.Z{Score: 2, Member: "not-json"},
		redis.Z{Score: 4, Member: `{"id":"h:4","t":4}`},
	).Err())
	require.NoError(t, c.SAdd(ctx, "sysmon:hosts", "h").Err(), "not a zset: a set window, which the page skips")
	require.NoError(t, c.ZAdd(ctx, "other:key", redis.Z{Score: 1, Member: "x"}).Err(), "not matched")

	h, stop, err := newDashboardHandler(ctx, dashConfig{Addr: srv.Addr, Match: []string{"sysmon:*"}, Window: 3})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, stop()) })
	hs := httptest.NewServer(newMux(h))
	t.Cleanup(hs.Close)
	ch := readSSE(t, hs.URL+"/events") // the updates comes once the snapshot is in

	var up updatesMsg
	m := next(t, ch, &up)
	require.Equal(t, "updates", m.event)
	require.Equal(t, m.id, jsonNumber(up.Offset))
	require.Len(t, up.Windows, 2)
	require.Equal(t, windowMsg{Key: key, Type: "zset", Entries: []entry{
		{ID: "not-json", Score: 2, Value: "not-json"},
		{ID: "h:3", Score: 3, Value: `{"id":"h:3","t":3}`},
		{ID: "h:4", Score: 4, Value: `{"id":"h:4","t":4}`},
	}}, up.Windows[0], "newest 3 by score, ascending; id from the JSON, else the member")
	require.Equal(t, "sysmon:hosts", up.Windows[1].Key)
	require.Equal(t, "set", up.Windows[1].Type)

	require.NoError(t, c.ZAdd(ctx, key, redis.Z{Score: 5, Member: `{"id":"h:5","t":5}`}).Err())
	var d dUpdatesMsg
	m = next(t, ch, &d)
	require.Equal(t, "dUpdates", m.event)
	require.Greater(t, d.Offset, up.Offset)
	require.Equal(t, m.id, jsonNumber(d.Offset))
	info, err := srv.Info(ctx, "replication")
	require.NoError(t, err)
	require.Equal(t, info["master_repl_offset"], m.id, "the id is the master's replication offset")
	require.Equal(t, []delta{{Key: key, Type: "zset", Del: []string{"not-json"},
		Set: []entry{{ID: "h:5", Score: 5, Value: `{"id":"h:5","t":5}`}}}}, d.Deltas)

	require.NoError(t, c.ZAdd(ctx, "other:key", redis.Z{Score: 2, Member: "y"}).Err(), "not matched: no message")
	require.NoError(t, c.Del(ctx, key).Err())
	m = next(t, ch, &d)
	require.Equal(t, "dUpdates", m.event)
	require.Equal(t, []delta{{Key: key, Type: "zset", Clear: true, Del: []string{}, Set: []entry{}}}, d.Deltas)

	// /ws: the same messages as JSON frames.
	wc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws?match=sysmon:hosts", nil)
	require.NoError(t, err)
	defer wc.CloseNow()
	_, p, err := wc.Read(ctx)
	require.NoError(t, err)
	var f struct {
		Event string     `json:"event"`
		ID    int64      `json:"id"`
		Data  updatesMsg `json:"data"`
	}
	require.NoError(t, json.Unmarshal(p, &f), "%s", p)
	require.Equal(t, "updates", f.Event)
	require.Len(t, f.Data.Windows, 1)
	require.Equal(t, "sysmon:hosts", f.Data.Windows[0].Key)
	wc.Close(websocket.StatusNormalClosure, "")
}

// A master that cannot be reached is an error at once.
func TestDashboardUnreachable(t *testing.T) {
	_, _, err := newDashboardHandler(context.Background(), dashConfig{
		Addr: "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)), Window: 3})
	require.Error(t, err)
	_, _, err = newDashboardHandler(context.Background(), dashConfig{Addr: "127.0.0.1:1", Window: 0})
	require.ErrorContains(t, err, "window 0")
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A restarted master (a new replication history, the data gone) gives the
// tap a reconnect and a full sync: the open stream gets a fresh updates,
// then goes on, its ids still growing.
func TestDashboardRedisRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := srv.Client()
	ctx := context.Background()
	key := "sysmon:h:cpu"
	require.NoError(t, c.ZAdd(ctx, key, redis.Z{Score: 1, Member: `{"id":"h:1"}`}).Err())
	h, stop, err := newDashboardHandler(ctx, dashConfig{Addr: srv.Addr, Match: []string{"sysmon:*"}, Window: 3})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, stop()) })
	hs := httptest.NewServer(newMux(h))
	t.Cleanup(hs.Close)
	ch := readSSE(t, hs.URL+"/events")
	var up updatesMsg
	m := next(t, ch, &up)
	require.Equal(t, "updates", m.event)
	require.Len(t, up.Windows, 1)
	last := up.Offset

	srv.Restart()
	c = srv.Client()
	// Fresh updates after the resync: the key is gone (no persistence).
	for {
		var up updatesMsg
		m := next(t, ch, &up)
		require.Greater(t, mustAtoi(t, m.id), last, "ids only grow")
		last = mustAtoi(t, m.id)
		if m.event == "updates" {
			require.Empty(t, up.Windows)
			break
		}
	}
	require.NoError(t, c.ZAdd(ctx, key, redis.Z{Score: 2, Member: `{"id":"h:2"}`}).Err())
	var d dUpdatesMsg
	m = next(t, ch, &d)
	require.Equal(t, "dUpdates", m.event)
	require.Greater(t, mustAtoi(t, m.id), last)
	require.Equal(t, []delta{{Key: key, Type: "zset", Del: []string{},
		Set: []entry{{ID: "h:2", Score: 2, Value: `{"id":"h:2"}`}}}}, d.Deltas)
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}
