package replica_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// Acceptance 3: the in-process misbehaving master (internal/testkit/fakemaster)
// serves a snapshot written by a real redis-server and breaks the sync in
// every way it can. Every case runs under a context deadline that is only
// a safety net: a hang fails the test instead of blocking it. The replica
// must end each case with a clean, structured error or recover; it must
// never panic and never deliver a snapshot that differs from the real one.

// faultTimeout is the safety net of one fault case.
const faultTimeout = 30 * time.Second

// realSnapshot returns the RDB a real redis-server writes after the
// oracle's preload (every type and encoding: listpacks, quicklists,
// intsets, LZF-compressed strings, streams with groups, a function
// library, expiries) and the number of keys in it.
func realSnapshot(t *testing.T) []byte {
	t.Helper()
	ctx := testCtx(t)
	s := redistest.Start(t, redistest.Options{})
	w := &oracle.Workload{Seed: 99, BigElems: 300, Keys: 8}
	defer w.Close()
	require.NoError(t, w.Preload(ctx, s.Client()))
	require.NoError(t, s.Client().Save(ctx).Err())
	b, err := os.ReadFile(filepath.Join(s.Dir, "dump.rdb"))
	require.NoError(t, err)
	return b
}

// outcome is what a replica did with a faulty master.
type outcome struct {
	err        error
	digest     string // of the last complete snapshot delivered
	keys       int64
	marker     bool // the command propagated after the snapshot arrived
	syncs      int
	disconnect int
}

// digestRecord feeds a snapshot record into h canonically.
func digestRecord(h hash.Hash, rec rdb.Record) {
	switch r := rec.(type) {
	case *rdb.Entry:
		fmt.Fprintf(h, "E %d %q %v %d %d %v|", r.DB, r.Key, r.Type, r.Expire, r.Chunk, r.Last)
		fmt.Fprintf(h, "%q %q", r.Str, r.Elems)
		for _, f := range r.Fields {
			fmt.Fprintf(h, "%q=%q,", f.Name, f.Value)
		}
		for _, m := range r.Members {
			fmt.Fprintf(h, "%q=%v,", m.Name, m.Score)
		}
		if r.Stream != nil {
			for _, e := range r.Stream.Entries {
				fmt.Fprintf(h, "%v%q,", e.ID, e.Fields)
			}
			if m := r.Stream.Meta; m != nil {
				fmt.Fprintf(h, "%d %v %v %v %d", m.Length, m.LastID, m.FirstID, m.MaxDeletedID, m.EntriesAdded)
				for _, g := range m.Groups {
					fmt.Fprintf(h, "%q %v %d %v", g.Name, g.LastID, g.EntriesRead, g.PEL)
					for _, c := range g.Consumers {
						fmt.Fprintf(h, "%q %v", c.Name, c.PEL)
					}
				}
			}
		}
	case *rdb.Function:
		fmt.Fprintf(h, "F %q|", r.Code)
	case *rdb.SelectDB:
		fmt.Fprintf(h, "S %d|", r.DB)
	}
}

// runFault serves snap through a fakemaster configured by opts, reads
// until the snapshot and one propagated command have arrived or an error
// ends the replica, and reports what happened.
func runFault(t *testing.T, opts fakemaster.Options, mut func(*replica.Config)) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
	defer cancel()
	m, err := fakemaster.New(opts)
	require.NoError(t, err)
	defer m.Close()
	cfg := replica.Config{Addr: m.Addr(), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, AckInterval: 50 * time.Millisecond,
		MaxRetries: 3, RDBOptions: []rdb.Option{rdb.WithChunkSize(64)}}
	if mut != nil {
		mut(&cfg)
	}
	var o outcome
	r, err := replica.Dial(ctx, cfg)
	if err != nil {
		require.NoError(t, ctx.Err(), "Dial hung until the safety net: %v", err)
		o.err = err
		return o
	}
	defer func() { require.NoError(t, r.Close()) }()
	h := sha256.New()
	marked := false
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			require.NoError(t, ctx.Err(), "Next hung until the safety net (outcome so far %+v)", o)
			o.err = err
			return o
		}
		switch e := ev.(type) {
		case *replica.Sync:
			o.syncs++
			h.Reset()
		case *replica.SnapshotRecord:
			digestRecord(h, e.Record)
		case *replica.SnapshotDone:
			o.digest = hex.EncodeToString(h.Sum(nil))
			o.keys = e.Keys
			if !marked {
				marked = true
				m.Propagate("SET", "fault:marker", "1")
			}
		case *replica.Command:
			if string(e.Args[1]) == "fault:marker" {
				o.marker = true
				return o
			}
		case *replica.Disconnected:
			o.disconnect++
		}
	}
}

