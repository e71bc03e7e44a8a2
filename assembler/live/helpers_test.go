package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// chanSource is a monitor.Source fed by a test; a closed channel is io.EOF.
type chanSource chan replica.Event

func (s chanSource) Next(ctx context.Context) (replica.Event, error) {
	select {
	case e, ok := <-s:
		if !ok {
			return nil, io.EOF
		}
		return e, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// snapshot feeds a full sync with one zset key per name, one member each.
func (s chanSource) snapshot(offset int64, keys ...string) {
	s <- &replica.Sync{Mode: replica.SyncFull, Offset: offset}
	for _, k := range keys {
		s <- &replica.SnapshotRecord{Record: &rdb.Entry{Key: []byte(k), Type: rdb.TypeZSet, Last: true,
			Members: []rdb.Member{{Name: []byte("m0"), Score: 0}}}}
	}
	s <- &replica.SnapshotDone{Offset: offset}
}

// zadd feeds ZADD key score member at offset.
func (s chanSource) zadd(offset int64, key string, score int, member string) {
	s <- &replica.Command{Offset: offset, Pos: replica.Position{Offset: offset},
		Args: [][]byte{[]byte("ZADD"), []byte(key), []byte(strconv.Itoa(score)), []byte(member)}}
}

// newHub starts a hub over a chanSource with zset windows of every key.
func newHub(t *testing.T, interval time.Duration) (chanSource, *live.Hub) {
	t.Helper()
	src := make(chanSource)
	m, err := monitor.New(src)
	require.NoError(t, err)
	sub, err := m.Subscribe(monitor.Filter{})
	require.NoError(t, err)
	a, err := assembler.New(assembler.Config{Windows: []assembler.Window{{Match: "*", Limit: 10}}, Interval: interval})
	require.NoError(t, err)
	h, err := live.NewHub(context.Background(), sub, a, live.Config{Interval: interval, Keepalive: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, h.Close())
		m.Close()
	})
	return src, h
}

// tapHub taps the redis-server at addr for the keys matching match:
// replica (with a snapshot of those keys only) -> monitor (a subscriber
// with opts) -> assembler (cfg) -> hub (lcfg). They close when the test
// ends, the hub first.
func tapHub(t *testing.T, ctx context.Context, addr, match string, cfg assembler.Config, lcfg live.Config, opts ...monitor.SubscribeOption) *live.Hub {
	t.Helper()
	r, err := replica.Dial(ctx, replica.Config{Addr: addr, RDBOptions: []rdb.Option{rdb.WithMatch(match)}})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	m, err := monitor.New(r)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	sub, err := m.Subscribe(monitor.Filter{Match: []string{match}}, opts...)
	require.NoError(t, err)
	a, err := assembler.New(cfg)
	require.NoError(t, err)
	h, err := live.NewHub(ctx, sub, a, lcfg)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

// serve serves handler until the test's end (after its clients are closed,
// as cleanups run last first).
func serve(t *testing.T, handler http.Handler) *httptest.Server {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	Event string
	ID    int64
	Data  string
}

// sseClient reads an SSE stream.
type sseClient struct {
	resp *http.Response
	r    *bufio.Reader
}

func dialSSE(t *testing.T, url string, lastID string) *sseClient {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	c := &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	if c.resp != nil {
		c.resp.Body.Close()
	}
}

// next returns the next event (comments skipped).
func (c *sseClient) next(t *testing.T) sseEvent {
	t.Helper()
	e, err := c.read()
	require.NoError(t, err)
	return e
}

// read is next for another goroutine than the test's.
func (c *sseClient) read() (sseEvent, error) {
	var e sseEvent
	seen := false
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if seen {
				return e, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			e.Event, seen = line[len("event: "):], true
		case strings.HasPrefix(line, "id: "):
			if e.ID, err = strconv.ParseInt(line[len("id: "):], 10, 64); err != nil {
				return e, err
			}
		case strings.HasPrefix(line, "data: "):
			e.Data += line[len("data: "):]
		default:
			return e, fmt.Errorf("unexpected line %q", line)
		}
	}
}

// updates and dUpdates as far as the tests read them.
type (
	updatesMsg struct {
		Offset  int64 `json:"offset"`
		Windows []struct {
			Key     string `json:"key"`
			Entries []struct {
				ID    string `json:"id"`
				Score int64  `json:"score"`
			} `json:"entries"`
		} `json:"windows"`
	}
	dUpdatesMsg struct {
		Offset int64 `json:"offset"`
		Deltas []struct {
			Key string   `json:"key"`
			Del []string `json:"del"`
			Set []struct {
				ID string `json:"id"`
			} `json:"set"`
		} `json:"deltas"`
	}
)

func keysOf(t *testing.T, data string) []string {
	t.Helper()
	var u updatesMsg
	require.NoError(t, json.Unmarshal([]byte(data), &u))
	var ks []string
	for _, w := range u.Windows {
		ks = append(ks, w.Key)
	}
	return ks
}

// setIDs returns "key/id" of every set entry of a dUpdates.
func setIDs(t *testing.T, data string) []string {
	t.Helper()
	ids, err := setIDsOf(data)
	require.NoError(t, err)
	return ids
}

// setIDsOf is setIDs for another goroutine than the test's.
func setIDsOf(data string) ([]string, error) {
	var d dUpdatesMsg
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, err
	}
	var ids []string
	for _, k := range d.Deltas {
		for _, s := range k.Set {
			ids = append(ids, k.Key+"/"+s.ID)
		}
	}
	return ids, nil
}
