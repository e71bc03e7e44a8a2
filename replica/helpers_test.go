package replica

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/rdb"
)

// testTimeout is a safety net only: no test depends on how long anything
// takes.
const testTimeout = 30 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("REDTAP_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// dial connects a replica to m with a test configuration, changed by mut.
func dial(t *testing.T, m *fakemaster.Master, mut func(*Config)) *Replica {
	t.Helper()
	cfg := Config{Addr: m.Addr(), Logger: testLogger(t), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	if mut != nil {
		mut(&cfg)
	}
	r, err := Dial(testCtx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func next(t *testing.T, r *Replica) Event {
	t.Helper()
	ev, err := r.Next(testCtx(t))
	require.NoError(t, err)
	return ev
}

// nextCommand returns the next event, which must be a Command.
func nextCommand(t *testing.T, r *Replica) *Command {
	t.Helper()
	ev := next(t, r)
	c, ok := ev.(*Command)
	require.Truef(t, ok, "want *Command, got %s", describe(ev))
	return c
}

// readSnapshot reads a Sync and the snapshot up to SnapshotDone; it returns
// the Sync, the keys seen and the SnapshotDone.
func readSnapshot(t *testing.T, r *Replica) (*Sync, []string, *SnapshotDone) {
	t.Helper()
	ev := next(t, r)
	s, ok := ev.(*Sync)
	require.Truef(t, ok, "want *Sync, got %s", describe(ev))
	require.Equal(t, SyncFull, s.Mode)
	var keys []string
	for {
		ev := next(t, r)
		switch e := ev.(type) {
		case *SnapshotRecord:
			if en, ok := e.Record.(*rdb.Entry); ok && en.Chunk == 0 {
				keys = append(keys, fmt.Sprintf("%d:%s", en.DB, en.Key))
			}
		case *SnapshotDone:
			return s, keys, e
		default:
			t.Fatalf("unexpected event in snapshot: %s", describe(ev))
		}
	}
}

func describe(ev Event) string {
	switch e := ev.(type) {
	case *Command:
		return fmt.Sprintf("Command{db %d %q @%d}", e.DB, e.Args, e.Offset)
	case *Transaction:
		s := fmt.Sprintf("Transaction{db %d @%d", e.DB, e.Offset)
		for _, c := range e.Commands {
			s += fmt.Sprintf(" [db %d %q @%d]", c.DB, c.Args, c.Offset)
		}
		return s + "}"
	case *SnapshotRecord:
		return fmt.Sprintf("SnapshotRecord{%T}", e.Record)
	case nil:
		return "nil"
	}
	return fmt.Sprintf("%T%+v", ev, ev)
}

// respLen returns the length of a command on the wire, as it counts in the
// replication offset.
func respLen(args ...string) int64 {
	n := len(fmt.Sprintf("*%d\r\n", len(args)))
	for _, a := range args {
		n += len(fmt.Sprintf("$%d\r\n%s\r\n", len(a), a))
	}
	return int64(n)
}

func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

func testRDB() []byte {
	return fakemaster.NewRDB(10).Aux("redis-ver", "7.0.15").
		Select(0).Set("a", "1").Set("b", "2").Select(5).List("l", "x", "y").Bytes()
}
