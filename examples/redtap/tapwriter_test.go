package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// tapEvents is a session of replica events without a network: a full sync
// whose snapshot breaks off in the middle of a chunked key, a second full
// sync and its snapshot, then commands and transactions across databases.
// Offsets are the master's: each command's is the previous one plus the
// command's wire size (a SELECT before it where the database changes).
func tapEvents() []replica.Event {
	args := func(s ...string) [][]byte {
		b := make([][]byte, len(s))
		for i, a := range s {
			b[i] = []byte(a)
		}
		return b
	}
	list := func(chunk int, last bool, elems ...string) replica.Event {
		return &replica.SnapshotRecord{Record: &rdb.Entry{DB: 0, Key: []byte("big"), Type: rdb.TypeList, Expire: -1,
			Chunk: chunk, Last: last, Elems: args(elems...)}}
	}
	const id = "0123456789012345678901234567890123456789"
	return []replica.Event{
		&replica.Sync{Mode: replica.SyncFull, ReplID: id, Offset: 100},
		&replica.SnapshotRecord{Record: &rdb.Header{Magic: "REDIS", Version: 10}},
		&replica.SnapshotRecord{Record: &rdb.Aux{Key: []byte("redis-ver"), Value: []byte("7.0.15")}},
		&replica.SnapshotRecord{Record: &rdb.Entry{DB: 0, Key: []byte("s"), Type: rdb.TypeString, Expire: 5, Last: true, Str: []byte("v")}},
		list(0, false, "a", "b"),
		list(1, false, "c"),
		&replica.Disconnected{Addr: "m:1"},
		&replica.Sync{Mode: replica.SyncFull, ReplID: id, Offset: 200, Reason: "backlog"},
		list(0, true, "a", "b", "c", "d"),
		&replica.SnapshotRecord{Record: &rdb.Entry{DB: 2, Key: []byte("t"), Type: rdb.TypeString, Expire: -1, Last: true, Str: []byte("w")}},
		&replica.SnapshotRecord{Record: &rdb.End{}},
		&replica.SnapshotDone{Offset: 200},
		// SELECT 0 (23 bytes), SET k \x00\xfe (28)
		&replica.Command{DB: 0, Args: args("SET", "k", "\x00\xfe"), Offset: 251},
		// MULTI (15), INCR n (21), SELECT 2 (23), SET x y (27), EXEC (14)
		&replica.Transaction{DB: 0, Start: 251, Offset: 351, Commands: []replica.Command{
			{DB: 0, Args: args("INCR", "n"), Offset: 287},
			{DB: 2, Args: args("SET", "x", "y"), Offset: 337},
		}},
		// MULTI, SET z 1 (27), EXEC
		&replica.Transaction{DB: 2, Start: 351, Offset: 407, Commands: []replica.Command{{DB: 2, Args: args("SET", "z", "1"), Offset: 393}}},
		// MULTI, SELECT 0, DEL k (20), EXEC: the first command in another
		// database than the one at MULTI
		&replica.Transaction{DB: 2, Start: 407, Offset: 479, Commands: []replica.Command{
			{DB: 0, Args: args("DEL", "k"), Offset: 465},
		}},
		// MULTI, EXEC
		&replica.Transaction{DB: 0, Start: 479, Offset: 508},
		// SELECT 2, SET q 1
		&replica.Command{DB: 2, Args: args("SET", "q", "1"), Offset: 558},
		&replica.Disconnected{Addr: "m:1"},
		&replica.Sync{Mode: replica.SyncContinue, ReplID: id, Offset: 558},
	}
}

// tapOutputOf writes tapEvents through the tap's writer of a format.
func tapOutputOf(t *testing.T, format string, db int, resumed, skip bool) string {
	t.Helper()
	var buf bytes.Buffer
	cfg := writerConfig{Resumed: resumed, NoSnapshot: skip}
	if db >= 0 {
		cfg.DBs = []int{db}
	}
	w, err := newTapWriter(format, &buf, cfg)
	require.NoError(t, err)
	for _, ev := range tapEvents() {
		require.NoError(t, w.Write(ev))
	}
	require.NoError(t, w.Close())
	return buf.String()
}

