package fakemaster

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// client is a bare replica speaking raw RESP.
type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func connect(t *testing.T, m *Master) *client {
	nc, err := net.Dial("tcp", m.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(args ...string) {
	_, err := c.nc.Write(AppendCommand(nil, args...))
	require.NoError(c.t, err)
}

func (c *client) line() string {
	l, err := c.br.ReadString('\n')
	require.NoError(c.t, err)
	return strings.TrimRight(l, "\r\n")
}

func (c *client) bytes(n int) []byte {
	b := make([]byte, n)
	_, err := io.ReadFull(c.br, b)
	require.NoError(c.t, err)
	return b
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFullSyncContinueAndCut(t *testing.T) {
	m := Start(t, Options{Offset: 10, Payload: func(n int) Payload {
		return Payload{EOF: n == 3, Mark: strings.Repeat("m", 40), Newlines: 1}
	}})
	c := connect(t, m)
	c.send("PING")
	require.Equal(t, "+PONG", c.line())
	c.send("REPLCONF", "capa", "eof", "capa", "psync2")
	require.Equal(t, "+OK", c.line())
	c.send("PSYNC", "?", "-1")
	require.Equal(t, "+FULLRESYNC "+m.ReplID()+" 10", c.line())
	require.Equal(t, "", c.line()) // keepalive
	snap := EmptyRDB()
	require.Equal(t, "$"+strconv.Itoa(len(snap)), c.line())
	require.Equal(t, snap, c.bytes(len(snap)))
	conn, err := m.Accept(ctx(t))
	require.NoError(t, err)
	require.True(t, conn.Full())

	cmd := AppendCommand(nil, "SET", "k", "v")
	off := m.Propagate("SET", "k", "v")
	require.Equal(t, int64(10+len(cmd)), off)
	require.Equal(t, cmd, c.bytes(len(cmd)))
	c.send("REPLCONF", "ACK", strconv.FormatInt(off, 10))
	got, err := conn.WaitAck(ctx(t), off)
	require.NoError(t, err)
	require.Equal(t, off, got)

	// Cut in the middle of the next command; resume with PSYNC.
	conn.CutAt(off + 5)
	m.Propagate("SET", "k", "w")
	require.Equal(t, cmd[:5], c.bytes(5))
	_, err = c.br.ReadByte()
	require.Error(t, err)

	c2 := connect(t, m)
	c2.send("REPLCONF", "capa", "psync2")
	require.Equal(t, "+OK", c2.line())
	c2.send("PSYNC", m.ReplID(), strconv.FormatInt(off+1, 10))
	require.Equal(t, "+CONTINUE "+m.ReplID(), c2.line())
	require.Equal(t, AppendCommand(nil, "SET", "k", "w"), c2.bytes(len(cmd)))
	conn2, err := m.Accept(ctx(t))
	require.NoError(t, err)
	require.False(t, conn2.Full())

	// An offset the backlog does not have: full sync, diskless; the
	// stream waits for the first ACK.
	c3 := connect(t, m)
	c3.send("PSYNC", m.ReplID(), "5")
	require.Equal(t, "+FULLRESYNC "+m.ReplID()+" "+strconv.FormatInt(m.Offset(), 10), c3.line())
	require.Equal(t, "", c3.line()) // keepalive
	require.Equal(t, "$EOF:"+strings.Repeat("m", 40), c3.line())
	require.Equal(t, append(snap, strings.Repeat("m", 40)...), c3.bytes(len(snap)+40))
	last := m.Propagate("PING")
	c3.send("REPLCONF", "ACK", "0")
	require.Equal(t, AppendCommand(nil, "PING"), c3.bytes(14))
	require.Equal(t, m.Offset(), last)
}

func TestAuthAndReplyHook(t *testing.T) {
	m := Start(t, Options{Password: "pw", Reply: func(conn int, args []string) (string, bool) {
		if args[0] == "PSYNC" {
			return "-LOADING wait", true
		}
		return "", false
	}})
	c := connect(t, m)
	c.send("PING")
	require.Equal(t, "-NOAUTH Authentication required.", c.line())
	c.send("AUTH", "bad")
	require.True(t, strings.HasPrefix(c.line(), "-WRONGPASS"))
	c.send("AUTH", "pw")
	require.Equal(t, "+OK", c.line())
	c.send("PSYNC", "?", "-1")
	require.Equal(t, "-LOADING wait", c.line())
	require.Equal(t, [][]string{{"PING"}, {"AUTH", "bad"}, {"AUTH", "pw"}, {"PSYNC", "?", "-1"}}, m.Received())
}

func TestBacklogOverrunDisconnects(t *testing.T) {
	m := Start(t, Options{Backlog: 100})
	c := connect(t, m)
	c.send("PSYNC", "?", "-1")
	c.line()
	n, _ := strconv.Atoi(strings.TrimPrefix(c.line(), "$"))
	c.bytes(n)
	conn, err := m.Accept(ctx(t))
	require.NoError(t, err)
	// The replica reads nothing; the master runs far ahead of its backlog.
	big := strings.Repeat("x", 1<<20)
	for range 20 {
		m.Propagate("SET", "k", big)
	}
	<-conn.Done()
}

// Redis 8's rdb channel, by hand: +RDBCHANNELSYNC on the main connection,
// the rdb connection's REPLCONF and PSYNC, the stream on the main one from
// the +FULLRESYNC offset while the snapshot is held back.
func TestRDBChannel(t *testing.T) {
	gate := make(chan struct{})
	mark := strings.Repeat("m", 40)
	m := Start(t, Options{Offset: 10, RDBChannel: true, Payload: func(int) Payload {
		return Payload{Gate: gate, Mark: mark}
	}})
	main := connect(t, m)
	main.send("REPLCONF", "capa", "eof", "capa", "psync2", "capa", "rdb-channel-repl")
	require.Equal(t, "+OK", main.line())
	main.send("PSYNC", "?", "-1")
	require.Equal(t, "+RDBCHANNELSYNC 1", main.line())

	rdbc := connect(t, m)
	rdbc.send("REPLCONF", "capa", "eof", "rdb-only", "1", "rdb-channel", "1", "main-ch-client-id", "7")
	require.Equal(t, "-ERR Unrecognized RDB client id: 7", rdbc.line())
	rdbc.send("REPLCONF", "capa", "eof", "rdb-only", "1", "rdb-channel", "1", "main-ch-client-id", "1", "listening-port", "1")
	require.Equal(t, "+OK", rdbc.line())
	rdbc.send("PSYNC", "?", "-1")
	require.Equal(t, "+FULLRESYNC "+m.ReplID()+" 10", rdbc.line())
	conn, err := m.Accept(ctx(t))
	require.NoError(t, err)
	require.Equal(t, 1, conn.N())
	require.True(t, conn.Full())
	require.Equal(t, 2, conn.RDBChannel().N())

	cmd := AppendCommand(nil, "SET", "k", "v")
	off := m.Propagate("SET", "k", "v")
	require.Equal(t, cmd, main.bytes(len(cmd))) // before the snapshot
	close(gate)
	snap := EmptyRDB()
	require.Equal(t, "$EOF:"+mark, rdbc.line())
	require.Equal(t, string(snap)+mark, string(rdbc.bytes(len(snap)+40)))
	main.send("REPLCONF", "ACK", strconv.FormatInt(off, 10))
	_, err = conn.WaitAck(ctx(t), off)
	require.NoError(t, err)

	// Without Options.RDBChannel the capability is ignored.
	m2 := Start(t, Options{})
	c := connect(t, m2)
	c.send("REPLCONF", "capa", "eof", "capa", "psync2", "capa", "rdb-channel-repl")
	require.Equal(t, "+OK", c.line())
	c.send("PSYNC", "?", "-1")
	require.Equal(t, "+FULLRESYNC "+m2.ReplID()+" 0", c.line())
}
