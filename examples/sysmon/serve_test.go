package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// The stand-in speaks the schema of web/README.md: one updates with each
// window ascending by score, then dUpdates with evictions (del), new
// members (set) and deleted keys (clear).
func TestStandInMessages(t *testing.T) {
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
	require.NoError(t, c.SAdd(ctx, "sysmon:hosts", "h").Err(), "not a zset: not shown")
	require.NoError(t, c.ZAdd(ctx, "other:key", redis.Z{Score: 1, Member: "x"}).Err(), "not matched")

	h, stop, err := newDashboardHandler(ctx, dashConfig{Addr: srv.Addr, Match: []string{"sysmon:*"}, Window: 3})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, stop()) })
	hs := httptest.NewServer(newMux(h))
	t.Cleanup(hs.Close)
	// The first poll happens at once; let it fill the windows before the
	// viewer connects, so that its updates has them.
	redistest.WaitFor(t, 10*time.Second, "the first poll", func() bool {
		s := h.(*standIn)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.keys[key] != nil
	})
	ch := readSSE(t, hs.URL+"/events")

	var up updatesMsg
	m := next(t, ch, &up)
	require.Equal(t, "updates", m.event)
	require.Len(t, up.Windows, 1)
	w := up.Windows[0]
	require.Equal(t, windowMsg{Key: key, Type: "zset", Entries: []entry{
		{ID: "not-json", Score: 2, Value: "not-json"},
		{ID: "h:3", Score: 3, Value: `{"id":"h:3","t":3}`},
		{ID: "h:4", Score: 4, Value: `{"id":"h:4","t":4}`},
	}}, w, "newest 3 by score, ascending; id from the JSON, else the member")

	require.NoError(t, c.ZAdd(ctx, key, redis.Z{Score: 5, Member: `{"id":"h:5","t":5}`}).Err())
	var d dUpdatesMsg
	m = next(t, ch, &d)
	require.Equal(t, "dUpdates", m.event)
	require.Greater(t, d.Offset, up.Offset)
	require.Equal(t, m.id, jsonNumber(d.Offset))
	require.Equal(t, []delta{{Key: key, Type: "zset", Del: []string{"not-json"},
		Set: []entry{{ID: "h:5", Score: 5, Value: `{"id":"h:5","t":5}`}}}}, d.Deltas)

	require.NoError(t, c.Del(ctx, key).Err())
	m = next(t, ch, &d)
	require.Equal(t, "dUpdates", m.event)
	require.Equal(t, []delta{{Key: key, Type: "zset", Clear: true, Del: []string{}, Set: []entry{}}}, d.Deltas)

	resp, err := http.Get(hs.URL + "/ws")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotImplemented, resp.StatusCode)
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
