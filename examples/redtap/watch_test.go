package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
	"github.com/redtap/redtap/monitor"
)

// TestWatchLines pins the line of each kind of change, from the events
// monitor.AppendEvents builds for commands as a master propagates them.
func TestWatchLines(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 41, 7, 123e6, time.Local)
	long := strings.Repeat("v", 100)
	for _, tc := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"ZADD", "cpu:h1", "1733130000123", "m"}, "db0 cpu:h1 zadd 1 member(s) score 1733130000123"},
		{[]string{"ZADD", "cpu:h1", "1", "a", "2", "b"}, "db0 cpu:h1 zadd 2 member(s) score 1 …"},
		{[]string{"HSET", "h", "f1", "v1", "f2", "v2"}, "db0 h hset 2 field(s)"},
		{[]string{"DEL", "a", "b"}, "db0 a del\n09:41:07.123 db0 b del"},
		{[]string{"PEXPIREAT", "k", "1796202000000"}, "db0 k expireat at 2026-12-02T09:00:00Z"},
		{[]string{"PEXPIREAT", "k", "1796202000001"}, "db0 k expireat at 2026-12-02T09:00:00.001Z"},
		{[]string{"RENAME", "old", "new"}, "db0 old rename-from -> new\n09:41:07.123 db0 new rename-to <- old"},
		{[]string{"SET", "k", "v", "PXAT", "1796202000000"}, `db0 k set "v" expire at 2026-12-02T09:00:00Z`},
		{[]string{"SET", "k\x00\xff\\é", long}, `db0 k\x00\xff\\é set "` + long[:watchValueMax] + `…"`},
		{[]string{"INCRBY", "n", "-5"}, "db0 n incrby -5"},
		{[]string{"LPUSH", "l", "a", "b"}, "db0 l lpush 2 element(s)"},
		{[]string{"LMOVE", "src", "dst", "LEFT", "RIGHT"}, "db0 src lpop 1 to dst\n09:41:07.123 db0 dst rpush from src"},
		{[]string{"XADD", "s", "1-1", "f", "v"}, "db0 s xadd 1-1 1 field(s)"},
		{[]string{"MOVE", "k", "3"}, "db0 k move-from -> db3\n09:41:07.123 db3 k move-to <- db0"},
		{[]string{"FLUSHALL"}, "db* * flushall"},
		{[]string{"SWAPDB", "0", "1"}, "db0 * swapdb <-> db1"},
		{[]string{"PFADD", "hll", "a"}, "db0 hll other PFADD 2 arg(s)"},
		{[]string{"NOSUCH", "k"}, "db0 * other NOSUCH: keys unknown: "},
	} {
		var args [][]byte
		for _, a := range tc.cmd {
			args = append(args, []byte(a))
		}
		var out bytes.Buffer
		p := &watchPrinter{w: &out, now: func() time.Time { return now }}
		require.NoError(t, p.batch(&monitor.Batch{Events: monitor.AppendEvents(nil, 0, args)}))
		if strings.HasSuffix(tc.want, ": ") {
			require.True(t, strings.HasPrefix(out.String(), "09:41:07.123 "+tc.want), "%q: %q", tc.cmd, out.String())
			continue
		}
		require.Equal(t, "09:41:07.123 "+tc.want+"\n", out.String(), "%q", tc.cmd)
	}
}

// TestWatch runs `redtap watch --match 'cpu:*'` in process against a real
// server: a reset line, the snapshot's count, then one line per change of
// a cpu key; Ctrl-C (the context) ends it with status 0.
func TestWatch(t *testing.T) {
	ctx := tapTestCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := m.Client()
	require.NoError(t, c.Set(ctx, "cpu:a", "1", 0).Err())
	require.NoError(t, c.Set(ctx, "cpu:b", "1", 0).Err())
	require.NoError(t, c.Set(ctx, "mem:a", "1", 0).Err())

	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(runCtx, []string{"watch", "--addr", m.Addr, "--match", "cpu:*"}, nil, stdout, stderr)
	}()
	waitOut := func(what string) {
		t.Helper()
		redistest.WaitFor(t, time.Minute, what, func() bool { return strings.Contains(stdout.String(), what) })
	}
	waitOut("snapshot: 2 keys, done")

	require.NoError(t, c.ZAdd(ctx, "cpu:z", redis.Z{Score: 1733130000123, Member: "m"}).Err())
	require.NoError(t, c.Set(ctx, "mem:b", "x", 0).Err())
	require.NoError(t, c.HSet(ctx, "cpu:h", "f1", "v1", "f2", "v2").Err())
	require.NoError(t, c.ExpireAt(ctx, "cpu:h", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)).Err())
	require.NoError(t, c.Rename(ctx, "cpu:a", "cpu:renamed").Err())
	require.NoError(t, c.Del(ctx, "cpu:b").Err())
	waitOut("cpu:b del")
	cancel()
	select {
	case got := <-code:
		require.Equal(t, exitOK, got, "stderr: %s", stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("watch did not stop")
	}

	stamp := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d\d\d `)
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		require.Regexp(t, stamp, l)
		l = stamp.ReplaceAllString(l, "")
		if strings.HasPrefix(l, "snapshot: ") && !strings.HasSuffix(l, ", done") {
			continue // progress, if the snapshot took more than a second on a loaded machine
		}
		lines = append(lines, l)
	}
	require.Equal(t, []string{
		"reset: full resync",
		"snapshot: 2 keys, done",
		"db0 cpu:z zadd 1 member(s) score 1733130000123",
		"db0 cpu:h hset 2 field(s)",
		"db0 cpu:h expireat at 2030-01-01T00:00:00Z",
		"db0 cpu:a rename-from -> cpu:renamed",
		"db0 cpu:renamed rename-to <- cpu:a",
		"db0 cpu:b del",
	}, lines)
}

func TestWatchUsage(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, exitUsage, run(context.Background(), []string{"watch"}, nil, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "--addr is required")
	var stdout bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"help", "watch"}, nil, &stdout, &stdout))
	require.Contains(t, stdout.String(), "--match")
	require.Contains(t, stdout.String(), "--cacert")
}
