package live_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// wsFrame is a frame of the WebSocket handler.
type wsFrame struct {
	Event string          `json:"event"`
	ID    int64           `json:"id"`
	Data  json.RawMessage `json:"data"`
}

func readWS(t *testing.T, c *websocket.Conn) wsFrame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	typ, p, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, websocket.MessageText, typ)
	var f wsFrame
	require.NoError(t, json.Unmarshal(p, &f), "%s", p)
	return f
}

func sendWS(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	require.NoError(t, c.Write(context.Background(), websocket.MessageText, []byte(msg)))
}

func TestWebSocketPatterns(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.WebSocket())
	src.snapshot(100, "a:1", "b:1", "c:1")

	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "?match=a:*"
	c, _, err := websocket.Dial(context.Background(), url, nil)
	require.NoError(t, err)
	defer c.CloseNow()

	f := readWS(t, c)
	require.Equal(t, "updates", f.Event)
	require.EqualValues(t, 100, f.ID)
	require.Equal(t, []string{"a:1"}, keysOf(t, string(f.Data)))

	sendWS(t, c, `{"add":["b:*"]}`)
	f = readWS(t, c)
	require.Equal(t, "updates", f.Event)
	require.Equal(t, []string{"a:1", "b:1"}, keysOf(t, string(f.Data)))

	src.zadd(110, "c:1", 1, "x") // not selected
	src.zadd(120, "b:1", 1, "y")
	f = readWS(t, c)
	require.Equal(t, "dUpdates", f.Event)
	require.EqualValues(t, 120, f.ID)
	require.Equal(t, []string{"b:1/y"}, setIDs(t, string(f.Data)))

	sendWS(t, c, `{"remove":["a:*"]}`)
	require.Equal(t, []string{"b:1"}, keysOf(t, string(readWS(t, c).Data)))

	sendWS(t, c, `{"remove":["b:*"]}`) // nothing left
	f = readWS(t, c)
	require.Equal(t, "updates", f.Event)
	require.Empty(t, keysOf(t, string(f.Data)))
	require.EqualValues(t, 120, f.ID)

	sendWS(t, c, `{"match":["c:*","a:1"]}`)
	require.Equal(t, []string{"a:1", "c:1"}, keysOf(t, string(readWS(t, c).Data)))

	// A malformed message closes the connection with a reason.
	sendWS(t, c, `{"add":"a:*"}`)
	_, _, err = c.Read(context.Background())
	require.Equal(t, websocket.StatusUnsupportedData, websocket.CloseStatus(err))

	require.Eventually(t, func() bool { return h.Assembler().Stats().Subscribers == 0 },
		time.Minute, 10*time.Millisecond, "unsubscribed on close")
}

func TestWebSocketCleanup(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.WebSocket())
	src.snapshot(100, "a:1")
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	dial := func() *websocket.Conn {
		c, _, err := websocket.Dial(context.Background(), url, nil)
		require.NoError(t, err)
		return c
	}
	c := dial()
	readWS(t, c)
	c.Close(websocket.StatusNormalClosure, "")
	base := settle(t, h)
	for i := range 30 {
		c := dial()
		if i%2 == 0 {
			readWS(t, c)
			c.Close(websocket.StatusNormalClosure, "bye")
		} else {
			c.CloseNow() // no close handshake
		}
	}
	require.LessOrEqual(t, settle(t, h), base, "goroutines left behind")
}

func TestWebSocketHubStops(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	srv := serve(t, h.WebSocket())
	src.snapshot(100, "a:1")
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	defer c.CloseNow()
	readWS(t, c)
	require.NoError(t, h.Close())
	require.NoError(t, h.Close(), "idempotent")
	_, _, err = c.Read(context.Background())
	require.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err))
}
