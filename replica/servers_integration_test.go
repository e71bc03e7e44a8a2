package replica_test

import (
	"testing"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

// The server matrix (redistest.ForEachServer): the acceptance tests on
// every server people run, each in a subtest named after the server
// ("redis-7.2.6", "valkey-8.0.1"). The Debian redis-server runs the full
// variants in TestOracle and TestResumeRandomCuts; here every server runs
// one diskless oracle and a shorter cut test.

// TestOracleServers is TestOracle's diskless case on every server, with the
// workload adapted to it: hash field expiries on Redis 7.4 (propagated as
// HPEXPIREAT, HPERSIST and HDEL), no BITOP on Valkey 8.0.
func TestOracleServers(t *testing.T) {
	diskless := []string{"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		runOracle(t, oracleCase{name: k.Name, kind: k, master: redistest.Options{Args: diskless}}, 11)
	})
}

// TestResumeServers is TestResumeRandomCuts on every server: cuts at random
// moments and mid-command; every reconnect is a +CONTINUE and every
// numbered write arrives exactly once, in order.
func TestResumeServers(t *testing.T) {
	cuts := 20
	if testing.Short() {
		cuts = 8
	}
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		runResumeCuts(t, k, nil, cuts)
	})
}
