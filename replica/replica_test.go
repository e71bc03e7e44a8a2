package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/rdb"
)

func TestFullSyncLen(t *testing.T) {
	snap := testRDB()
	m := fakemaster.Start(t, fakemaster.Options{RDB: snap, Offset: 100,
		Payload: func(int) fakemaster.Payload { return fakemaster.Payload{Newlines: 3} }})
	r := dial(t, m, nil)
	s, keys, done := readSnapshot(t, r)
	require.Equal(t, m.ReplID(), s.ReplID)
	require.Equal(t, int64(100), s.Offset)
	require.Equal(t, m.Addr(), s.Addr)
	require.Empty(t, s.Reason)
	require.Equal(t, []string{"0:a", "0:b", "5:l"}, keys)
	require.Equal(t, &SnapshotDone{Offset: 100, Keys: 3, Bytes: int64(len(snap)), Pos: Position{ReplID: m.ReplID(), Offset: 100}}, done)
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: 100}, r.Position())
	st := r.Stats()
	require.Equal(t, int64(len(snap)), st.SnapshotSize)
	require.Equal(t, int64(len(snap)), st.SnapshotBytes)
	require.Equal(t, int64(1), st.FullSyncs)
	require.Equal(t, int64(1), st.Connects)

	m.Propagate("SELECT", "0")
	off := m.Propagate("SET", "k", "v")
	c := nextCommand(t, r)
	require.Equal(t, []string{"SET", "k", "v"}, strs(c.Args))
	require.Equal(t, off, c.Offset)
	require.Equal(t, 0, c.DB)
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: off}, c.Pos)
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: off}, r.Position())
	st = r.Stats()
	require.Equal(t, off, st.ProcessedOffset)
	require.Equal(t, off, st.ReceivedOffset)
	require.Equal(t, int64(1), st.Commands)

	// The handshake as PROTOCOL.md has it.
	conn, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	cmds := conn.Commands()
	require.Equal(t, []string{"PING"}, cmds[0])
	require.Equal(t, "listening-port", cmds[1][1])
	// capa dual-channel and rdb-channel-repl by default (DualChannelAuto):
	// masters that do not know them ignore them.
	require.Equal(t, []string{"REPLCONF", "capa", "eof", "capa", "psync2", "capa", "dual-channel", "capa", "rdb-channel-repl"}, cmds[2])
	require.Equal(t, []string{"PSYNC", "?", "-1"}, cmds[3])
	// The ACK right after the payload.
	_, err = conn.WaitAck(testCtx(t), 100)
	require.NoError(t, err)
}

func TestFullSyncEOF(t *testing.T) {
	snap := testRDB()
	m := fakemaster.Start(t, fakemaster.Options{RDB: snap, Offset: 7,
		Payload: func(int) fakemaster.Payload {
			return fakemaster.Payload{EOF: true, Newlines: 2, NewlineAfter: true}
		}})
	r := dial(t, m, func(c *Config) { c.AckInterval = time.Hour })
	// The commands wait in the master: after a diskless payload it sends
	// them only after the replica's first ACK.
	m.Propagate("SELECT", "5")
	off := m.Propagate("DEL", "l")
	_, keys, done := readSnapshot(t, r)
	require.Equal(t, []string{"0:a", "0:b", "5:l"}, keys)
	require.Equal(t, &SnapshotDone{Offset: 7, Keys: 3, Bytes: int64(len(snap)), Pos: Position{ReplID: m.ReplID(), Offset: 7}}, done)
	require.Equal(t, int64(-1), r.Stats().SnapshotSize)
	c := nextCommand(t, r)
	require.Equal(t, []string{"DEL", "l"}, strs(c.Args))
	require.Equal(t, 5, c.DB)
	require.Equal(t, off, c.Offset)
	conn, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, int64(7), conn.Acks()[0])
}

func TestSnapshotSkip(t *testing.T) {
	for _, eof := range []bool{false, true} {
		t.Run(fmt.Sprintf("eof=%v", eof), func(t *testing.T) {
			snap := testRDB()
			m := fakemaster.Start(t, fakemaster.Options{RDB: snap,
				Payload: func(int) fakemaster.Payload { return fakemaster.Payload{EOF: eof} }})
			r := dial(t, m, func(c *Config) { c.Snapshot = SnapshotSkip })
			s := next(t, r).(*Sync)
			require.Equal(t, SyncFull, s.Mode)
			done := next(t, r).(*SnapshotDone)
			require.Equal(t, &SnapshotDone{Offset: 0, Keys: 0, Bytes: int64(len(snap)), Pos: Position{ReplID: m.ReplID()}}, done)
			off := m.Propagate("SET", "x", "y")
			require.Equal(t, off, nextCommand(t, r).Offset)
		})
	}
}

