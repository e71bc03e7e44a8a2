package replica

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
)

// Redis 8's rdb-channel replication against the fake master: the wire of
// rdbchannel.go, the events of an ordinary full sync.

// gated returns a Payload hook that holds the payload of connection n until
// the returned gate is closed.
func gated(n int) (func(int) fakemaster.Payload, chan struct{}) {
	gate := make(chan struct{})
	return func(conn int) fakemaster.Payload {
		if conn == n {
			return fakemaster.Payload{Gate: gate}
		}
		return fakemaster.Payload{}
	}, gate
}

func TestRDBChannelFullSync(t *testing.T) {
	snap := testRDB()
	payload, gate := gated(2)
	m := fakemaster.Start(t, fakemaster.Options{RDB: snap, Offset: 100, RDBChannel: true, Payload: payload})
	r := dial(t, m, nil)
	ctx := testCtx(t)

	// The main connection streams from the snapshot's end as soon as the
	// rdb channel has its +FULLRESYNC: these are written during the
	// transfer, before the snapshot leaves the master.
	main, err := m.Accept(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, main.N())
	m.Propagate("SELECT", "0")
	during := m.Propagate("SET", "k", "v")
	m.Propagate("SELECT", "5")
	during2 := m.Propagate("INCR", "n")
	close(gate)

	s, keys, done := readSnapshot(t, r)
	id := m.ReplID()
	require.Equal(t, &Sync{Mode: SyncFull, ReplID: id, Offset: 100, Addr: m.Addr()}, s)
	require.Equal(t, []string{"0:a", "0:b", "5:l"}, keys)
	require.Equal(t, &SnapshotDone{Offset: 100, Keys: 3, Bytes: int64(len(snap)), Pos: Position{ReplID: id, Offset: 100}}, done)

	c := nextCommand(t, r)
	require.Equal(t, []string{"SET", "k", "v"}, strs(c.Args))
	require.Equal(t, during, c.Offset)
	require.Equal(t, 0, c.DB)
	require.Equal(t, Position{ReplID: id, Offset: during}, c.Pos)
	c = nextCommand(t, r)
	require.Equal(t, []string{"INCR", "n"}, strs(c.Args))
	require.Equal(t, during2, c.Offset)
	require.Equal(t, Position{ReplID: id, Offset: during2, DB: 5}, c.Pos)

	after := m.Propagate("DEL", "k")
	c = nextCommand(t, r)
	require.Equal(t, []string{"DEL", "k"}, strs(c.Args))
	require.Equal(t, after, c.Offset)
	require.Equal(t, Position{ReplID: id, Offset: after, DB: 5}, r.Position())

	// The wire, as rdbchannel.go has it.
	cmds := main.Commands()
	require.Equal(t, []string{"PING"}, cmds[0])
	require.Equal(t, "listening-port", cmds[1][1])
	require.Equal(t, []string{"REPLCONF", "capa", "eof", "capa", "psync2", "capa", "dual-channel", "capa", "rdb-channel-repl"}, cmds[2])
	require.Equal(t, []string{"PSYNC", "?", "-1"}, cmds[3])
	for _, c := range cmds[4:] {
		require.Equal(t, "REPLCONF", c[0], "only ACKs after PSYNC on the main connection: %q", c)
		require.Equal(t, "ACK", c[1])
	}
	rdbc := main.RDBChannel()
	require.NotNil(t, rdbc)
	require.Equal(t, 2, rdbc.N())
	port := cmds[1][2]
	require.Equal(t, [][]string{
		{"REPLCONF", "capa", "eof", "rdb-only", "1", "rdb-channel", "1", "main-ch-client-id", "1", "listening-port", port},
		{"PSYNC", "?", "-1"},
	}, rdbc.Commands())
	// The rdb channel is dropped after the snapshot; the main one ACKs.
	<-rdbc.Done()
	_, err = main.WaitAck(ctx, after)
	require.NoError(t, err)

	st := r.Stats()
	require.Equal(t, int64(1), st.DualChannelSyncs)
	require.Equal(t, int64(1), st.FullSyncs)
	require.Equal(t, int64(1), st.Connects)
	require.Equal(t, 2, m.Connections())
}

// A master without the rdb channel (or Redis before 8, or
// repl-rdb-channel no) ignores the capability: one connection.
func TestRDBChannelDeclined(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{RDB: testRDB(), Offset: 7})
	r := dial(t, m, nil)
	s, keys, _ := readSnapshot(t, r)
	require.Equal(t, int64(7), s.Offset)
	require.Len(t, keys, 3)
	off := m.Propagate("SET", "k", "v")
	require.Equal(t, off, nextCommand(t, r).Offset)
	require.Equal(t, 1, m.Connections())
	require.Equal(t, int64(0), r.Stats().DualChannelSyncs)

	// DualChannelOff does not ask, so a Redis 8 master answers as always.
	m2 := fakemaster.Start(t, fakemaster.Options{RDBChannel: true})
	r2 := dial(t, m2, func(c *Config) { c.DualChannel.Mode = DualChannelOff })
	_, _, _ = readSnapshot(t, r2)
	conn, err := m2.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, []string{"REPLCONF", "capa", "eof", "capa", "psync2"}, conn.Commands()[2])
	require.Nil(t, conn.RDBChannel())
	require.Equal(t, 1, m2.Connections())
}

