package replica

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

// TestSmokeRealServer taps a real redis-server, disk-based and diskless: the
// snapshot, then plain commands, SELECT, MULTI/EXEC and a script, with
// offsets checked against the master's master_repl_offset, and WAIT to check
// the ACKs.
func TestSmokeRealServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		eof  bool
	}{
		{"disk", []string{"--repl-diskless-sync", "no"}, false},
		{"diskless", []string{"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No periodic PING: master_repl_offset is then exactly the
			// offset after the last write.
			srv := redistest.Start(t, redistest.Options{Args: append(tc.args, "--repl-ping-replica-period", "3600")})
			ctx := testCtx(t)
			c := srv.Client()
			require.NoError(t, c.Set(ctx, "a", "1", 0).Err())
			require.NoError(t, c.HSet(ctx, "h", "f", "v").Err())
			require.NoError(t, c.RPush(ctx, "l", "x", "y").Err())
			conn := c.Conn()
			defer conn.Close()
			require.NoError(t, conn.Select(ctx, 3).Err())
			require.NoError(t, conn.Set(ctx, "b", "2", 0).Err())

			r, err := Dial(ctx, Config{Addr: srv.Addr, AckInterval: 20 * time.Millisecond, Logger: testLogger(t)})
			require.NoError(t, err)
			defer r.Close()
			s, keys, done := readSnapshot(t, r)
			require.Len(t, s.ReplID, 40)
			require.Empty(t, s.Reason)
			require.ElementsMatch(t, []string{"0:a", "0:h", "0:l", "3:b"}, keys)
			require.Equal(t, s.Offset, done.Offset)
			require.Equal(t, int64(4), done.Keys)
			if tc.eof {
				require.Equal(t, int64(-1), r.Stats().SnapshotSize)
			} else {
				require.Equal(t, done.Bytes, r.Stats().SnapshotSize)
			}

			// Writes: db 0, db 3 (SELECT), a transaction that switches
			// db, a script (its effects replicate inside MULTI/EXEC).
			require.NoError(t, c.Set(ctx, "k1", "v1", 0).Err())
			require.NoError(t, conn.Set(ctx, "k3", "v3", 0).Err())
			_, err = conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "n")
				p.Select(ctx, 4)
				p.Set(ctx, "k4", "v4", 0)
				return nil
			})
			require.NoError(t, err)
			require.NoError(t, c.Eval(ctx, "redis.call('set', KEYS[1], '1'); redis.call('incr', KEYS[2]); return 1", []string{"e1", "e2"}).Err())
			info, err := srv.Info(ctx, "replication")
			require.NoError(t, err)
			masterOff, err := strconv.ParseInt(info["master_repl_offset"], 10, 64)
			require.NoError(t, err)

			var got []string // name case as the client sent it: go-redis sends lower case
			last, lastDB := done.Offset, 0
			// selectLen is the size of the SELECT the master sends before
			// a command in db when the stream is in lastDB.
			selectLen := func(db int) int64 {
				if db == lastDB {
					return 0
				}
				return respLen("SELECT", strconv.Itoa(db))
			}
			for last < masterOff {
				ev := next(t, r)
				switch e := ev.(type) {
				case *Command:
					require.Greater(t, e.Offset, last)
					require.Equal(t, Position{ReplID: s.ReplID, Offset: e.Offset, DB: e.DB}, e.Pos)
					last, lastDB = e.Offset, e.DB
					got = append(got, strconv.Itoa(e.DB)+" "+strings.ToUpper(string(e.Args[0]))+" "+string(e.Args[1]))
				case *Transaction:
					require.Greater(t, e.Offset, last)
					// Nothing but a SELECT between the event before and
					// MULTI (no PING: repl-ping-replica-period is long).
					require.Equal(t, last+selectLen(e.DB), e.Start)
					lastDB = e.DB
					size := respLen("MULTI") + respLen("EXEC")
					got = append(got, "tx")
					for _, c := range e.Commands {
						require.Greater(t, c.Offset, last)
						require.Less(t, c.Offset, e.Offset)
						require.True(t, c.Pos.IsZero())
						size += selectLen(c.DB) + respLen(strs(c.Args)...)
						last, lastDB = c.Offset, c.DB
						got = append(got, strconv.Itoa(c.DB)+" "+strings.ToUpper(string(c.Args[0]))+" "+string(c.Args[1]))
					}
					require.Equal(t, size, e.Offset-e.Start, "MULTI ... EXEC with the SELECTs inside")
					require.Equal(t, Position{ReplID: s.ReplID, Offset: e.Offset, DB: lastDB}, e.Pos)
					last = e.Offset
				default:
					t.Fatalf("unexpected %s", describe(ev))
				}
			}
			require.Equal(t, masterOff, last, "offsets match master_repl_offset")
			require.Equal(t, []string{
				"0 SET k1", "3 SET k3",
				"tx", "3 INCR n", "4 SET k4",
				"tx", "0 SET e1", "0 INCR e2",
			}, got)
			require.Equal(t, Position{ReplID: s.ReplID, Offset: masterOff, DB: 0}, r.Position())

			// The master sees the ACKs: WAIT returns once the tap has
			// acknowledged everything.
			n, err := c.Do(ctx, "WAIT", 1, 0).Int()
			require.NoError(t, err)
			require.Equal(t, 1, n)
			st := r.Stats()
			require.Equal(t, masterOff, st.ProcessedOffset)
			require.Equal(t, int64(6), st.Commands)
			require.Equal(t, int64(1), st.FullSyncs)
		})
	}
}