func TestSnapshotOnly(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuse=%v", refuse), func(t *testing.T) {
			snap := testRDB()
			m := fakemaster.Start(t, fakemaster.Options{RDB: snap,
				Reply: func(_ int, args []string) (string, bool) {
					if refuse && len(args) > 1 && args[1] == "rdb-only" {
						return "-ERR Unrecognized REPLCONF option: rdb-only", true
					}
					return "", false
				},
				Payload: func(int) fakemaster.Payload { return fakemaster.Payload{EOF: true, NewlineAfter: true} }})
			m.Propagate("SET", "x", "y")
			r := dial(t, m, func(c *Config) {
				c.Snapshot = SnapshotOnly
				c.Start = Position{ReplID: m.ReplID(), Offset: 3} // ignored
			})
			_, keys, done := readSnapshot(t, r)
			require.Len(t, keys, 3)
			require.Equal(t, int64(3), done.Keys)
			_, err := r.Next(testCtx(t))
			require.ErrorIs(t, err, io.EOF)
			_, err = r.Next(testCtx(t))
			require.ErrorIs(t, err, io.EOF)
			conn, err := m.Accept(testCtx(t))
			require.NoError(t, err)
			require.Contains(t, conn.Commands(), []string{"REPLCONF", "rdb-only", "1"})
			require.Equal(t, []string{"PSYNC", "?", "-1"}, conn.PSYNC())
			<-conn.Done() // the replica hung up
		})
	}
}

func TestContinue(t *testing.T) {
	for _, withID := range []bool{true, false} {
		t.Run(fmt.Sprintf("replid=%v", withID), func(t *testing.T) {
			m := fakemaster.Start(t, fakemaster.Options{Offset: 1000,
				Reply: func(_ int, args []string) (string, bool) {
					if !withID && args[0] == "PSYNC" && args[1] != "?" {
						return "+CONTINUE", true
					}
					return "", false
				}})
			old := m.ReplID()
			start := Position{ReplID: old, Offset: 1000, DB: 4}
			m.SetReplID(strings.Repeat("ab", 20)) // a failover happened
			off := m.Propagate("INCR", "n")
			r := dial(t, m, func(c *Config) { c.Start = start })
			require.Equal(t, start, r.Position()) // nothing returned yet
			s := next(t, r).(*Sync)
			wantID := m.ReplID()
			if !withID {
				wantID = old
			}
			require.Equal(t, &Sync{Mode: SyncContinue, ReplID: wantID, Offset: 1000, Addr: m.Addr(),
				Pos: Position{ReplID: wantID, Offset: 1000, DB: 4}}, s)
			c := nextCommand(t, r)
			require.Equal(t, []string{"INCR", "n"}, strs(c.Args))
			require.Equal(t, 4, c.DB, "the db of the resume position")
			require.Equal(t, off, c.Offset)
			require.Equal(t, Position{ReplID: wantID, Offset: off, DB: 4}, r.Position())
			conn, err := m.Accept(testCtx(t))
			require.NoError(t, err)
			require.Equal(t, []string{"PSYNC", old, "1001"}, conn.PSYNC())
			require.Equal(t, int64(1), r.Stats().PartialSyncs)
			_, err = conn.WaitAck(testCtx(t), 1000)
			require.NoError(t, err)
		})
	}
}

func TestResumeBacklogOverrun(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{Backlog: 64})
	for i := range 10 {
		m.Propagate("SET", "k", strconv.Itoa(i))
	}
	r := dial(t, m, func(c *Config) { c.Start = Position{ReplID: m.ReplID(), Offset: 5} })
	s := next(t, r).(*Sync)
	require.Equal(t, SyncFull, s.Mode)
	require.Equal(t, m.Offset(), s.Offset)
	require.Contains(t, s.Reason, "backlog no longer reaches offset 5")
	require.True(t, r.Position().IsZero(), "no position inside a snapshot")

	// An unknown replication id.
	r2 := dial(t, m, func(c *Config) { c.Start = Position{ReplID: strings.Repeat("0", 40), Offset: 5} })
	s = next(t, r2).(*Sync)
	require.Equal(t, SyncFull, s.Mode)
	require.Contains(t, s.Reason, "replication id unknown")
}

