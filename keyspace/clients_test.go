package keyspace_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os/exec"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/redcon"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/keyspace"
)

// TestClients: redis-cli (RESP2 and RESP3), raw RESP2 and RESP3
// connections, and a go-redis client with a password work unchanged.
func TestClients(t *testing.T) {
	const pass = "secret"
	tp := startTap(t, nil, keyspace.Config{Auth: func(_ redcon.Conn, user, p string) error {
		if user != "default" || p != pass {
			return errors.New("bad")
		}
		return nil
	}})
	ctx := context.Background()
	cli := redistest.Binary(t, "redis-cli")
	_, port, _ := net.SplitHostPort(tp.addr)

	t.Run("redis-cli", func(t *testing.T) {
		out, err := exec.Command(cli, "-p", port, "-a", "secret", "--no-auth-warning", "ping").CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "PONG\n", string(out))
		out, _ = exec.Command(cli, "-p", port, "ping").CombinedOutput()
		require.Contains(t, string(out), "NOAUTH")
		for _, proto := range []string{"-2", "-3"} {
			cmd := exec.Command(cli, proto, "-p", port, "-a", "secret", "--no-auth-warning", "psubscribe", "__keyevent@*__:set")
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			sc := bufio.NewScanner(stdout)
			var lines []string
			for len(lines) < 3 && sc.Scan() {
				lines = append(lines, sc.Text())
			}
			require.Equal(t, []string{"psubscribe", "__keyevent@*__:set", "1"}, lines, proto)
			require.NoError(t, tp.rc.Set(ctx, "cli", "v", 0).Err())
			lines = nil
			for len(lines) < 4 && sc.Scan() {
				lines = append(lines, sc.Text())
			}
			require.Equal(t, []string{"pmessage", "__keyevent@*__:set", "__keyevent@0__:set", "cli"}, lines, proto)
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	t.Run("raw", func(t *testing.T) {
		c := dialRESP(t, tp.addr)
		c.send(t, "SUBSCRIBE", "x")
		require.Equal(t, "-NOAUTH Authentication required.", c.read(t))
		c.send(t, "HELLO", "3", "AUTH", "default", "secret")
		hello := c.read(t).([]any)
		require.Equal(t, []any{"server", "redtap"}, hello[:2])
		c.send(t, "SUBSCRIBE", "__keyspace@0__:raw", "other")
		require.Equal(t, []any{"subscribe", "__keyspace@0__:raw", "1"}, c.read(t))
		require.Equal(t, []any{"subscribe", "other", "2"}, c.read(t))
		c.send(t, "PING")
		require.Equal(t, "PONG", c.read(t), "RESP3: a plain reply")
		c.send(t, "GET", "raw")
		require.Contains(t, c.read(t), "-ERR unknown command 'GET'", "RESP3: other commands are allowed")
		require.NoError(t, tp.rc.Set(ctx, "raw", "v", 0).Err())
		require.Equal(t, []any{"message", "__keyspace@0__:raw", "set"}, c.read(t))
		c.send(t, "HELLO", "2")
		c.read(t)
		c.send(t, "PING")
		require.Equal(t, []any{"pong", ""}, c.read(t), "RESP2 subscribed")
		c.send(t, "GET", "raw")
		require.Contains(t, c.read(t), "-ERR Can't execute 'GET'")
		c.send(t, "UNSUBSCRIBE")
		require.Equal(t, []any{"unsubscribe", "__keyspace@0__:raw", "1"}, c.read(t))
		require.Equal(t, []any{"unsubscribe", "other", "0"}, c.read(t))
		c.send(t, "PING")
		require.Equal(t, "PONG", c.read(t), "no longer subscribed")
		c.send(t, "UNSUBSCRIBE")
		require.Equal(t, []any{"unsubscribe", nil, "0"}, c.read(t))
	})

	t.Run("go-redis", func(t *testing.T) {
		for _, proto := range []int{2, 3} {
			c := redis.NewClient(&redis.Options{Addr: tp.addr, Protocol: proto, Password: "secret"})
			require.NoError(t, c.Ping(ctx).Err())
			ps := c.Subscribe(ctx, "__keyspace@0__:gr")
			_, err := ps.Receive(ctx)
			require.NoError(t, err)
			require.NoError(t, ps.Ping(ctx), "PING while subscribed")
			require.NoError(t, tp.rc.HSet(ctx, "gr", "f", "v").Err())
			m, err := ps.ReceiveMessage(ctx)
			require.NoError(t, err)
			require.Equal(t, "hset", m.Payload)
			require.NoError(t, ps.Close())
			require.NoError(t, c.Close())
		}
	})
}

// TestMount mounts the face on the caller's own redcon server, next to
// the caller's commands and behind the caller's ACL check.
func TestMount(t *testing.T) {
	ctx := context.Background()

	// The caller's server: GET answers from its own map.
	mux := redcon.NewServeMux()
	mux.HandleFunc("get", func(conn redcon.Conn, cmd redcon.Command) { conn.WriteBulkString("mine") })
	mux.HandleFunc("ping", func(conn redcon.Conn, cmd redcon.Command) { conn.WriteString("PONG") })
	tp2 := startTap(t, nil, keyspace.Config{Allow: func(conn redcon.Conn, args [][]byte) error {
		for _, a := range args[1:] {
			if string(a) == "__keyevent@*__:*" {
				return errors.New("NOPERM no wildcard for you")
			}
		}
		return nil
	}})
	tp2.face.Mount(mux)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := redcon.NewServerNetwork("tcp", l.Addr().String(), mux.ServeRESP, nil,
		func(conn redcon.Conn, err error) { tp2.face.ConnClosed(conn) })
	go srv.Serve(l)
	defer srv.Close()

	for _, proto := range []int{2, 3} {
		c := redis.NewClient(&redis.Options{Addr: l.Addr().String(), Protocol: proto})
		require.Equal(t, "mine", c.Get(ctx, "k").Val())
		ps := c.PSubscribe(ctx, "__keyevent@*__:*")
		_, err = ps.Receive(ctx)
		require.ErrorContains(t, err, "NOPERM no wildcard")
		ps.Close()
		ps = c.PSubscribe(ctx, "__keyevent@0__:*")
		_, err = ps.Receive(ctx)
		require.NoError(t, err)
		require.NoError(t, tp2.rc.LPush(ctx, "mounted", "a").Err())
		m, err := ps.ReceiveMessage(ctx)
		require.NoError(t, err)
		require.Equal(t, "__keyevent@0__:lpush", m.Channel)
		require.Equal(t, "mounted", m.Payload)
		require.NoError(t, ps.Close())
		require.NoError(t, c.Close())
	}
}
