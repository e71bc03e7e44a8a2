package keyspace

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/monitor"
)

// run feeds commands ("RPUSH l a") to a tracker and returns the
// notifications as "event key" strings.
func runTracker(tr *tracker, cmds ...string) []string {
	var out []string
	for _, c := range cmds {
		var args [][]byte
		for _, a := range strings.Fields(c) {
			args = append(args, []byte(a))
		}
		evs := monitor.AppendEvents(nil, 0, args)
		for _, n := range tr.appendBatch(nil, evs) {
			out = append(out, n.Event+" "+string(n.Key))
		}
	}
	return out
}

func TestTracker(t *testing.T) {
	for _, tc := range []struct {
		cmds []string
		want []string
	}{
		{[]string{"DEL missing", "SET k v", "DEL k missing"}, []string{"set k", "del k"}},
		{[]string{"RPUSH l a", "LPOP l"}, []string{"rpush l", "lpop l", "del l"}},
		{[]string{"RPUSH l a b c", "RPOP l 2", "LPOP l 5"}, []string{"rpush l", "rpop l", "lpop l", "del l"}},
		{[]string{"RPUSH l a b c", "LTRIM l 1 -1", "LTRIM l 5 10"}, []string{"rpush l", "ltrim l", "ltrim l", "del l"}},
		{[]string{"RPUSH s a", "LMOVE s d LEFT RIGHT"}, []string{"rpush s", "rpush d", "lpop s", "del s"}},
		{[]string{"HSET h f v g w", "HDEL h f x", "HDEL h g"}, []string{"hset h", "hdel h", "hdel h", "del h"}},
		{[]string{"SADD a x", "SADD b x", "SMOVE a b x"}, []string{"sadd a", "sadd b", "srem a", "del a"}},
		{[]string{"SADD a x y", "SMOVE a b x"}, []string{"sadd a", "srem a", "sadd b"}},
		{[]string{"ZADD z 1 a 2 b 3 c", "ZPOPMIN z 2", "ZREM z c"}, []string{"zadd z", "zpopmin z", "zrem z", "del z"}},
		{[]string{"ZADD z 1 a 2 b 3 c", "ZPOPMAX z", "ZREM z c", "ZREM z a"}, []string{"zadd z", "zpopmax z", "zrem z", "zrem z"}},
		{[]string{"ZADD z 1 a 2 b", "ZREMRANGEBYSCORE z (1 +inf", "ZREMRANGEBYRANK z 0 0"}, []string{"zadd z", "zremrangebyscore z", "zremrangebyrank z", "del z"}},
		{[]string{"ZADD z 1 a", "ZINCRBY z 1 b", "ZREM z a b"}, []string{"zadd z", "zincr z", "zrem z", "del z"}},
		// Not followed: the key's emptiness is not told.
		{[]string{"RPUSH q a", "LREM q 0 a"}, []string{"rpush q", "lrem q"}},
		{[]string{"SADD a x", "SUNIONSTORE d a", "SREM d x", "DEL d"}, []string{"sadd a", "sunionstore d", "srem d", "del d"}},
		// Keys that commands create.
		{[]string{"XGROUP CREATE s g $ MKSTREAM", "DEL s"}, []string{"xgroup-create s", "del s"}},
		{[]string{"HSET h f v", "RENAME h h2", "HDEL h2 f"}, []string{"hset h", "rename_from h", "rename_to h2", "hdel h2", "del h2"}},
		{[]string{"HSET h f v", "COPY h h2", "HDEL h2 f", "HDEL h f"}, []string{"hset h", "copy_to h2", "hdel h2", "del h2", "hdel h", "del h"}},
		{[]string{"SET k v", "FLUSHALL", "DEL k"}, []string{"set k"}},
	} {
		tr := newTracker()
		tr.reset(true)
		tr.snapshotDone()
		require.Equal(t, tc.want, runTracker(tr, tc.cmds...), "%q", tc.cmds)
	}
	// Before a snapshot: what the arguments tell.
	tr := newTracker()
	require.Equal(t, []string{"del missing", "rpush l", "lpop l"}, runTracker(tr, "DEL missing", "RPUSH l a", "LPOP l"))
	// A command whose keys cannot be told stops the inference.
	tr.reset(true)
	tr.snapshotDone()
	require.Equal(t, []string{"del missing"}, runTracker(tr, "NOSUCHCOMMAND x", "DEL missing"))
}