func TestLoadingThenSuccess(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{
		Reply: func(conn int, args []string) (string, bool) {
			if conn == 1 && args[0] == "PSYNC" {
				return "-LOADING Redis is loading the dataset in memory", true
			}
			if conn == 2 && args[0] == "PING" {
				return "-LOADING Redis is loading the dataset in memory", true
			}
			return "", false
		}})
	r := dial(t, m, nil)
	_, _, _ = readSnapshot(t, r)
	require.Equal(t, 3, m.Connections())

	// With no retries allowed, Dial reports it.
	m2 := fakemaster.Start(t, fakemaster.Options{
		Reply: func(_ int, args []string) (string, bool) {
			if args[0] == "PSYNC" {
				return "-NOMASTERLINK Can't SYNC while not connected with my master", true
			}
			return "", false
		}})
	_, err := Dial(testCtx(t), Config{Addr: m2.Addr(), MaxRetries: 2, MinBackoff: time.Millisecond})
	require.ErrorIs(t, err, ErrMasterBusy)
	require.Contains(t, err.Error(), "NOMASTERLINK")
	require.Equal(t, 3, m2.Connections())
}

func TestPsyncRefusedFallsBackToSync(t *testing.T) {
	snap := testRDB()
	m := fakemaster.Start(t, fakemaster.Options{RDB: snap, Offset: 500,
		Reply: func(_ int, args []string) (string, bool) {
			if args[0] == "PSYNC" {
				return "-ERR unknown command 'PSYNC'", true
			}
			return "", false
		}})
	r := dial(t, m, func(c *Config) { c.Start = Position{ReplID: m.ReplID(), Offset: 500} })
	s, keys, done := readSnapshot(t, r)
	require.Equal(t, "", s.ReplID)
	require.Equal(t, int64(0), s.Offset)
	require.Contains(t, s.Reason, "fell back to SYNC")
	require.Len(t, keys, 3)
	require.Equal(t, int64(0), done.Offset)
	m.Propagate("SELECT", "1")
	off := m.Propagate("SET", "k", "v")
	c := nextCommand(t, r)
	require.Equal(t, off-500, c.Offset, "offsets count from the start of the stream")
	require.Equal(t, Position{Offset: off - 500, DB: 1}, r.Position())
	conn, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, []string{"SYNC"}, conn.PSYNC())
	// Such a session cannot be resumed: the next one is a full sync again.
	conn.Cut()
	require.IsType(t, &Disconnected{}, next(t, r))
	s = next(t, r).(*Sync)
	require.Equal(t, SyncFull, s.Mode)
	require.Contains(t, s.Reason, "fell back to SYNC")
	conn, err = m.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, []string{"PSYNC", "?", "-1"}, conn.Commands()[len(conn.Commands())-2])

	// A master that takes PSYNC again: still a full sync, and it says why.
	m3 := fakemaster.Start(t, fakemaster.Options{
		Reply: func(conn int, args []string) (string, bool) {
			if conn == 1 && args[0] == "PSYNC" {
				return "-ERR unknown command 'PSYNC'", true
			}
			return "", false
		}})
	r3 := dial(t, m3, nil)
	_, _, _ = readSnapshot(t, r3)
	m3.CutAll()
	require.IsType(t, &Disconnected{}, next(t, r3))
	s = next(t, r3).(*Sync)
	require.Equal(t, SyncFull, s.Mode)
	require.Equal(t, m3.ReplID(), s.ReplID)
	require.Contains(t, s.Reason, "no replication id to resume from")

	// SYNC refused too.
	m2 := fakemaster.Start(t, fakemaster.Options{
		Reply: func(_ int, args []string) (string, bool) {
			switch args[0] {
			case "PSYNC":
				return "-ERR unknown command 'PSYNC'", true
			case "SYNC":
				return "-ERR replication disabled", true
			}
			return "", false
		}})
	r2 := dial(t, m2, nil)
	require.IsType(t, &Sync{}, next(t, r2))
	_, err = r2.Next(testCtx(t))
	require.ErrorIs(t, err, ErrSyncRefused)
}

func TestAuth(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{Password: "secret", Username: "tap"})
	// Good credentials.
	r := dial(t, m, func(c *Config) { c.Username, c.Password = "tap", "secret" })
	_, _, _ = readSnapshot(t, r)
	conn, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, []string{"AUTH", "tap", "secret"}, conn.Commands()[1])

	for name, cfg := range map[string]Config{
		"wrong password": {Username: "tap", Password: "nope"},
		"wrong user":     {Username: "other", Password: "secret"},
		"no password":    {},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Addr = m.Addr()
			_, err := Dial(testCtx(t), cfg)
			require.ErrorIs(t, err, ErrAuth)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "handshake", e.Op)
		})
	}

	// A user without +psync.
	m2 := fakemaster.Start(t, fakemaster.Options{
		Reply: func(_ int, args []string) (string, bool) {
			if args[0] == "PSYNC" {
				return "-NOPERM this user has no permissions to run the 'psync' command", true
			}
			return "", false
		}})
	_, err = Dial(testCtx(t), Config{Addr: m2.Addr()})
	require.ErrorIs(t, err, ErrAuth)
	require.Equal(t, 1, m2.Connections(), "auth errors are not retried")
}

