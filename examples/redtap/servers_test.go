package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
)

// The server matrix (redistest.ForEachServer): the CLI's round trips on
// every server people run, each in a subtest named after the server.

// TestRDBRoundTripServers: each server writes a snapshot of the oracle's
// workload (every type, big keys, stream groups; listpack sets on Redis
// 7.2+, hash field expiries on 7.4+) with SAVE; `redtap dump --format resp`
// of that file, piped into an empty server of the same kind, rebuilds it:
// equal key by key (with key and field expiries) and by DEBUG DIGEST.
func TestRDBRoundTripServers(t *testing.T) {
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		a := redistest.Start(t, k.Options(redistest.Options{}))
		b := redistest.Start(t, k.Options(redistest.Options{}))
		ca := a.Client()
		w := (&oracle.Workload{Seed: 5, Swaps: true}).On(k)
		defer w.Close()
		require.NoError(t, w.Preload(ctx, ca))
		ops := 1000
		if testing.Short() {
			ops = 300
		}
		require.NoError(t, w.Run(ctx, ca, ops))
		require.NoError(t, w.Settle(ctx, ca))
		require.NoError(t, ca.Save(ctx).Err())

		file := filepath.Join(a.Dir, "dump.rdb")
		resp, stderr, code := dumpT(t, nil, "--format", "resp", file)
		require.Equal(t, 0, code, stderr)
		if k.Has(redistest.HashFieldTTL) {
			require.Contains(t, string(resp), "HPEXPIREAT", "field expiries rebuilt")
		}
		msg := pipeInto(t, ctx, redistest.Binary(t, "redis-cli"), b, bytes.NewReader(resp))

		diffs, err := oracle.Compare(ctx, &redis.Options{Addr: a.Addr}, &redis.Options{Addr: b.Addr}, w.DBs)
		require.NoError(t, err)
		require.Empty(t, diffs, "%s: the rebuilt dataset differs from the server's", k.Name)
		st, err := os.Stat(file)
		require.NoError(t, err)
		t.Logf("%s: %d-byte snapshot, %d bytes of RESP; redis-cli --pipe: %s", k.Name, st.Size(), len(resp), msg)
	})
}

// TestTapRESPServers is TestTapRESPPipe on every server: `tap --format
// resp` from the snapshot on, piped into an empty server of the same kind,
// rebuilds the master (hash field expiries included: HPEXPIREAT after the
// HSET in the snapshot, the master's HPEXPIREAT/HPERSIST/HDEL in the
// stream).
func TestTapRESPServers(t *testing.T) {
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		tapRESPOn(t, k, nil)
	})
}

// TestTapDualChannel is the same against a Valkey master that grants
// dual-channel replication, with `--dual-channel on`; the master's log says
// it synchronised over two connections.
func TestTapDualChannel(t *testing.T) {
	k := redistest.ServerWith(t, redistest.DualChannel)
	m := tapRESPOn(t, k, []string{"--dual-channel-replication-enabled", "yes", "--repl-diskless-sync", "yes"}, "--dual-channel", "on")
	log, err := os.ReadFile(m.Log)
	require.NoError(t, err)
	require.Contains(t, string(log), "using: dual-channel")
}

// tapRESPOn runs the tap with --format resp (and tapArgs) against a master
// of kind k (with masterArgs), replays its output into an empty server of
// the same kind and compares.
func tapRESPOn(t *testing.T, k redistest.Kind, masterArgs []string, tapArgs ...string) *redistest.Server {
	ctx := tapTestCtx(t)
	m := redistest.Start(t, k.Options(redistest.Options{Args: append([]string{"--repl-diskless-sync-delay", "0"}, masterArgs...)}))
	target := redistest.Start(t, k.Options(redistest.Options{}))
	w := (&oracle.Workload{Seed: 12, Swaps: true}).On(k)
	defer w.Close()
	out := tapRESPWorkload(t, ctx, m, w, 600, 200, tapArgs...)

	resp, err := os.ReadFile(out)
	require.NoError(t, err)
	msg := pipeInto(t, ctx, redistest.Binary(t, "redis-cli"), target, bytes.NewReader(resp))
	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, w.DBs, oracle.CompareOn(k)...)
	require.NoError(t, err)
	require.Empty(t, diffs, "%s: the replayed tap differs from the master", k.Name)
	t.Logf("%s: redis-cli --pipe: %s", k.Name, msg)
	return m
}
