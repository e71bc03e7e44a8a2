package keyspace_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/keyspace"
	"github.com/redtap/redtap/monitor"
)

// sourceFace serves n SET commands with 1 KiB keys through a face with cfg,
// released by the returned function.
func sourceFace(t *testing.T, n int, cfg keyspace.Config) (*keyspace.Face, string, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	src := &cmdSource{start: make(chan struct{}), n: n, args: [][]byte{[]byte("SET"), nil, []byte("v")}, pad: strings.Repeat("p", 1024)}
	m, err := monitor.New(src)
	require.NoError(t, err)
	sub, err := m.Subscribe(monitor.Filter{})
	require.NoError(t, err)
	f, err := keyspace.New(ctx, sub, cfg)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go f.Serve(ctx, l)
	t.Cleanup(func() {
		require.NoError(t, f.Close())
		require.NoError(t, f.Close(), "idempotent")
		m.Close()
	})
	return f, l.Addr().String(), func() { close(src.start) }
}

func keyOf(i int) string { return fmt.Sprintf("key:%08d%s", i, strings.Repeat("p", 1024)) }

// readAll reads redtap messages and resets until the message of key last,
// a reset to the position after it (offset lastOff), or the end of the
// connection.
func readAll(t *testing.T, c *respConn, last string, lastOff int) (keys []string, resets int, err error) {
	for {
		v, err := c.tryRead()
		if err != nil {
			return keys, resets, err
		}
		m, ok := v.([]any)
		require.True(t, ok, "%v", v)
		switch m[0] {
		case "redtap.reset":
			resets++
			if m[2] == strconv.Itoa(lastOff) {
				return keys, resets, nil
			}
		case "redtap.message":
			keys = append(keys, m[3].(string))
			if m[3] == last {
				return keys, resets, nil
			}
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
}

// A subscriber that does not read while the stream passes: Block loses
// nothing, Reset skips its backlog and says so, Drop disconnects it.
func TestSlowSubscriber(t *testing.T) {
	const n = 20000 // about 40 MiB of messages: more than the sockets buffer
	for _, p := range []monitor.SlowPolicy{monitor.Block, monitor.Reset, monitor.Drop} {
		t.Run(p.String(), func(t *testing.T) {
			f, addr, start := sourceFace(t, n, keyspace.Config{OnSlow: p, QueueLen: 100, QueueBytes: 1 << 20})
			c := dialRESP(t, addr)
			c.send(t, "REDTAP.SUBSCRIBE", "__keyevent@*__:*")
			c.read(t)
			start()
			if p != monitor.Block {
				redistest.WaitFor(t, 30*time.Second, "the stream to pass", func() bool { return f.Stats().Notifications == n })
			}
			keys, resets, err := readAll(t, c, keyOf(n), n*40)
			s := f.Stats()
			switch p {
			case monitor.Block:
				require.NoError(t, err)
				require.Len(t, keys, n)
				for i, k := range keys {
					require.Equal(t, keyOf(i+1), k)
				}
				require.Zero(t, resets)
			case monitor.Reset:
				// Each reset skips what the subscriber had not taken;
				// the last one the rest of the stream.
				require.NoError(t, err)
				require.Less(t, len(keys), n)
				require.Positive(t, resets)
				require.Equal(t, int64(resets), s.Resets)
				require.IsIncreasing(t, keys)
			case monitor.Drop:
				require.ErrorIs(t, err, io.EOF)
				require.Less(t, len(keys), n)
				require.Equal(t, int64(1), s.Dropped)
			}
		})
	}
}