func TestGarbageReplies(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  string
		rep  string
	}{
		{"ping", "PING", "hello"},
		{"psync", "PSYNC", "+FULLRESYNC nope"},
		{"psync garbage", "PSYNC", "what?"},
		{"continue to fresh", "PSYNC", "+CONTINUE"},
		{"replconf", "REPLCONF", ":1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fakemaster.Start(t, fakemaster.Options{
				Reply: func(_ int, args []string) (string, bool) {
					if args[0] == tc.cmd {
						return tc.rep, true
					}
					return "", false
				}})
			_, err := Dial(testCtx(t), Config{Addr: m.Addr()})
			require.ErrorIs(t, err, ErrProtocol)
		})
	}
}

// payloadFault dials a master whose first payload is p and returns the
// error Next ends with.
func payloadFault(t *testing.T, p fakemaster.Payload, mut func(*Config)) error {
	t.Helper()
	m := fakemaster.Start(t, fakemaster.Options{RDB: testRDB(),
		Payload: func(int) fakemaster.Payload { return p }})
	r := dial(t, m, mut)
	for {
		ev, err := r.Next(testCtx(t))
		if err != nil {
			_, err2 := r.Next(testCtx(t))
			require.Equal(t, err, err2, "errors are sticky")
			return err
		}
		require.NotNil(t, ev)
	}
}

func TestPayloadFaults(t *testing.T) {
	snap := testRDB()
	t.Run("corrupt checksum", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{Corrupt: []int{len(snap) - 3}}, nil)
		require.ErrorIs(t, err, rdb.ErrChecksum)
		var e *Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, "payload", e.Op)
	})
	t.Run("corrupt opcode", func(t *testing.T) {
		// 0xfa (aux) becomes 0x05, a sorted set whose lengths run past the
		// payload.
		err := payloadFault(t, fakemaster.Payload{Corrupt: []int{9}}, nil)
		require.ErrorIs(t, err, ErrProtocol)
	})
	t.Run("corrupt length", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{EOF: true, Corrupt: []int{10}}, nil)
		require.ErrorIs(t, err, rdb.ErrCorrupt)
	})
	t.Run("wrong EOF mark", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{EOF: true, WrongMark: true}, nil)
		require.ErrorIs(t, err, ErrEOFMark)
	})
	t.Run("short EOF mark", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{Header: "$EOF:abc"}, nil)
		require.ErrorIs(t, err, ErrProtocol)
	})
	t.Run("length too long", func(t *testing.T) {
		// Two bytes of the stream would be read as RDB bytes.
		err := payloadFault(t, fakemaster.Payload{Len: int64(len(snap) + 2)}, nil)
		require.ErrorIs(t, err, ErrProtocol)
		require.Contains(t, err.Error(), "ends after")
	})
	t.Run("length too short", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{Len: int64(len(snap) - 2)}, nil)
		require.ErrorIs(t, err, ErrProtocol)
		require.Contains(t, err.Error(), "past the payload")
	})
	t.Run("garbage header", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{Header: "hello"}, nil)
		require.ErrorIs(t, err, ErrProtocol)
	})
	t.Run("not an RDB", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{RDB: []byte("GARBAGE GARBAGE")}, nil)
		require.ErrorIs(t, err, rdb.ErrUnsupportedVersion)
	})
	t.Run("truncated, no retries", func(t *testing.T) {
		err := payloadFault(t, fakemaster.Payload{TruncateAt: 20}, func(c *Config) { c.MaxRetries = 2 })
		require.ErrorIs(t, err, io.EOF)
		require.Contains(t, err.Error(), "closed the connection")
	})
}

func TestTruncatedPayloadRetries(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{RDB: testRDB(),
		Payload: func(conn int) fakemaster.Payload {
			if conn == 1 {
				return fakemaster.Payload{TruncateAt: 20}
			}
			if conn == 2 {
				return fakemaster.Payload{Header: "-ERR BGSAVE failed"}
			}
			return fakemaster.Payload{EOF: true}
		}})
	r := dial(t, m, nil)
	require.Equal(t, SyncFull, next(t, r).(*Sync).Mode)
	var d *Disconnected
	for d == nil {
		ev := next(t, r)
		require.IsType(t, &SnapshotRecord{}, ev, describe(ev))
		d, _ = ev.(*Disconnected)
		if _, ok := ev.(*SnapshotRecord); !ok {
			break
		}
		if ev, ok := ev.(*SnapshotRecord); ok && ev.Record == nil {
			break
		}
		ev2, err := r.Next(testCtx(t))
		require.NoError(t, err)
		if dd, ok := ev2.(*Disconnected); ok {
			d = dd
		} else {
			require.IsType(t, &SnapshotRecord{}, ev2)
		}
	}
	require.ErrorIs(t, d.Err, io.EOF)
	require.Equal(t, SyncFull, next(t, r).(*Sync).Mode)
	ev := next(t, r)
	d, ok := ev.(*Disconnected)
	require.Truef(t, ok, "want Disconnected, got %s", describe(ev))
	require.Contains(t, d.Err.Error(), "BGSAVE failed")
	_, keys, _ := readSnapshot(t, r)
	require.Len(t, keys, 3)
	require.Equal(t, 3, m.Connections())
}