// The rdb channel breaks mid-snapshot: Disconnected, then a clean
// reconnect on two fresh connections.
func TestRDBChannelBrokenSnapshot(t *testing.T) {
	snap := testRDB()
	m := fakemaster.Start(t, fakemaster.Options{RDB: snap, RDBChannel: true,
		Payload: func(conn int) fakemaster.Payload {
			if conn == 2 {
				return fakemaster.Payload{TruncateAt: len(snap) / 2}
			}
			return fakemaster.Payload{}
		}})
	r := dial(t, m, nil)
	first, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	m.Propagate("SELECT", "0")
	m.Propagate("SET", "during", "1")

	require.Equal(t, SyncFull, next(t, r).(*Sync).Mode)
	var d *Disconnected
	for d == nil {
		ev := next(t, r)
		switch e := ev.(type) {
		case *SnapshotRecord:
		case *Disconnected:
			d = e
		default:
			t.Fatalf("want records then Disconnected, got %s", describe(ev))
		}
	}
	require.Equal(t, m.Addr(), d.Addr)
	require.Error(t, d.Err)
	<-first.Done() // the replica dropped the held main connection too

	// Starts over: nothing of the broken snapshot counts.
	s, keys, done := readSnapshot(t, r)
	require.Equal(t, m.ReplID(), s.ReplID)
	require.Equal(t, []string{"0:a", "0:b", "5:l"}, keys)
	require.Equal(t, m.Offset(), done.Offset)
	off := m.Propagate("SET", "after", "2")
	c := nextCommand(t, r)
	require.Equal(t, []string{"SET", "after", "2"}, strs(c.Args))
	require.Equal(t, off, c.Offset)
	require.Equal(t, 4, m.Connections())
	second, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, 3, second.N())
	require.Equal(t, []string{"PSYNC", "?", "-1"}, second.PSYNC())
	require.Equal(t, int64(2), r.Stats().DualChannelSyncs)
}

// A stale client id (the main connection went away meanwhile) is answered
// "-ERR Unrecognized RDB client id": the replica starts over.
func TestRDBChannelUnknownClientID(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{RDB: testRDB(), RDBChannel: true,
		Reply: func(conn int, args []string) (string, bool) {
			if conn == 2 && args[0] == "REPLCONF" {
				return "-ERR Unrecognized RDB client id: " + args[8], true
			}
			return "", false
		}})
	r := dial(t, m, nil)
	_, keys, _ := readSnapshot(t, r)
	require.Len(t, keys, 3)
	require.Equal(t, 4, m.Connections())
	main, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, 3, main.N())
	require.Equal(t, "3", main.RDBChannel().Commands()[0][8])
}

// After a full sync through the rdb channel, a cut main connection
// resumes with PSYNC and +CONTINUE on one connection.
func TestRDBChannelResume(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{RDB: testRDB(), Offset: 50, RDBChannel: true})
	r := dial(t, m, nil)
	_, _, _ = readSnapshot(t, r)
	m.Propagate("SELECT", "3")
	off := m.Propagate("SET", "k", "v")
	require.Equal(t, off, nextCommand(t, r).Offset)
	main, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	_, err = main.WaitAck(testCtx(t), off)
	require.NoError(t, err)
	main.Cut()

	ev := next(t, r)
	_, ok := ev.(*Disconnected)
	require.Truef(t, ok, "want Disconnected, got %s", describe(ev))
	off2 := m.Propagate("INCR", "n")
	s := next(t, r).(*Sync)
	id := m.ReplID()
	require.Equal(t, &Sync{Mode: SyncContinue, ReplID: id, Offset: off, Addr: m.Addr(),
		Pos: Position{ReplID: id, Offset: off, DB: 3}}, s)
	c := nextCommand(t, r)
	require.Equal(t, []string{"INCR", "n"}, strs(c.Args))
	require.Equal(t, off2, c.Offset)
	require.Equal(t, 3, c.DB)
	again, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, []string{"PSYNC", id, strconv.FormatInt(off+1, 10)}, again.PSYNC())
	require.Nil(t, again.RDBChannel())
	require.Equal(t, 3, m.Connections())
	require.Equal(t, int64(1), r.Stats().PartialSyncs)
}

// DualChannelOn against a master that declines: refused, naming both
// flavours' settings; against a Redis 8 one: granted.
func TestRDBChannelRequired(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	_, err := Dial(testCtx(t), Config{Addr: m.Addr(), DualChannel: DualChannelConfig{Mode: DualChannelOn}, MaxRetries: 1, MinBackoff: time.Millisecond})
	require.ErrorIs(t, err, ErrSyncRefused)
	require.Contains(t, err.Error(), "repl-rdb-channel yes")

	m2 := fakemaster.Start(t, fakemaster.Options{RDBChannel: true})
	r := dial(t, m2, func(c *Config) { c.DualChannel.Mode = DualChannelOn })
	_, _, _ = readSnapshot(t, r)
	require.Equal(t, int64(1), r.Stats().DualChannelSyncs)
}
