package keyspace_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/keyspace"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// A full resynchronisation of the tap (the master's history changed)
// reaches REDTAP.SUBSCRIBE clients as redtap.reset, live and on resume.
func TestFullResync(t *testing.T) {
	idA, idB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	var fm *fakemaster.Master
	fm = fakemaster.Start(t, fakemaster.Options{ReplID: idA, Reply: func(conn int, args []string) (string, bool) {
		if conn > 1 && strings.EqualFold(args[0], "psync") {
			return fmt.Sprintf("+FULLRESYNC %s %d", idB, fm.Offset()), true
		}
		return "", false
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := replica.Dial(ctx, replica.Config{Addr: fm.Addr(), MinBackoff: time.Millisecond})
	require.NoError(t, err)
	defer r.Close()
	m, err := monitor.New(r)
	require.NoError(t, err)
	defer m.Close()
	sub, err := m.Subscribe(monitor.Filter{})
	require.NoError(t, err)
	f, err := keyspace.New(ctx, sub, keyspace.Config{})
	require.NoError(t, err)
	defer f.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go f.Serve(ctx, l)
	redistest.WaitFor(t, 10*time.Second, "the first sync", func() bool { id, _ := f.Position(); return id != "" })

	c := dialRESP(t, l.Addr().String())
	c.send(t, "REDTAP.SUBSCRIBE", "__keyevent@*__:*")
	c.read(t)
	fm.Propagate("SET", "a", "1")
	before := c.read(t).([]any)
	require.Equal(t, []any{"redtap.message", "__keyevent@*__:*", "__keyevent@0__:set", "a", idA}, before[:5])

	fm.SetReplID(idB)
	fm.CutAll()
	redistest.WaitFor(t, 10*time.Second, "the full resync", func() bool { id, _ := f.Position(); return id == idB })
	fm.Propagate("SET", "b", "1")
	want := func(c *respConn) {
		reset := c.read(t).([]any)
		require.Equal(t, []any{"redtap.reset", idB}, reset[:2])
		after := c.read(t).([]any)
		require.Equal(t, []any{"redtap.message", "__keyevent@*__:*", "__keyevent@0__:set", "b", idB}, after[:5])
	}
	want(c)
	require.Equal(t, int64(2), f.Stats().Resyncs)

	// Resuming from before the resync: the reset, then the new history.
	c2 := dialRESP(t, l.Addr().String())
	c2.send(t, "REDTAP.SUBSCRIBE", "__keyevent@*__:*", "FROM", idA, before[5].(string))
	require.Equal(t, []any{"redtap.subscribe", "__keyevent@*__:*", "1", idA, before[5]}, c2.read(t))
	want(c2)
}