func TestStallPayload(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{RDB: testRDB(),
		Payload: func(conn int) fakemaster.Payload {
			if conn == 1 {
				return fakemaster.Payload{StallAt: 12}
			}
			return fakemaster.Payload{}
		}})
	r := dial(t, m, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	require.IsType(t, &Sync{}, next(t, r))
	var d *Disconnected
	for d == nil {
		ev := next(t, r)
		switch e := ev.(type) {
		case *Disconnected:
			d = e
		case *SnapshotRecord:
		default:
			t.Fatalf("unexpected %s", describe(ev))
		}
	}
	require.ErrorIs(t, d.Err, os.ErrDeadlineExceeded)
	require.Contains(t, d.Err.Error(), "nothing from the master for 300ms")
	_, keys, _ := readSnapshot(t, r)
	require.Len(t, keys, 3)
}

func TestStallStreamReconnects(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	_, _, _ = readSnapshot(t, r)
	off := m.Propagate("SET", "a", "1")
	require.Equal(t, off, nextCommand(t, r).Offset)
	// Silence: the replica gives up on the connection and resumes.
	d, ok := next(t, r).(*Disconnected)
	require.True(t, ok)
	require.ErrorIs(t, d.Err, os.ErrDeadlineExceeded)
	s := next(t, r).(*Sync)
	require.Equal(t, SyncContinue, s.Mode)
	require.Equal(t, off, s.Offset)
	off2 := m.Propagate("SET", "b", "2")
	require.Equal(t, off2, nextCommand(t, r).Offset)
}

func TestStreamGarbage(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, nil)
	_, _, _ = readSnapshot(t, r)
	m.Propagate("SET", "a", "1")
	m.PropagateRaw([]byte("+OK\r\n"))
	nextCommand(t, r)
	_, err := r.Next(testCtx(t))
	require.ErrorIs(t, err, ErrProtocol)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "stream", e.Op)
	_, err2 := r.Next(testCtx(t))
	require.Equal(t, err, err2)
}

func TestStreamLimits(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.MaxBulkLen = 10; c.MaxArgs = 3 })
	_, _, _ = readSnapshot(t, r)
	m.Propagate("SET", "a", "0123456789")
	m.Propagate("SET", "a", "0123456789x")
	nextCommand(t, r)
	_, err := r.Next(testCtx(t))
	require.ErrorIs(t, err, ErrTooLarge)

	r2 := dial(t, m, func(c *Config) { c.MaxArgs = 3 })
	_, _, _ = readSnapshot(t, r2)
	m.Propagate("MSET", "a", "1", "b", "2")
	_, err = r2.Next(testCtx(t))
	require.ErrorIs(t, err, ErrTooLarge)

	// A transaction over 2*MaxBulkLen bytes.
	r3 := dial(t, m, func(c *Config) { c.MaxBulkLen = 100 })
	_, _, _ = readSnapshot(t, r3)
	m.Propagate("MULTI")
	for range 10 {
		m.Propagate("SET", "k", strings.Repeat("v", 50))
	}
	m.Propagate("EXEC")
	_, err = r3.Next(testCtx(t))
	require.ErrorIs(t, err, ErrTooLarge)
	require.Contains(t, err.Error(), "transaction")
}

