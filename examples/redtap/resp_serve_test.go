package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
)

func TestServeRESPUsage(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", "h:1", "--resp", "127.0.0.1:0", "--resp-history", "0"}, nil, io.Discard, &stderr)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr.String(), "--resp-history 0: want at least 1")
}

// `redtap serve --resp ADDR`, alone and with --listen: a keyspace
// notification subscriber gets the master's writes.
func TestServeRESP(t *testing.T) {
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	mc := m.Client()
	ctx := context.Background()
	for _, withHTTP := range []bool{false, true} {
		t.Run("http="+strconv.FormatBool(withHTTP), func(t *testing.T) {
			resp := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
			args := []string{"serve", "--addr", m.Addr, "--resp", resp, "--match", "cpu:*"}
			listen := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
			if withHTTP {
				args = append(args, "--listen", listen)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan int, 1)
			var stdout, stderr syncbuf.Buffer
			go func() { done <- run(rctx, args, nil, &stdout, &stderr) }()
			defer func() {
				cancel()
				require.Equal(t, exitOK, <-done, "exit code; stderr: %s", stderr.String())
			}()
			c := redis.NewClient(&redis.Options{Addr: resp, MaxRetries: -1})
			defer c.Close()
			redistest.WaitFor(t, 30*time.Second, "the RESP face to answer", func() bool { return c.Ping(ctx).Err() == nil })
			ps := c.PSubscribe(ctx, "__keyevent@*__:*")
			defer ps.Close()
			_, err := ps.Receive(ctx)
			require.NoError(t, err)
			// The tap may still be syncing: write until a message comes.
			got := make(chan *redis.Message, 1)
			go func() {
				msg, _ := ps.ReceiveMessage(ctx)
				got <- msg
			}()
			var msg *redis.Message
			for msg == nil {
				require.NoError(t, mc.Set(ctx, "other", "x", 0).Err())
				require.NoError(t, mc.Set(ctx, "cpu:1", "x", 0).Err())
				select {
				case msg = <-got:
				case <-time.After(100 * time.Millisecond):
				}
			}
			require.Equal(t, "__keyevent@0__:set", msg.Channel)
			require.Equal(t, "cpu:1", msg.Payload, "--match selects the keys")
			if !withHTTP {
				// --resp-track (the default): the pop that empties a list
				// is followed by "del", as on the master.
				require.NoError(t, mc.RPush(ctx, "cpu:q", "a").Err())
				require.NoError(t, mc.LPop(ctx, "cpu:q").Err())
				var got []string
				for len(got) < 3 {
					m, err := ps.ReceiveMessage(ctx)
					require.NoError(t, err)
					if m.Payload == "cpu:q" {
						got = append(got, m.Channel)
					}
				}
				require.Equal(t, []string{"__keyevent@0__:rpush", "__keyevent@0__:lpop", "__keyevent@0__:del"}, got)
			}
			if withHTTP {
				r, err := http.Get("http://" + listen + "/")
				require.NoError(t, err)
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				require.Equal(t, http.StatusOK, r.StatusCode)
			}
			require.Contains(t, stdout.String(), "at redis://"+resp)
		})
	}
}
