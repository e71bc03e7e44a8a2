package oracle

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/rdb"
)

func opts(s *redistest.Server) *redis.Options {
	return &redis.Options{Addr: s.Addr, Protocol: 2, DisableIdentity: true}
}

// TestSnapshotRebuild runs the workload, saves the master's RDB, rebuilds it
// on an empty server with the Applier (small chunks, so big keys arrive in
// pieces) and checks that Compare finds the two equal, then that it finds
// a difference; on every server of the matrix (listpack sets on Redis 7.2+,
// hash field expiries on 7.4+).
func TestSnapshotRebuild(t *testing.T) {
	redistest.ForEachServer(t, testSnapshotRebuild)
}

func testSnapshotRebuild(t *testing.T, k redistest.Kind) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	master := redistest.Start(t, k.Options(redistest.Options{}))
	target := redistest.Start(t, k.Options(redistest.Options{}))
	mc := master.Client()

	w := (&Workload{Seed: 1, Swaps: true}).On(k)
	defer w.Close()
	require.NoError(t, w.Preload(ctx, mc))
	ops := 1500
	if testing.Short() {
		ops = 300
	}
	require.NoError(t, w.Run(ctx, mc, ops))
	// Big keys written last: whatever FLUSHDB took, the snapshot has some.
	require.NoError(t, w.big(ctx))
	require.NoError(t, w.Settle(ctx, mc))
	require.NoError(t, mc.Save(ctx).Err())

	f, err := os.Open(filepath.Join(master.Dir, "dump.rdb"))
	require.NoError(t, err)
	defer f.Close()
	dec, err := rdb.NewDecoder(bufio.NewReader(f), rdb.WithChunkSize(64))
	require.NoError(t, err)
	a, err := NewApplier(ctx, target.Addr, ApplierOptions{})
	require.NoError(t, err)
	defer a.Close()
	chunks := 0
	types := map[rdb.Encoding]int{}
	fieldTTLs := 0
	for {
		rec, err := dec.Next(ctx)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if e, ok := rec.(*rdb.Entry); ok {
			if e.Chunk > 0 {
				chunks++
			}
			types[e.Encoding]++
			for _, f := range e.Fields {
				if f.Expire > 0 {
					fieldTTLs++
				}
			}
		}
		require.NoError(t, a.Record(rec))
	}
	require.NoError(t, a.Flush(ctx))
	require.Empty(t, a.Errors())
	require.Positive(t, chunks, "big keys arrive in several chunks")
	t.Logf("%s: encodings %v, %d field expiries", k.Name, types, fieldTTLs)
	if k.Has(redistest.HashFieldTTL) {
		require.Positive(t, fieldTTLs, "the snapshot carries hash field expiries")
		require.Positive(t, types[rdb.EncHashMetadata], "big hashes with field expiries")
		require.Positive(t, types[rdb.EncHashListpackEx], "small hashes with field expiries")
	}
	if k.Has(redistest.ListpackSets) {
		require.Positive(t, types[rdb.EncSetListpack], "listpack sets")
	}

	diffs, err := Compare(ctx, opts(master), opts(target), w.DBs)
	require.NoError(t, err)
	require.Empty(t, diffs)

	if k.Has(redistest.HashFieldTTL) {
		// A field expiry alone differs.
		require.NoError(t, mc.HSet(ctx, "hash:fcheck", "a", "1").Err())
		require.NoError(t, mc.Do(ctx, "HPEXPIRE", "hash:fcheck", 7_200_000, "FIELDS", 1, "a").Err())
		a.Command(0, [][]byte{[]byte("HSET"), []byte("hash:fcheck"), []byte("a"), []byte("1")})
		require.NoError(t, a.Flush(ctx))
		diffs, err = Compare(ctx, opts(master), opts(target), w.DBs)
		require.NoError(t, err)
		require.NotEmpty(t, diffs)
		require.Contains(t, diffs[0], "hash:fcheck")
		require.NoError(t, mc.Del(ctx, "hash:fcheck").Err())
	}

	// A difference is found: a changed value and a missing key.
	a.Command(1, [][]byte{[]byte("SET"), []byte("str:0"), []byte("changed")})
	a.Command(0, [][]byte{[]byte("DEL"), []byte("gstream:pre")})
	require.NoError(t, a.Flush(ctx))
	diffs, err = Compare(ctx, opts(master), opts(target), w.DBs)
	require.NoError(t, err)
	require.NotEmpty(t, diffs)
	t.Logf("diffs found as expected: %q", diffs)
}

func TestCheckSeq(t *testing.T) {
	require.NoError(t, CheckSeq([]int64{3, 4, 5}, 3, 5))
	require.NoError(t, CheckSeq(nil, 6, 5))
	require.ErrorContains(t, CheckSeq([]int64{3, 5}, 3, 5), "lost")
	require.ErrorContains(t, CheckSeq([]int64{3, 4, 4, 5}, 3, 5), "again")
	require.ErrorContains(t, CheckSeq([]int64{3, 4}, 3, 5), "expected up to 5")
	n, ok := SeqOf("log", [][]byte{[]byte("rpush"), []byte("log"), []byte("42")})
	require.True(t, ok)
	require.EqualValues(t, 42, n)
	_, ok = SeqOf("log", [][]byte{[]byte("RPUSH"), []byte("other"), []byte("42")})
	require.False(t, ok)
}

func TestSeqWriter(t *testing.T) {
	ctx := context.Background()
	s := redistest.Start(t, redistest.Options{})
	c := s.Client()
	w := &SeqWriter{Key: "log"}
	require.NoError(t, w.Write(ctx, c, 123))
	require.EqualValues(t, 123, w.Last())
	n, err := c.LLen(ctx, "log").Result()
	require.NoError(t, err)
	require.EqualValues(t, 123, n)
	ctr, err := c.Get(ctx, "log:ctr").Int()
	require.NoError(t, err)
	require.Equal(t, 24, ctr)
}