// TestTapWriterJSONL pins the JSON lines of a tap session byte for byte:
// sync records, a key cut off by a disconnection and ended as a partial
// record, cmd records with MULTI and EXEC, and the --db filter.
func TestTapWriterJSONL(t *testing.T) {
	const (
		sync1 = `{"kind":"sync","mode":"full","replid":"0123456789012345678901234567890123456789","offset":100}`
		sync2 = `{"kind":"sync","mode":"full","replid":"0123456789012345678901234567890123456789","offset":200,"reason":"backlog"}`
		sync3 = `{"kind":"sync","mode":"continue","replid":"0123456789012345678901234567890123456789","offset":558}`
		aux   = `{"kind":"aux","key":"redis-ver","value":"7.0.15"}`
		s     = `{"kind":"key","db":0,"key":"s","type":"string","expire_ms":5,"value":"v"}`
		cut   = `{"kind":"key","db":0,"key":"big","type":"list","expire_ms":null,"value":["a","b","c"]}`
		big   = `{"kind":"key","db":0,"key":"big","type":"list","expire_ms":null,"value":["a","b","c","d"]}`
		tk    = `{"kind":"key","db":2,"key":"t","type":"string","expire_ms":null,"value":"w"}`
	)
	all := []string{sync1, aux, s, cut, sync2, big, tk,
		`{"kind":"cmd","db":0,"offset":251,"args":["SET","k",{"base64":"AP4="}],"keys":["k"]}`,
		`{"kind":"cmd","db":0,"offset":266,"args":["MULTI"]}`,
		`{"kind":"cmd","db":0,"offset":287,"args":["INCR","n"],"keys":["n"]}`,
		`{"kind":"cmd","db":2,"offset":337,"args":["SET","x","y"],"keys":["x"]}`,
		`{"kind":"cmd","db":2,"offset":351,"args":["EXEC"]}`,
		`{"kind":"cmd","db":2,"offset":366,"args":["MULTI"]}`,
		`{"kind":"cmd","db":2,"offset":393,"args":["SET","z","1"],"keys":["z"]}`,
		`{"kind":"cmd","db":2,"offset":407,"args":["EXEC"]}`,
		`{"kind":"cmd","db":2,"offset":422,"args":["MULTI"]}`,
		`{"kind":"cmd","db":0,"offset":465,"args":["DEL","k"],"keys":["k"]}`,
		`{"kind":"cmd","db":0,"offset":479,"args":["EXEC"]}`,
		`{"kind":"cmd","db":0,"offset":494,"args":["MULTI"]}`,
		`{"kind":"cmd","db":0,"offset":508,"args":["EXEC"]}`,
		`{"kind":"cmd","db":2,"offset":558,"args":["SET","q","1"],"keys":["q"]}`,
		sync3,
	}
	require.Equal(t, strings.Join(all, "\n")+"\n", tapOutputOf(t, formatJSONL, -1, false, false))

	// --db 2 (the decoder filters the snapshot itself; these events still
	// hold db 0's keys): MULTI and EXEC keep the offsets and databases of
	// the whole transaction.
	db2 := []string{sync1, aux, s, cut, sync2, big, tk,
		`{"kind":"cmd","db":0,"offset":266,"args":["MULTI"]}`,
		`{"kind":"cmd","db":2,"offset":337,"args":["SET","x","y"],"keys":["x"]}`,
		`{"kind":"cmd","db":2,"offset":351,"args":["EXEC"]}`,
		`{"kind":"cmd","db":2,"offset":366,"args":["MULTI"]}`,
		`{"kind":"cmd","db":2,"offset":393,"args":["SET","z","1"],"keys":["z"]}`,
		`{"kind":"cmd","db":2,"offset":407,"args":["EXEC"]}`,
		`{"kind":"cmd","db":2,"offset":558,"args":["SET","q","1"],"keys":["q"]}`,
		sync3,
	}
	require.Equal(t, strings.Join(db2, "\n")+"\n", tapOutputOf(t, formatJSONL, 2, false, false))
	require.Equal(t, tapOutputOf(t, formatJSONL, -1, false, false), tapOutputOf(t, formatJSONL, -1, true, true),
		"resuming and --snapshot skip change nothing in JSON lines")
	require.Empty(t, tapOutputOf(t, formatNone, -1, true, false))
}