func TestGetAck(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{Offset: 10})
	r := dial(t, m, func(c *Config) { c.AckInterval = time.Hour })
	_, _, _ = readSnapshot(t, r)
	conn, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	_, err = conn.WaitAck(testCtx(t), 10) // the ACK after the payload
	require.NoError(t, err)

	m.Propagate("SELECT", "0")
	m.Propagate("SET", "a", "1")
	beforeGetack := m.Propagate("PING")
	afterGetack := m.Propagate("REPLCONF", "GETACK", "*")
	last := m.Propagate("SET", "b", "2")
	require.Equal(t, []string{"SET", "a", "1"}, strs(nextCommand(t, r).Args))
	c := nextCommand(t, r) // consumes PING and GETACK on the way
	require.Equal(t, last, c.Offset)
	// Like a Redis replica, the answer is the offset processed before the
	// GETACK command itself.
	ack, err := conn.WaitAck(testCtx(t), beforeGetack)
	require.NoError(t, err)
	require.Equal(t, beforeGetack, ack)
	// ACKs of the start offset repeat quickly until the stream moves (a
	// master that just finished a diskless transfer needs one after it
	// noticed); after that only the GETACK answer.
	var moved []int64
	for _, a := range conn.Acks() {
		if a != 10 {
			moved = append(moved, a)
		}
	}
	require.Equal(t, int64(10), conn.Acks()[0])
	require.Equal(t, []int64{beforeGetack}, moved)

	// The next GETACK reports everything processed, GETACK included.
	m.Propagate("REPLCONF", "GETACK", "*")
	m.Propagate("SET", "c", "3")
	nextCommand(t, r)
	ack, err = conn.WaitAck(testCtx(t), last)
	require.NoError(t, err)
	require.Equal(t, last, ack)
	require.Greater(t, last, afterGetack)
}

func TestPeriodicAcks(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.AckInterval = 20 * time.Millisecond })
	_, _, _ = readSnapshot(t, r)
	conn, err := m.Accept(testCtx(t))
	require.NoError(t, err)
	off := m.Propagate("SET", "a", "1")
	m.Propagate("SET", "b", "2")
	require.Equal(t, off, nextCommand(t, r).Offset)
	// The caller has received the first SET only: ACKs say so, whatever
	// has arrived on the socket, and keep coming while the caller idles.
	ack, err := conn.WaitAck(testCtx(t), off)
	require.NoError(t, err)
	require.Equal(t, off, ack)
	for _, a := range conn.Acks() {
		require.LessOrEqual(t, a, off)
	}
	n := len(conn.Acks())
	for len(conn.Acks()) < n+3 {
		select {
		case <-conn.Done():
			t.Fatal("connection closed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	for _, a := range conn.Acks() {
		require.LessOrEqual(t, a, off)
	}
}

func TestTransactionsAndSelect(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, nil)
	_, _, _ = readSnapshot(t, r)
	m.Propagate("SELECT", "2")
	offA := m.Propagate("SET", "a", "1")
	m.Propagate("MULTI")
	offB := m.Propagate("SET", "b", "2")
	m.Propagate("PING")
	m.Propagate("select", "3")
	offC := m.Propagate("SET", "c", "3")
	offExec := m.Propagate("EXEC")
	offD := m.Propagate("SET", "d", "4")

	c := nextCommand(t, r)
	require.Equal(t, &Command{DB: 2, Args: c.Args, Offset: offA, Pos: Position{ReplID: m.ReplID(), Offset: offA, DB: 2}}, c)
	ev := next(t, r)
	tx, ok := ev.(*Transaction)
	require.Truef(t, ok, "want Transaction, got %s", describe(ev))
	require.Equal(t, 2, tx.DB)
	require.Equal(t, offExec, tx.Offset)
	// The block starts right after the command before it, and spans MULTI
	// ... EXEC with the PING and SELECT inside.
	require.Equal(t, offA, tx.Start)
	require.Equal(t, respLen("MULTI")+respLen("SET", "b", "2")+respLen("PING")+respLen("select", "3")+
		respLen("SET", "c", "3")+respLen("EXEC"), tx.Offset-tx.Start)
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: offExec, DB: 3}, tx.Pos)
	require.Len(t, tx.Commands, 2)
	require.Equal(t, Command{DB: 2, Args: tx.Commands[0].Args, Offset: offB}, tx.Commands[0])
	require.Equal(t, []string{"SET", "b", "2"}, strs(tx.Commands[0].Args))
	require.Equal(t, Command{DB: 3, Args: tx.Commands[1].Args, Offset: offC}, tx.Commands[1])
	require.Equal(t, []string{"SET", "c", "3"}, strs(tx.Commands[1].Args))
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: offExec, DB: 3}, r.Position())
	c = nextCommand(t, r)
	require.Equal(t, 3, c.DB)
	require.Equal(t, offD, c.Offset)
	require.Equal(t, int64(4), r.Stats().Commands)

	// Events stay intact after the next call (only their slices are reused).
	require.Equal(t, offExec, tx.Offset)
	require.Equal(t, offB, tx.Commands[0].Offset)
}