// requireCleanError checks that err is structured and names its cause.
func requireCleanError(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var re *replica.Error
	require.ErrorAs(t, err, &re, "an *replica.Error: %v", err)
	for _, want := range []error{replica.ErrProtocol, replica.ErrEOFMark, replica.ErrTooLarge, replica.ErrSyncRefused,
		rdb.ErrCorrupt, rdb.ErrChecksum, rdb.ErrTooLarge, rdb.ErrUnsupportedType, rdb.ErrUnsupportedVersion,
		io.EOF, io.ErrUnexpectedEOF, os.ErrDeadlineExceeded, syscall.ECONNRESET, syscall.ECONNREFUSED} {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("error with an undocumented cause: %v", err)
}

// TestFaultMatrix: one case per fault; faults on the first connection only
// must be recovered from (reconnect, full sync, the same snapshot); faults
// on every connection end with the documented error once MaxRetries
// reconnects have failed, or at once for errors that retrying cannot fix.
func TestFaultMatrix(t *testing.T) {
	snap := realSnapshot(t)
	clean := runFault(t, fakemaster.Options{RDB: snap}, nil)
	require.NoError(t, clean.err)
	require.True(t, clean.marker)
	require.Positive(t, clean.keys)

	first := func(p fakemaster.Payload) func(int) fakemaster.Payload {
		return func(conn int) fakemaster.Payload {
			if conn == 1 {
				return p
			}
			return fakemaster.Payload{EOF: p.EOF}
		}
	}
	always := func(p fakemaster.Payload) func(int) fakemaster.Payload {
		return func(int) fakemaster.Payload { return p }
	}
	reply := func(cmd, rep string, conns int) func(int, []string) (string, bool) {
		return func(conn int, args []string) (string, bool) {
			if conn <= conns && strings.EqualFold(args[0], cmd) {
				return rep, true
			}
			return "", false
		}
	}
	n := len(snap)
	cases := []struct {
		name    string
		opts    fakemaster.Options
		recover bool
		want    error // for failures: the cause, when it is known
	}{
		{name: "truncated $len, then fine", opts: fakemaster.Options{Payload: first(fakemaster.Payload{TruncateAt: n / 2})}, recover: true},
		{name: "truncated $EOF, then fine", opts: fakemaster.Options{Payload: first(fakemaster.Payload{EOF: true, TruncateAt: n / 3})}, recover: true},
		{name: "truncated always", opts: fakemaster.Options{Payload: always(fakemaster.Payload{TruncateAt: n - 1})}, want: io.EOF},
		{name: "stall in payload past ReadTimeout, then fine", opts: fakemaster.Options{Payload: first(fakemaster.Payload{StallAt: n / 2})}, recover: true},
		{name: "stall always", opts: fakemaster.Options{Payload: always(fakemaster.Payload{EOF: true, StallAt: 100})}, want: os.ErrDeadlineExceeded},
		{name: "checksum flipped", opts: fakemaster.Options{Payload: always(fakemaster.Payload{Corrupt: []int{n - 2}})}, want: rdb.ErrChecksum},
		{name: "value byte flipped diskless", opts: fakemaster.Options{Payload: always(fakemaster.Payload{EOF: true, Corrupt: []int{n / 2}})}},
		{name: "wrong EOF mark", opts: fakemaster.Options{Payload: always(fakemaster.Payload{EOF: true, WrongMark: true})}, want: replica.ErrEOFMark},
		{name: "length announced too long", opts: fakemaster.Options{Payload: always(fakemaster.Payload{Len: int64(n + 10)})}, want: replica.ErrProtocol},
		{name: "length announced too short", opts: fakemaster.Options{Payload: always(fakemaster.Payload{Len: int64(n - 10)})}, want: replica.ErrProtocol},
		{name: "garbage payload header", opts: fakemaster.Options{Payload: always(fakemaster.Payload{Header: "*3 what"})}, want: replica.ErrProtocol},
		{name: "-ERR instead of payload, then fine", opts: fakemaster.Options{Payload: first(fakemaster.Payload{Header: "-ERR BGSAVE failed"})}, recover: true},
		{name: "keepalives and stray newline", opts: fakemaster.Options{Payload: always(fakemaster.Payload{EOF: true, Newlines: 5, NewlineAfter: true})}, recover: true},
		{name: "garbage PSYNC reply", opts: fakemaster.Options{Reply: reply("PSYNC", "+WHAT 1 2", 99)}, want: replica.ErrProtocol},
		{name: "binary garbage PING reply", opts: fakemaster.Options{Reply: reply("PING", "\x00\xff\x13garbage", 99)}, want: replica.ErrProtocol},
		{name: "-LOADING twice, then fine", opts: fakemaster.Options{Reply: reply("PSYNC", "-LOADING Redis is loading the dataset in memory", 2)}, recover: true},
		{name: "-NOMASTERLINK once, then fine", opts: fakemaster.Options{Reply: reply("PSYNC", "-NOMASTERLINK Can't SYNC while not connected with my master", 1)}, recover: true},
		{name: "-LOADING forever", opts: fakemaster.Options{Reply: reply("PSYNC", "-LOADING Redis is loading the dataset in memory", 99)}},
		{name: "silent handshake", opts: fakemaster.Options{Reply: reply("PING", "", 99)}, want: os.ErrDeadlineExceeded},
		{name: "silent first PSYNC", opts: fakemaster.Options{Reply: reply("PSYNC", "", 1)}, want: os.ErrDeadlineExceeded},
		{name: "silent PSYNC on a reconnect, then fine", opts: fakemaster.Options{
			Payload: first(fakemaster.Payload{TruncateAt: n / 2}),
			Reply: func(conn int, args []string) (string, bool) {
				if conn == 2 && args[0] == "PSYNC" {
					return "", true
				}
				return "", false
			}}, recover: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.RDB = snap
			o := runFault(t, tc.opts, nil)
			if tc.recover {
				require.NoError(t, o.err)
				require.True(t, o.marker)
				require.Equal(t, clean.digest, o.digest, "the recovered snapshot is the real one")
				require.Equal(t, clean.keys, o.keys)
				return
			}
			require.False(t, o.marker, "a faulty master cannot end in success: %+v", o)
			if strings.Contains(tc.name, "LOADING") {
				require.ErrorContains(t, o.err, "LOADING")
				var re *replica.Error
				require.ErrorAs(t, o.err, &re)
			} else {
				requireCleanError(t, o.err)
			}
			if tc.want != nil {
				require.ErrorIs(t, o.err, tc.want)
			}
			t.Logf("%s: %v", tc.name, o.err)
		})
	}

	t.Run("stream faults", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			raw  string
			want error
		}{
			{"not an array", "+OK\r\n", replica.ErrProtocol},
			{"bad bulk length", "*1\r\n$x\r\n", replica.ErrProtocol},
			{"bulk over the cap", "*2\r\n$3\r\nSET\r\n$999999999\r\n", replica.ErrTooLarge},
			{"too many args", "*99999999\r\n", replica.ErrTooLarge},
			{"missing CRLF", "*1\r\n$3\r\nSETxx", replica.ErrProtocol},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
				defer cancel()
				m := fakemaster.Start(t, fakemaster.Options{RDB: snap})
				r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr(), Snapshot: replica.SnapshotSkip,
					MaxBulkLen: 1 << 20, MaxArgs: 1 << 16, ReadTimeout: 300 * time.Millisecond, MaxRetries: 1})
				require.NoError(t, err)
				defer r.Close()
				m.Propagate("SET", "a", "1")
				m.PropagateRaw([]byte(tc.raw))
				var cmds int
				for {
					ev, err := r.Next(ctx)
					if err != nil {
						require.NoError(t, ctx.Err(), "hang")
						requireCleanError(t, err)
						require.ErrorIs(t, err, tc.want)
						break
					}
					if _, ok := ev.(*replica.Command); ok {
						cmds++
					}
				}
				require.Equal(t, 1, cmds, "the command before the garbage is delivered")
			})
		}
	})
}