// TestTapWriterRESP pins the commands of a tap session in RESP: a full
// resync flushes what may have been written before (FLUSHDB with --db),
// unless --snapshot skip leaves nothing to rebuild it with.
func TestTapWriterRESP(t *testing.T) {
	cmds := func(format string, db int, resumed, skip bool) []string {
		var out []string
		for _, c := range parseRESP(t, []byte(tapOutputOf(t, format, db, resumed, skip))) {
			out = append(out, strings.Join(c, " "))
		}
		return out
	}
	snapshot := []string{"SELECT 0", "SET s v", "PEXPIREAT s 5", "RPUSH big a b", "RPUSH big c"}
	flush := []string{"FLUSHALL", "FUNCTION FLUSH"}
	rest := []string{"RPUSH big a b c d", "SELECT 2", "SET t w",
		"SELECT 0", "SET k \x00\xfe",
		"MULTI", "INCR n", "SELECT 2", "SET x y", "EXEC",
		"MULTI", "SET z 1", "EXEC",
		"MULTI", "SELECT 0", "DEL k", "EXEC",
		"MULTI", "EXEC",
		"SELECT 2", "SET q 1"}
	concat := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	require.Equal(t, concat(snapshot, flush, rest), cmds(formatRESP, -1, false, false))
	require.Equal(t, concat(flush, snapshot, flush, rest), cmds(formatRESP, -1, true, false), "resumed: the first full sync flushes too")
	require.Equal(t, concat(snapshot, rest), cmds(formatRESP, -1, true, true), "--snapshot skip: no flush")
	require.Equal(t, concat(snapshot, []string{"SELECT 2", "FLUSHDB"}, []string{"SELECT 0", "RPUSH big a b c d", "SELECT 2", "SET t w",
		"SELECT 0", "MULTI", "SELECT 2", "SET x y", "EXEC",
		"MULTI", "SET z 1", "EXEC",
		"SET q 1"}), cmds(formatRESP, 2, false, false))
}

// respLen is the length of args encoded as the master sends them (a RESP
// array of bulk strings): what they add to the replication offset.
func respLen(args [][]byte) int64 {
	n := 1 + int64(len(strconv.Itoa(len(args)))) + 2
	for _, a := range args {
		n += 1 + int64(len(strconv.Itoa(len(a)))) + 2 + int64(len(a)) + 2
	}
	return n
}

// TestRESPLen checks respLen, and jsonl.MultiSize.
func TestRESPLen(t *testing.T) {
	args := [][]byte{[]byte("SET"), []byte("key"), bytes.Repeat([]byte("v"), 12)}
	var b []byte
	b = append(b, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$12\r\nvvvvvvvvvvvv\r\n"...)
	require.EqualValues(t, len(b), respLen(args))
	require.EqualValues(t, jsonl.MultiSize, respLen(argsMulti))
	require.EqualValues(t, 14, respLen(argsExec))
}

// TestJSONLKeys pins a cmd record's "keys": in argument order, [] for a
// command without keys, absent when they cannot be told.
func TestJSONLKeys(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"ZUNIONSTORE dst 2 a b", `,"keys":["dst","a","b"]}`},
		{"MSET a 1 b 2", `,"keys":["a","b"]}`},
		{"PUBLISH ch msg", `,"keys":[]}`},
		{"FLUSHALL", `,"keys":[]}`},
		{"NOSUCHCMD k", `]}`},
		{"ZUNIONSTORE dst 5 a", `]}`}, // numkeys out of range
	} {
		var buf bytes.Buffer
		w := newJSONLWriter(&buf, writerConfig{})
		var args [][]byte
		for _, a := range strings.Fields(tc.args) {
			args = append(args, []byte(a))
		}
		require.NoError(t, w.Command(&replica.Command{Args: args, Offset: 1}))
		require.NoError(t, w.Flush())
		require.True(t, strings.HasSuffix(buf.String(), tc.want+"\n"), "%s: %s", tc.args, buf.String())
		require.Equal(t, strings.Contains(tc.want, `"keys"`), strings.Contains(buf.String(), `"keys"`), tc.args)
	}
}
