package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// TestTapWriterKeep pins which commands --match and --type keep: those
// with one matching key of a matching type (or of any type, as DEL), the
// db-wide ones, none without keys.
func TestTapWriterKeep(t *testing.T) {
	for _, tc := range []struct {
		cfg  writerConfig
		cmd  string
		keep bool
	}{
		{writerConfig{Match: []string{"cpu:*"}}, "SET cpu:1 v", true},
		{writerConfig{Match: []string{"cpu:*"}}, "SET mem:1 v", false},
		{writerConfig{Match: []string{"cpu:*"}}, "MSET mem:1 a cpu:2 b", true},
		{writerConfig{Match: []string{"cpu:*"}}, "RENAME mem:1 cpu:1", true},
		{writerConfig{Match: []string{"cpu:*"}}, "DEL mem:1 mem:2", false},
		{writerConfig{Match: []string{"cpu:*"}}, "FLUSHALL", true},
		{writerConfig{Match: []string{"cpu:*"}}, "PUBLISH cpu:1 hi", false},
		{writerConfig{Match: []string{"cpu:*"}}, "NOSUCHCMD cpu:1", true},
		{writerConfig{Match: []string{"mem:*", "cpu:?"}}, "SET cpu:1 v", true},
		{writerConfig{Match: []string{"mem:*", "cpu:?"}}, "SET cpu:10 v", false},
		{writerConfig{Types: []rdb.Type{rdb.TypeZSet}}, "ZADD cpu:1 1 m", true},
		{writerConfig{Types: []rdb.Type{rdb.TypeZSet}}, "HSET cpu:1 f v", false},
		{writerConfig{Types: []rdb.Type{rdb.TypeZSet}}, "DEL cpu:1", true},
		{writerConfig{Types: []rdb.Type{rdb.TypeZSet}}, "PEXPIREAT cpu:1 1", true},
		{writerConfig{Types: []rdb.Type{rdb.TypeZSet}, Match: []string{"cpu:*"}}, "ZADD mem:1 1 m", false},
		{writerConfig{Types: []rdb.Type{rdb.TypeZSet, rdb.TypeHash}, Match: []string{"cpu:*"}}, "HSET cpu:1 f v", true},
		{writerConfig{DBs: []int{1}, Match: []string{"cpu:*"}}, "SET cpu:1 v", false}, // the command runs in db 0
	} {
		w, err := newTapWriter(formatJSONL, &bytes.Buffer{}, tc.cfg)
		require.NoError(t, err)
		var args [][]byte
		for _, a := range strings.Fields(tc.cmd) {
			args = append(args, []byte(a))
		}
		require.Equal(t, tc.keep, w.keep(&replica.Command{Args: args}), "%+v %s", tc.cfg, tc.cmd)
	}
}

// TestTapMatch runs `tap --match 'cpu:*'` against a real server over a
// workload on cpu:* and other keys: the output holds exactly the snapshot's
// cpu keys and the commands with a cpu key (whole), and of a transaction
// only those.
func TestTapMatch(t *testing.T) {
	ctx := tapTestCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := m.Client()
	for i := range 5 {
		require.NoError(t, c.Set(ctx, fmt.Sprintf("cpu:%d", i), i, 0).Err())
		require.NoError(t, c.Set(ctx, fmt.Sprintf("mem:%d", i), i, 0).Err())
	}
	require.NoError(t, c.ZAdd(ctx, "cpu:z", redis.Z{Score: 1, Member: "a"}).Err())
	require.NoError(t, c.HSet(ctx, "host:1", "cpu", "1").Err())

	out, stderr, stop := inProcessTap(t, "--addr", m.Addr, "--match", "cpu:*", "--match", "load:?")
	waitLines(t, ctx, out, "snapshot", func(l []tapLine) bool { return len(l) > 0 })

	var want []string // the commands a cpu:* or load:? key, as the master propagates them
	do := func(keep bool, args ...string) {
		a := make([]any, len(args))
		for i, s := range args {
			a[i] = s
		}
		require.NoError(t, c.Do(ctx, a...).Err())
		if keep {
			want = append(want, strings.Join(args, " "))
		}
	}
	do(true, "set", "cpu:9", "x")
	do(false, "set", "mem:9", "x")
	do(true, "mset", "mem:8", "a", "cpu:8", "b")
	do(false, "hset", "host:1", "cpu", "2")
	do(true, "zadd", "cpu:z", "2", "b")
	do(true, "del", "cpu:0", "mem:0")
	do(false, "del", "mem:1")
	do(true, "rename", "mem:2", "cpu:2")
	do(true, "set", "load:1", "y")
	do(false, "set", "load:10", "y")
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "mem:3", "t", 0)
		p.Set(ctx, "cpu:3", "t", 0)
		p.Set(ctx, "mem:4", "t", 0)
		return nil
	})
	require.NoError(t, err)
	want = append(want, "MULTI", "set cpu:3 t", "EXEC")
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error { // nothing kept: no MULTI/EXEC either
		p.Set(ctx, "mem:5", "t", 0)
		return nil
	})
	require.NoError(t, err)
	do(true, "set", "cpu:end", "1")
	lines := waitLines(t, ctx, out, "cpu:end", func(l []tapLine) bool {
		return len(l) > 0 && l[len(l)-1].Kind == "cmd" && string(l[len(l)-1].args(t)[1]) == "cpu:end"
	})
	require.Equal(t, exitOK, stop(), "stderr: %s", stderr.String())

	var keys, cmds []string
	for _, l := range lines {
		switch l.Kind {
		case "key":
			keys = append(keys, string(bytesOf(t, l.Key)))
		case "cmd":
			var s []string
			for _, a := range l.args(t) {
				s = append(s, string(a))
			}
			cmds = append(cmds, strings.Join(s, " "))
		}
	}
	require.ElementsMatch(t, []string{"cpu:0", "cpu:1", "cpu:2", "cpu:3", "cpu:4", "cpu:z"}, keys)
	require.Equal(t, want, cmds)
}

// TestTapWriterNoAllocs: once its buffers have grown, the JSON-lines tap
// writer allocates nothing per command, "keys" and --match included.
func TestTapWriterNoAllocs(t *testing.T) {
	w, err := newTapWriter(formatJSONL, io.Discard, writerConfig{Match: []string{"cpu:*", "mem:?"}, Types: []rdb.Type{rdb.TypeZSet, rdb.TypeString}})
	require.NoError(t, err)
	cmds := []*replica.Command{
		{Args: [][]byte{[]byte("ZADD"), []byte("cpu:1"), []byte("1"), []byte("m")}, Offset: 1},
		{Args: [][]byte{[]byte("MSET"), []byte("a"), []byte("1"), []byte("mem:1"), []byte("2")}, Offset: 2},
		{Args: [][]byte{[]byte("SET"), []byte("other"), []byte("1")}, Offset: 3},
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, c := range cmds {
			if err := w.Write(c); err != nil {
				t.Fatal(err)
			}
		}
	})
	require.Zero(t, allocs)
}
