package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/cluster"
	"github.com/redtap/redtap/internal/testkit/clustertest"
	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
)

// clusterLine is what tap --cluster adds to a record.
type clusterLine struct {
	Shard       string   `json:"shard"`
	Shards      []string `json:"shards"`
	ShardOffset int64    `json:"shard_offset"`
	Move        string   `json:"move"`
}

func readClusterLines(t *testing.T, path string) []clusterLine {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []clusterLine
	for _, ln := range bytes.Split(b, []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		var l clusterLine
		if json.Unmarshal(ln, &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

func loadClusterCheckpoint(t *testing.T, ctx context.Context, path string) cluster.Checkpoint {
	t.Helper()
	fc, err := cluster.NewFileCheckpointer(path)
	require.NoError(t, err)
	c, err := fc.Load(ctx)
	require.NoError(t, err)
	return c
}

// TestTapClusterKillResume: `redtap tap --cluster` over a 3-shard cluster
// is SIGKILLed in the middle of numbered writes and restarted with its
// checkpoint: every shard resumes with +CONTINUE (no snapshot), the writes
// after the checkpoint come exactly once, every record names its shard, and
// a reshard during the second run shows as "move" records.
func TestTapClusterKillResume(t *testing.T) {
	ctx := tapTestCtx(t)
	cl := clustertest.Start(t, clustertest.Options{})
	bin := buildRedtap(t)
	cc := cl.Client()
	w := &clustertest.Workload{Seed: 3}
	require.NoError(t, w.Run(ctx, cc, 500))
	dir := t.TempDir()
	cp := filepath.Join(dir, "cp.json")
	const key = "{seq}:log"
	sw := &oracle.SeqWriter{Key: key}
	// The numbered writes go to the primary of their slot (SeqWriter
	// pipelines MULTI/EXEC itself), which the reshard below leaves alone.
	owner, err := cc.MasterForKey(ctx, key)
	require.NoError(t, err)
	sc := owner
	require.NoError(t, sw.Write(ctx, sc, 100))
	addrs := strings.Join(cl.Seeds()[:2], ",")

	p1 := startTapProc(t, bin, filepath.Join(dir, "out1"), "--cluster", "--addr", addrs, "--checkpoint", cp)
	waitLines(t, ctx, p1.out, "snapshot", func(l []tapLine) bool { return len(l) > 0 })
	for {
		require.NoError(t, w.Run(ctx, cc, 50))
		require.NoError(t, sw.Write(ctx, sc, 100))
		if c := loadClusterCheckpoint(t, ctx, cp); len(c.Shards) == 3 && len(seqs(t, readTapLines(t, p1.out), key, c.Offset)) > 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, sw.Write(ctx, sc, 300))
	require.Error(t, p1.signal(t, syscall.SIGKILL), "killed")
	saved := loadClusterCheckpoint(t, ctx, cp)
	lines1 := readTapLines(t, p1.out)
	require.Equal(t, "full", lines1[0].Mode)
	before := seqs(t, lines1, key, saved.Offset)
	require.NoError(t, oracle.CheckSeq(before, 101, before[len(before)-1]), "first run, up to the checkpoint")

	require.NoError(t, sw.Write(ctx, sc, 200)) // while no tap runs
	p2 := startTapProc(t, bin, filepath.Join(dir, "out2"), "--cluster", "--addr", addrs, "--checkpoint", cp)
	require.NoError(t, sw.Write(ctx, sc, 200))
	var others []clustertest.NodeInfo
	for _, n := range cl.Primaries() {
		if n.Addr != owner.Options().Addr {
			others = append(others, n)
		}
	}
	require.Len(t, others, 2)
	cl.Reshard(others[0].Addr, others[0].ID, others[1].ID, 300)
	cl.WaitHealthy()
	cc = cl.Client()
	require.NoError(t, w.Run(ctx, cc, 200))
	require.NoError(t, sw.Write(ctx, sc, 200))
	last := sw.Last()
	waitLines(t, ctx, p2.out, "last write", hasSeq(t, key, last))
	require.NoError(t, p2.signal(t, syscall.SIGTERM), "stderr: %s", p2.stderr.String())
	lines2 := readTapLines(t, p2.out)

	require.Equal(t, "sync", lines2[0].Kind)
	require.Equal(t, "continue", lines2[0].Mode, "resumed with +CONTINUE")
	for _, l := range lines2 {
		require.NotEqual(t, "key", l.Kind, "no second snapshot")
	}
	require.Contains(t, p2.stderr.String(), "(0 full, 3 partial syncs)")
	after := seqs(t, lines2, key, -1)
	require.NoError(t, oracle.CheckSeq(after, before[len(before)-1]+1, last), "second run: exactly the writes after the checkpoint")

	outs, ins := 0, 0
	for _, l := range append(readClusterLines(t, p1.out), readClusterLines(t, p2.out)...) {
		require.True(t, l.Shard != "" || len(l.Shards) == 3, "a record without its shard: %+v", l)
		switch l.Move {
		case "out":
			outs++
		case "in":
			ins++
		}
	}
	t.Logf("checkpoint %d: %d writes before it; second run %d writes; moves: %d DEL records, %d RESTORE-ASKING records", saved.Offset, len(before), len(after), outs, ins)
	require.Positive(t, ins, "the reshard's RESTORE-ASKINGs are marked")
	require.Positive(t, outs, "the reshard's DELs are marked")
}

// TestWatchCluster: `redtap watch --cluster` runs the monitor on the merged
// stream of every shard: writes to keys of all three shards show up, and a
// reshard of those keys shows no delete.
func TestWatchCluster(t *testing.T) {
	ctx := tapTestCtx(t)
	cl := clustertest.Start(t, clustertest.Options{})
	cc := cl.Client()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runWatch(wctx, []string{"--cluster", "--addr", strings.Join(cl.Seeds(), ","), "--match", "user:*"}, nil, &stdout, &stderr)
	}()
	redistest.WaitFor(t, 30*time.Second, "watch started", func() bool { return strings.Contains(stdout.String(), "snapshot") })
	keys := map[string]bool{}
	for i := range 30 {
		k := "user:" + strconv.Itoa(i)
		require.NoError(t, cc.Set(ctx, k, i, 0).Err())
		n, err := cc.MasterForKey(ctx, k)
		require.NoError(t, err)
		keys[n.Options().Addr] = true
	}
	require.Len(t, keys, 3, "the keys are on every shard")
	redistest.WaitFor(t, 30*time.Second, "every key watched", func() bool {
		out := stdout.String()
		for i := range 30 {
			if !strings.Contains(out, " user:"+strconv.Itoa(i)+" set ") {
				return false
			}
		}
		return true
	})
	p := cl.Primaries()
	cl.Reshard(p[0].Addr, p[0].ID, p[1].ID, 5461)
	require.NoError(t, cc.Set(ctx, "user:after", 1, 0).Err())
	redistest.WaitFor(t, 30*time.Second, "write after the reshard", func() bool { return strings.Contains(stdout.String(), " user:after set ") })
	cancel()
	require.Equal(t, exitOK, <-done, "stderr: %s", stderr.String())
	require.NotContains(t, stdout.String(), " del", "a moved key showed as deleted:\n%s", stdout.String())
}

// TestServeCluster: `redtap serve --cluster` builds its windows from the
// snapshots of every shard, then follows writes on any of them.
func TestServeCluster(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{ReplicasPer: -1})
	cc := cl.Client()
	ctx := context.Background()
	shards := map[string]bool{}
	for i := range 12 {
		k := "cpu:" + strconv.Itoa(i)
		require.NoError(t, cc.ZAdd(ctx, k, redis.Z{Score: 1, Member: "10"}).Err())
		n, err := cc.MasterForKey(ctx, k)
		require.NoError(t, err)
		shards[n.Options().Addr] = true
	}
	require.Len(t, shards, 3)
	url := startServe(t, strings.Join(cl.Seeds(), ","), "--cluster", "--match", "cpu:*")

	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url+"/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	next := func() (event, data string) {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "" && event != "":
				return
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
		}
	}
	event, data := next()
	require.Equal(t, "updates", event)
	var up struct {
		Windows []struct {
			Key string `json:"key"`
		} `json:"windows"`
	}
	require.NoError(t, json.Unmarshal([]byte(data), &up), data)
	require.Len(t, up.Windows, 12, "every shard's keys")
	for i := range 12 {
		require.NoError(t, cc.ZAdd(ctx, "cpu:"+strconv.Itoa(i), redis.Z{Score: 2, Member: "20"}).Err())
	}
	seen := map[string]bool{}
	for len(seen) < 12 {
		event, data = next()
		require.Equal(t, "dUpdates", event)
		var d struct {
			Deltas []struct {
				Key string `json:"key"`
			} `json:"deltas"`
		}
		require.NoError(t, json.Unmarshal([]byte(data), &d), data)
		for _, x := range d.Deltas {
			seen[x.Key] = true
		}
	}
}