// TestFaultRandom: many random faults on the first connection (byte flips,
// truncation, stalls, at random places of a real snapshot, in both
// framings). Each case ends within its deadline either with a clean error
// or with the real snapshot; never with different data.
func TestFaultRandom(t *testing.T) {
	snap := realSnapshot(t)
	clean := runFault(t, fakemaster.Options{RDB: snap}, nil)
	require.NoError(t, clean.err)
	cases := 60
	if testing.Short() {
		cases = 20
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	var recovered, failed int
	causes := map[string]int{}
	for i := 0; i < cases; i++ {
		p := fakemaster.Payload{EOF: rnd.IntN(2) == 0}
		kind := rnd.IntN(3)
		switch kind {
		case 0:
			for j := 0; j <= rnd.IntN(3); j++ {
				p.Corrupt = append(p.Corrupt, rnd.IntN(len(snap)))
			}
		case 1:
			p.TruncateAt = 1 + rnd.IntN(len(snap)-1)
		case 2:
			p.StallAt = 1 + rnd.IntN(len(snap)-1)
		}
		opts := fakemaster.Options{RDB: snap, Payload: func(conn int) fakemaster.Payload {
			if conn == 1 {
				return p
			}
			return fakemaster.Payload{EOF: p.EOF}
		}}
		o := runFault(t, opts, nil)
		if o.err == nil {
			recovered++
			require.True(t, o.marker)
			require.Equal(t, clean.digest, o.digest, "case %d (%+v): a snapshot with other data", i, p)
			continue
		}
		failed++
		require.Equal(t, 0, kind, "case %d (%+v): truncations and stalls are recovered from: %v", i, p, o.err)
		requireCleanError(t, o.err)
		causes[causeOf(o.err)]++
	}
	t.Logf("%d random faults: %d recovered with the real snapshot, %d clean errors %v", cases, recovered, failed, causes)
}

func causeOf(err error) string {
	for _, c := range []error{rdb.ErrChecksum, rdb.ErrCorrupt, rdb.ErrTooLarge, rdb.ErrUnsupportedType, rdb.ErrUnsupportedVersion,
		replica.ErrEOFMark, replica.ErrProtocol, replica.ErrTooLarge, os.ErrDeadlineExceeded, io.ErrUnexpectedEOF, io.EOF} {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	return "other"
}
