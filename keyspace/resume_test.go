package keyspace_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/keyspace"
)

// redtapMsg is a redtap.message: (channel, message) and the position.
type redtapMsg struct {
	msg
	replID, id string
}

// readRedtap reads redtap.message pushes until n have come, or until the
// sentinel when n is 0.
func readRedtap(t *testing.T, c *respConn, n int) []redtapMsg {
	t.Helper()
	var got []redtapMsg
	for n == 0 || len(got) < n {
		v, ok := c.read(t).([]any)
		require.True(t, ok)
		require.Equal(t, "redtap.message", v[0], "%v", v)
		require.Len(t, v, 6)
		m := redtapMsg{msg{v[2].(string), v[3].(string)}, v[4].(string), v[5].(string)}
		got = append(got, m)
		if n == 0 && m.Channel == "__keyevent@0__:set" && m.Payload == "sentinel" {
			break
		}
	}
	return got
}

func msgs(rs []redtapMsg) []msg {
	out := make([]msg, len(rs))
	for i, r := range rs {
		out[i] = r.msg
	}
	return out
}

// TestResume disconnects a REDTAP.SUBSCRIBE client in the middle of a
// workload and resubscribes it FROM its last position after more writes:
// what it got before and after is exactly what the master published.
func TestResume(t *testing.T) {
	tp := startTap(t, nil, keyspace.Config{History: 1 << 14})
	ctx := context.Background()
	const pattern = "__keyevent@*__:*"

	c := dialRESP(t, tp.addr)
	c.send(t, "REDTAP.SUBSCRIBE", pattern)
	conf := c.read(t).([]any)
	require.Equal(t, []any{"redtap.subscribe", pattern, "1"}, conf[:3])
	require.Len(t, conf[3], 40, "the replication id")

	master := tp.rc.PSubscribe(ctx, pattern)
	defer master.Close()
	_, err := master.Receive(ctx)
	require.NoError(t, err)

	m := newModel()
	workload(t, ctx, tp.rc, 2, 300, m, false)
	want := collect(t, master)
	before := readRedtap(t, c, len(want)/3)
	c.c.Close()
	// While it is away: the rest of the first workload is not read, and a
	// second one runs.
	workload(t, ctx, tp.rc, 3, 300, m, false)
	want = append(want, collect(t, master)...)

	last := before[len(before)-1]
	c = dialRESP(t, tp.addr)
	c.send(t, "REDTAP.SUBSCRIBE", pattern, "FROM", last.replID, last.id)
	conf = c.read(t).([]any)
	require.Equal(t, []any{"redtap.subscribe", pattern, "1", last.replID, last.id}, conf)
	after := readRedtap(t, c, 0)
	for !(len(before)+len(after) >= len(want)) { // the first sentinel comes first
		after = append(after, readRedtap(t, c, 0)...)
	}
	require.Equal(t, want, append(msgs(before), msgs(after)...))

	// Positions grow, one per message.
	all := append(before, after...)
	for i := 1; i < len(all); i++ {
		require.NotEqual(t, all[i-1].id, all[i].id)
	}

	// A position of another history is not retained.
	c = dialRESP(t, tp.addr)
	c.send(t, "REDTAP.SUBSCRIBE", pattern, "FROM", strings.Repeat("0", 40), "1")
	e, _ := c.read(t).(string)
	require.True(t, strings.HasPrefix(e, "-NOTRETAINED "), e)
	c.send(t, "REDTAP.SUBSCRIBE", pattern, "FROM", "x", "1")
	e, _ = c.read(t).(string)
	require.True(t, strings.HasPrefix(e, "-ERR syntax error"), "%q", e)
}

// TestResumeMidNotification resumes between the keyspace and the keyevent
// message of one notification, and in the middle of an MSET's.
func TestResumeMidNotification(t *testing.T) {
	tp := startTap(t, nil, keyspace.Config{})
	ctx := context.Background()
	c := dialRESP(t, tp.addr)
	c.send(t, "REDTAP.SUBSCRIBE", "__key*@0__:*")
	c.read(t)
	require.NoError(t, tp.rc.MSet(ctx, "a", "1", "b", "2").Err())
	require.NoError(t, tp.rc.Set(ctx, "sentinel", "1", 0).Err())
	var all []redtapMsg
	for len(all) < 6 {
		v := c.read(t).([]any)
		all = append(all, redtapMsg{msg{v[2].(string), v[3].(string)}, v[4].(string), v[5].(string)})
	}
	require.Equal(t, []msg{
		{"__keyspace@0__:a", "set"}, {"__keyevent@0__:set", "a"},
		{"__keyspace@0__:b", "set"}, {"__keyevent@0__:set", "b"},
		{"__keyspace@0__:sentinel", "set"}, {"__keyevent@0__:set", "sentinel"},
	}, msgs(all))
	require.True(t, strings.HasSuffix(all[0].id, "-0") && strings.HasSuffix(all[3].id, "-3"), "%v", all)
	for i := range 5 {
		c := dialRESP(t, tp.addr)
		c.send(t, "REDTAP.SUBSCRIBE", "__key*@0__:*", "FROM", all[i].replID, all[i].id)
		c.read(t)
		for _, want := range all[i+1:] {
			v := c.read(t).([]any)
			require.Equal(t, want, redtapMsg{msg{v[2].(string), v[3].(string)}, v[4].(string), v[5].(string)}, "from %d", i)
		}
	}
}

// TestNotRetained resumes from a position the bounded history has dropped.
func TestNotRetained(t *testing.T) {
	tp := startTap(t, nil, keyspace.Config{History: 32, QueueLen: 32})
	ctx := context.Background()
	n0 := tp.face.Stats().Notifications
	const pattern = "__keyevent@*__:*"
	c := dialRESP(t, tp.addr)
	c.send(t, "REDTAP.SUBSCRIBE", pattern)
	conf := c.read(t).([]any)
	replID, id := conf[3].(string), conf[4].(string)
	for range 3 {
		require.NoError(t, tp.rc.Set(ctx, "k", "v", 0).Err())
	}
	first := readRedtap(t, c, 3)
	c.c.Close()
	for range 100 {
		require.NoError(t, tp.rc.Set(ctx, "k", "v", 0).Err())
	}
	require.NoError(t, tp.rc.Set(ctx, "sentinel", "v", 0).Err())
	// "From now" below must come after all of these writes.
	redistest.WaitFor(t, 10*time.Second, "the face has every write", func() bool {
		return tp.face.Stats().Notifications >= n0+104
	})
	c = dialRESP(t, tp.addr)
	// The subscription's start and the first messages are gone.
	for _, from := range []string{id, first[0].id} {
		c.send(t, "REDTAP.SUBSCRIBE", pattern, "FROM", replID, from)
		e, _ := c.read(t).(string)
		require.True(t, strings.HasPrefix(e, "-NOTRETAINED position "+replID+" "+from+" is not retained"), e)
	}
	// Without FROM the connection subscribes from now.
	c.send(t, "REDTAP.SUBSCRIBE", pattern)
	c.read(t)
	require.NoError(t, tp.rc.Set(ctx, "sentinel", "v", 0).Err())
	got := readRedtap(t, c, 0)
	require.Equal(t, []msg{{"__keyevent@0__:set", "sentinel"}}, msgs(got))
}