func TestProtocolViolations(t *testing.T) {
	for name, cmds := range map[string][][]string{
		"exec without multi": {{"EXEC"}},
		"nested multi":       {{"MULTI"}, {"MULTI"}},
		"bad select":         {{"SELECT", "x"}},
		"select arity":       {{"SELECT"}},
	} {
		t.Run(name, func(t *testing.T) {
			m := fakemaster.Start(t, fakemaster.Options{})
			r := dial(t, m, nil)
			_, _, _ = readSnapshot(t, r)
			for _, c := range cmds {
				m.Propagate(c...)
			}
			_, err := r.Next(testCtx(t))
			require.ErrorIs(t, err, ErrProtocol)
		})
	}
}

func TestCloseUnblocksNext(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, nil)
	_, _, _ = readSnapshot(t, r)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Next(context.Background())
		errc <- err
	}()
	// Make it likely that Next is blocked in a read; correctness does
	// not depend on it.
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, r.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.NoError(t, r.Close())
	_, err := r.Next(testCtx(t))
	require.ErrorIs(t, err, ErrClosed)
}

func TestCloseDuringReconnect(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Hour, time.Hour })
	_, _, _ = readSnapshot(t, r)
	m.CutAll()
	require.IsType(t, &Disconnected{}, next(t, r))
	errc := make(chan error, 1)
	go func() {
		_, err := r.Next(context.Background())
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, r.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
}

func TestContextCancelKeepsStream(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, nil)
	_, _, _ = readSnapshot(t, r)
	m.Propagate("SELECT", "0")
	cmd := fakemaster.AppendCommand(nil, "SET", "key", "value")
	// Half a command, then a Next that times out waiting for the rest.
	m.PropagateRaw(cmd[:11])
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := r.Next(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	off := m.PropagateRaw(cmd[11:])
	c := nextCommand(t, r)
	require.Equal(t, []string{"SET", "key", "value"}, strs(c.Args))
	require.Equal(t, off, c.Offset)
	require.Equal(t, int64(1), r.Stats().Connects, "no reconnect")

	// An already cancelled context.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = r.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

// TestResumeAfterCuts numbers commands (plain and in transactions), cuts
// the connection at many offsets, mid-command included, and checks that
// every command arrives exactly once with the right offset and db.
func TestResumeAfterCuts(t *testing.T) {
	var mu sync.Mutex
	var cuts []int64
	m := fakemaster.Start(t, fakemaster.Options{CutAt: func(conn int) int64 {
		mu.Lock()
		defer mu.Unlock()
		if conn-1 < len(cuts) {
			return cuts[conn-1]
		}
		return 0
	}})
	r := dial(t, m, func(c *Config) { c.AckInterval = 10 * time.Millisecond })
	_, _, _ = readSnapshot(t, r)
	conn, err := m.Accept(testCtx(t))
	require.NoError(t, err)

	// The script, with the offsets it will have.
	type want struct {
		n   int
		db  int
		off int64
	}
	var script [][]string
	var wants []want
	var cutAt []int64
	off := m.Offset()
	add := func(args ...string) int64 {
		script = append(script, args)
		off += int64(len(fakemaster.AppendCommand(nil, args...)))
		return off
	}
	const total = 400
	db := 0
	for i := 0; i < total; {
		if i%37 == 0 {
			db = (db + 1) % 4
			add("SELECT", strconv.Itoa(db))
		}
		if i%11 == 0 {
			add("MULTI")
			for j := 0; j < 3 && i < total; j++ {
				before := off
				wants = append(wants, want{i, db, add("SET", "n", strconv.Itoa(i))})
				if i%13 == 1 {
					cutAt = append(cutAt, before+1+int64(i%20)) // inside a transaction
				}
				i++
			}
			add("EXEC")
			continue
		}
		if i%7 == 0 {
			add("PING")
		}
		before := off
		wants = append(wants, want{i, db, add("SET", "n", strconv.Itoa(i))})
		if i%13 == 5 {
			cutAt = append(cutAt, before+1+int64(i%20)) // mid-command
		}
		if i%17 == 3 {
			cutAt = append(cutAt, off) // at a command boundary
		}
		i++
	}
	mu.Lock()
	cuts = cutAt
	mu.Unlock()
	conn.CutAt(cutAt[0])
	for _, args := range script {
		m.Propagate(args...)
	}

	var got []want
	syncs, disconnects := 0, 0
	for len(got) < total {
		ev := next(t, r)
		switch e := ev.(type) {
		case *Command:
			n, err := strconv.Atoi(string(e.Args[2]))
			require.NoError(t, err)
			got = append(got, want{n, e.DB, e.Offset})
		case *Transaction:
			for _, c := range e.Commands {
				n, err := strconv.Atoi(string(c.Args[2]))
				require.NoError(t, err)
				got = append(got, want{n, c.DB, c.Offset})
			}
		case *Disconnected:
			disconnects++
		case *Sync:
			syncs++
			require.Equal(t, SyncContinue, e.Mode)
			require.Equal(t, r.Position().Offset, e.Offset)
			conn, err := m.Accept(testCtx(t))
			require.NoError(t, err)
			require.Equal(t, []string{"PSYNC", m.ReplID(), strconv.FormatInt(e.Offset+1, 10)}, conn.PSYNC())
		default:
			t.Fatalf("unexpected %s", describe(ev))
		}
	}
	require.Equal(t, wants, got)
	require.Equal(t, len(cutAt), syncs)
	require.Equal(t, syncs, disconnects)
	require.Equal(t, int64(syncs), r.Stats().PartialSyncs)
}

func TestRedirect(t *testing.T) {
	m1 := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m1, nil)
	_, _, _ = readSnapshot(t, r)
	m1.Propagate("SELECT", "1")
	off := m1.Propagate("SET", "a", "1")
	require.Equal(t, off, nextCommand(t, r).Offset)

	// m2 is a replica of m1 promoted at off: it knows m1's id as replid2.
	m2 := fakemaster.Start(t, fakemaster.Options{ReplID: m1.ReplID(), Offset: off})
	m2.SetReplID(strings.Repeat("cd", 20))
	off2 := m2.Propagate("SET", "b", "2")
	r.Redirect(m2.Addr())
	d := next(t, r).(*Disconnected)
	require.Contains(t, d.Err.Error(), "redirected to "+m2.Addr())
	s := next(t, r).(*Sync)
	require.Equal(t, &Sync{Mode: SyncContinue, ReplID: m2.ReplID(), Offset: off, Addr: m2.Addr(),
		Pos: Position{ReplID: m2.ReplID(), Offset: off, DB: 1}}, s)
	c := nextCommand(t, r)
	require.Equal(t, off2, c.Offset)
	require.Equal(t, 1, c.DB)
	require.Equal(t, Position{ReplID: m2.ReplID(), Offset: off2, DB: 1}, r.Position())
}

