package replica_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/replica"
)

// TestACLLeastPrivilege documents what an ACL user needs on Redis 7.0 to
// tap it: +psync and +replconf. AUTH needs no permission, no key or channel
// permission is needed, and +ping (which Redis's documentation lists for a
// replica's masteruser) is never used: the handshake's PING goes before
// AUTH, as the default user, and its -NOAUTH is the expected answer. The
// acceptance user (+psync +replconf +ping) works; a user without +psync is
// refused with ErrAuth at once.
func TestACLLeastPrivilege(t *testing.T) {
	ctx := testCtx(t)
	m := redistest.Start(t, redistest.Options{Password: "admin", Args: []string{"--repl-diskless-sync-delay", "0"}})
	mc := m.Client()
	dial := func(user string) (*replica.Replica, error) {
		return replica.Dial(ctx, replica.Config{Addr: m.Addr, Username: user, Password: "pw", Snapshot: replica.SnapshotSkip})
	}
	setUser := func(name string, perms ...any) {
		require.NoError(t, mc.Do(ctx, append([]any{"ACL", "SETUSER", name, "on", ">pw"}, perms...)...).Err())
	}
	// streams checks that a write on the master is delivered.
	streams := func(r *replica.Replica, key string) {
		require.NoError(t, mc.Set(ctx, key, "v", 0).Err())
		for {
			ev, err := r.Next(ctx)
			require.NoError(t, err)
			if c, ok := ev.(*replica.Command); ok && string(c.Args[1]) == key {
				return
			}
		}
	}

	setUser("tap", "+psync", "+replconf", "+ping")
	r, err := dial("tap")
	require.NoError(t, err)
	streams(r, "k1")
	require.NoError(t, r.Close())

	setUser("tap-min", "+psync", "+replconf")
	r, err = dial("tap-min")
	require.NoError(t, err, "+ping is not needed")
	streams(r, "k2")
	require.NoError(t, r.Close())

	setUser("no-psync", "+replconf", "+ping")
	_, err = dial("no-psync")
	require.ErrorIs(t, err, replica.ErrAuth)
	t.Logf("without +psync: %v", err)

	setUser("no-replconf", "+psync", "+ping")
	_, err = dial("no-replconf")
	require.ErrorIs(t, err, replica.ErrAuth, "without +replconf the master would refuse every ACK")

	_, err = replica.Dial(ctx, replica.Config{Addr: m.Addr, Username: "tap", Password: "wrong"})
	require.ErrorIs(t, err, replica.ErrAuth)
}