func TestMaxRetries(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.MaxRetries = 3 })
	_, _, _ = readSnapshot(t, r)
	m.Close()
	require.IsType(t, &Disconnected{}, next(t, r))
	_, err := r.Next(testCtx(t))
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "dial", e.Op)
	_, err2 := r.Next(testCtx(t))
	require.Equal(t, err, err2)

	m2 := fakemaster.Start(t, fakemaster.Options{})
	r2 := dial(t, m2, func(c *Config) { c.MaxRetries = -1 })
	_, _, _ = readSnapshot(t, r2)
	m2.CutAll()
	d := next(t, r2).(*Disconnected)
	_, err = r2.Next(testCtx(t))
	require.Equal(t, d.Err, err)
	require.Equal(t, 1, m2.Connections())
}

func TestAll(t *testing.T) {
	m := fakemaster.Start(t, fakemaster.Options{RDB: testRDB()})
	r := dial(t, m, func(c *Config) { c.Snapshot = SnapshotOnly })
	var kinds []string
	for ev, err := range r.All(testCtx(t)) {
		require.NoError(t, err)
		kinds = append(kinds, fmt.Sprintf("%T", ev))
	}
	require.Equal(t, "*replica.Sync", kinds[0])
	require.Equal(t, "*replica.SnapshotDone", kinds[len(kinds)-1])
}

func TestDialErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no addr":      {},
		"bad addr":     {Addr: "nope"},
		"bad start":    {Addr: "127.0.0.1:1", Start: Position{ReplID: "xyz"}},
		"bad snapshot": {Addr: "127.0.0.1:1", Snapshot: 7},
		"negative":     {Addr: "127.0.0.1:1", ReadTimeout: -1},
		"bad retries":  {Addr: "127.0.0.1:1", MaxRetries: -2},
		"bad rdb opt":  {Addr: "127.0.0.1:1", RDBOptions: []rdb.Option{rdb.WithChunkSize(0)}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Dial(testCtx(t), cfg)
			require.Error(t, err)
		})
	}
	// Nothing listening.
	_, err := Dial(testCtx(t), Config{Addr: "127.0.0.1:1"})
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "dial", e.Op)
	// A Dialer that fails.
	boom := errors.New("boom")
	_, err = Dial(testCtx(t), Config{Addr: "127.0.0.1:1", Dialer: func(context.Context, string, string) (net.Conn, error) { return nil, boom }})
	require.ErrorIs(t, err, boom)
	// A context that ends during the handshake (the master never answers).
	m := fakemaster.Start(t, fakemaster.Options{Reply: func(_ int, args []string) (string, bool) {
		return "", args[0] == "PSYNC"
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, Config{Addr: m.Addr()})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
