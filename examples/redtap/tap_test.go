package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
	"github.com/redtap/redtap/replica"
)

// tapLine is one JSON line of `redtap tap`.
type tapLine struct {
	Kind   string            `json:"kind"`
	Mode   string            `json:"mode"`
	ReplID string            `json:"replid"`
	Offset int64             `json:"offset"`
	Reason string            `json:"reason"`
	DB     int               `json:"db"`
	Args   []json.RawMessage `json:"args"`
	Key    json.RawMessage   `json:"key"`
	Type   string            `json:"type"`
	Value  json.RawMessage   `json:"value"`
}

// bytesOf decodes a JSON string or {"base64":...}.
func bytesOf(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	var b struct {
		Base64 string `json:"base64"`
	}
	require.NoError(t, json.Unmarshal(raw, &b), "%s", raw)
	v, err := base64.StdEncoding.DecodeString(b.Base64)
	require.NoError(t, err)
	return v
}

func (l *tapLine) args(t *testing.T) [][]byte {
	out := make([][]byte, len(l.Args))
	for i, a := range l.Args {
		out[i] = bytesOf(t, a)
	}
	return out
}

// readTapLines parses the complete lines of a JSON-lines output file (a
// process killed mid-write may leave a partial last line).
func readTapLines(t *testing.T, path string) []tapLine {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var lines []tapLine
	for _, ln := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		var l tapLine
		require.NoError(t, json.Unmarshal(ln, &l), "%s", ln)
		lines = append(lines, l)
	}
	return lines
}

// seqs returns the numbered writes (RPUSH key n) among cmd lines whose
// offset is at most maxOff (or all when maxOff < 0).
func seqs(t *testing.T, lines []tapLine, key string, maxOff int64) []int64 {
	var out []int64
	for i := range lines {
		l := &lines[i]
		if l.Kind != "cmd" || (maxOff >= 0 && l.Offset > maxOff) {
			continue
		}
		if n, ok := oracle.SeqOf(key, l.args(t)); ok {
			out = append(out, n)
		}
	}
	return out
}

// waitLines polls a JSON-lines output file until cond holds.
func waitLines(t *testing.T, ctx context.Context, path, what string, cond func([]tapLine) bool) []tapLine {
	t.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			if lines := readTapLines(t, path); cond(lines) {
				return lines
			}
		}
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(path)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Fatalf("timed out waiting for %s; output ends with:\n%s", what, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func hasSeq(t *testing.T, key string, n int64) func([]tapLine) bool {
	return func(lines []tapLine) bool {
		s := seqs(t, lines, key, -1)
		return len(s) > 0 && s[len(s)-1] >= n
	}
}

// inProcessTap runs `redtap tap args...` in this process with stdout to a
// file; stop cancels it (as SIGINT does) and returns the exit code.
func inProcessTap(t *testing.T, args ...string) (outPath string, stderr *syncbuf.Buffer, stop func() int) {
	t.Helper()
	outPath = filepath.Join(t.TempDir(), "out")
	f, err := os.Create(outPath)
	require.NoError(t, err)
	stderr = &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"tap"}, args...), nil, f, stderr)
	}()
	var once sync.Once
	result := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case result = <-code:
			case <-time.After(time.Minute):
				t.Errorf("tap did not stop; stderr:\n%s", stderr.String())
			}
			f.Close()
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return outPath, stderr, stop
}

func tapTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestTapUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "--addr is required"},
		{[]string{"--addr", "h:1", "extra"}, "unexpected arguments"},
		{[]string{"--addr", "h:1", "--cert", "c.pem"}, "--cert and --key go together"},
		{[]string{"--addr", "h:1", "--snapshot", "some"}, "unknown --snapshot"},
		{[]string{"--addr", "h:1", "--format", "xml"}, "unknown --format"},
		{[]string{"--addr", "h:1", "--db", "-2"}, "--db -2"},
		{[]string{"--addr", "h:1", "--chunk", "0"}, "--chunk 0"},
		{[]string{"--addr", "h:1", "--snapshot", "only", "--checkpoint", "cp"}, "--checkpoint makes no sense"},
		{[]string{"--addr", "h:1", "--dual-channel", "yes"}, "want auto, on or off"},
		{[]string{"--addr", "h:1", "--type", "zset,blob"}, `bad type "blob"`},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), append([]string{"tap"}, tc.args...), nil, io.Discard, &stderr)
		require.Equal(t, exitUsage, code, "%q", tc.args)
		require.Contains(t, stderr.String(), tc.msg, "%q", tc.args)
	}
	var stdout bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"help", "tap"}, nil, &stdout, &stdout))
	require.Contains(t, stdout.String(), "--checkpoint")

	o, err := parseTapArgs([]string{"--addr", "h:1", "--cacert", "ca.pem"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.tls.TLS, "--cacert implies --tls")
	_, err = o.config()
	require.Error(t, err, "a missing CA file is an error")

	var stderr bytes.Buffer
	code := run(context.Background(), []string{"tap", "--addr", "127.0.0.1:1"}, nil, io.Discard, &stderr)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr.String(), "redtap: tap 127.0.0.1:1:")
}

// TestTapJSONL runs the tap in process: a sync line, the snapshot's keys
// (a big key in chunks, a binary key), then cmd lines with exact offsets,
// MULTI and EXEC around a transaction, the database of each command,
// base64 for binary arguments; on cancellation (SIGINT) it flushes and
// saves the checkpoint of the last line.
func TestTapJSONL(t *testing.T) {
	ctx := tapTestCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := m.Client()
	require.NoError(t, c.Set(ctx, "\xffbin", "v", 0).Err())
	big := []any{}
	for i := 0; i < 50; i++ {
		big = append(big, strconv.Itoa(i))
	}
	require.NoError(t, c.RPush(ctx, "big", big...).Err())
	cp := filepath.Join(t.TempDir(), "cp.json")

	out, stderr, stop := inProcessTap(t, "--addr", m.Addr, "--checkpoint", cp, "--chunk", "8")
	waitLines(t, ctx, out, "snapshot", func(l []tapLine) bool { return len(l) > 0 })

	require.NoError(t, c.Set(ctx, "k", "\x00\xfe", 0).Err())
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		p.Incr(ctx, "n")
		return nil
	})
	require.NoError(t, err)
	c3 := redis.NewClient(&redis.Options{Addr: m.Addr, DB: 3})
	defer c3.Close()
	require.NoError(t, c3.Set(ctx, "in3", "x", 0).Err())
	lines := waitLines(t, ctx, out, "db 3 write", func(l []tapLine) bool {
		return len(l) > 0 && l[len(l)-1].Kind == "cmd" && l[len(l)-1].DB == 3
	})
	require.Equal(t, exitOK, stop(), "stderr: %s", stderr.String())

	require.Equal(t, "sync", lines[0].Kind)
	require.Equal(t, "full", lines[0].Mode)
	require.Len(t, lines[0].ReplID, 40)
	var keys []string
	var cmds []string
	var offs []int64
	for _, l := range lines[1:] {
		switch l.Kind {
		case "key":
			keys = append(keys, string(bytesOf(t, l.Key)))
			if l.Type == "list" {
				var v []string
				require.NoError(t, json.Unmarshal(l.Value, &v))
				require.Len(t, v, 50, "a chunked key is one record")
			}
		case "cmd":
			cmds = append(cmds, fmt.Sprintf("%d:%q", l.DB, l.args(t)))
			offs = append(offs, l.Offset)
		}
	}
	require.ElementsMatch(t, []string{"\xffbin", "big"}, keys)
	require.Equal(t, []string{
		`0:["set" "k" "\x00\xfe"]`, `0:["MULTI"]`, `0:["incr" "n"]`, `0:["incr" "n"]`, `0:["EXEC"]`, `3:["set" "in3" "x"]`,
	}, cmds)
	// Offsets: right after each command, as the master counts them.
	info, err := m.Info(ctx, "replication")
	require.NoError(t, err)
	require.Equal(t, info["master_repl_offset"], strconv.FormatInt(offs[len(offs)-1], 10))
	for i := 1; i < len(offs); i++ {
		require.Greater(t, offs[i], offs[i-1])
	}
	require.EqualValues(t, offs[1]+respLen([][]byte{[]byte("incr"), []byte("n")}), offs[2], "MULTI's offset is exact")

	fc, err := replica.NewFileCheckpointer(cp)
	require.NoError(t, err)
	pos, err := fc.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, lines[0].ReplID, pos.ReplID)
	require.Equal(t, offs[len(offs)-1], pos.Offset, "the final checkpoint is the last line written")
	require.Equal(t, 3, pos.DB)
}

// TestTapRESPPipe: `--format resp` piped into `redis-cli --pipe` against an
// empty server reproduces the master's dataset after the oracle's mixed
// workload (snapshot, then the commands with SELECT, MULTI/EXEC kept).
func TestTapRESPPipe(t *testing.T) {
	ctx := tapTestCtx(t)
	cli := redistest.Binary(t, "redis-cli")
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	target := redistest.Start(t, redistest.Options{})
	w := &oracle.Workload{Seed: 11, Swaps: true}
	defer w.Close()
	out := tapRESPWorkload(t, ctx, m, w, 1500, 300)

	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	msg := pipeInto(t, ctx, cli, target, f)

	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, w.DBs)
	require.NoError(t, err)
	require.Empty(t, diffs)
	t.Logf("redis-cli --pipe: %s", msg)
}

// tapRESPWorkload preloads the master m with w, runs `redtap tap --format
// resp --chunk 100` (and args) against it, and once the snapshot is out runs
// ops of w's operations (shortOps with -short), settles them and writes a
// fence. It stops the tap once the fence is written, and returns the file
// with the tap's output.
func tapRESPWorkload(t *testing.T, ctx context.Context, m *redistest.Server, w *oracle.Workload, ops, shortOps int, args ...string) string {
	t.Helper()
	mc := m.Client()
	require.NoError(t, w.Preload(ctx, mc))
	out, stderr, stop := inProcessTap(t, append([]string{"--addr", m.Addr, "--format", "resp", "--chunk", "100"}, args...)...)
	waitFile(t, ctx, out, "snapshot", func(b []byte) bool { return bytes.Contains(b, []byte("big1")) })
	if testing.Short() {
		ops = shortOps
	}
	require.NoError(t, w.Run(ctx, mc, ops))
	require.NoError(t, w.Settle(ctx, mc))
	token, err := w.Fence(ctx, mc)
	require.NoError(t, err)
	waitFile(t, ctx, out, "fence", func(b []byte) bool { return bytes.Contains(b, []byte(token)) })
	require.Equal(t, exitOK, stop(), "stderr: %s", stderr.String())
	return out
}

func waitFile(t *testing.T, ctx context.Context, path, what string, cond func([]byte) bool) {
	t.Helper()
	for {
		b, _ := os.ReadFile(path)
		if cond(b) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (%d bytes of output)", what, len(b))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTapInterruptedSnapshot: the connection breaks in the middle of a key
// that arrives in chunks; the tap ends that key's record (every line stays
// valid JSON, and the RESP stream stays whole commands), reports the full
// resync and writes the whole snapshot again.
func TestTapInterruptedSnapshot(t *testing.T) {
	elems := make([]string, 300)
	for i := range elems {
		elems[i] = "element-" + strconv.Itoa(i)
	}
	snap := fakemaster.NewRDB(10).Select(0).Set("a", "1").List("big", elems...).Bytes()
	for _, format := range []string{"jsonl", "resp"} {
		t.Run(format, func(t *testing.T) {
			ctx := tapTestCtx(t)
			m := fakemaster.Start(t, fakemaster.Options{RDB: snap, Payload: func(conn int) fakemaster.Payload {
				if conn == 1 {
					return fakemaster.Payload{TruncateAt: len(snap) - 1500}
				}
				return fakemaster.Payload{}
			}})
			out, stderr, stop := inProcessTap(t, "--addr", m.Addr(), "--chunk", "10", "--format", format)
			for i := 0; i < 2; i++ { // the broken sync, then the good one
				_, err := m.Accept(ctx)
				require.NoError(t, err)
			}
			m.Propagate("SET", "after", "1")
			waitFile(t, ctx, out, "the command after the snapshot", func(b []byte) bool { return bytes.Contains(b, []byte("after")) })
			require.Equal(t, exitOK, stop())
			require.Contains(t, stderr.String(), "disconnected")
			if format == "jsonl" {
				lines := readTapLines(t, out) // every line parses
				var kinds []string
				var lens []int
				for _, l := range lines {
					kinds = append(kinds, l.Kind+":"+l.Mode)
					if l.Kind == "key" && l.Type == "list" {
						var v []string
						require.NoError(t, json.Unmarshal(l.Value, &v))
						lens = append(lens, len(v))
					}
				}
				require.Equal(t, []string{"sync:full", "key:", "key:", "sync:full", "key:", "key:", "cmd:"}, kinds)
				require.Len(t, lens, 2)
				require.Less(t, lens[0], 300, "the interrupted record is partial")
				require.Positive(t, lens[0], "the interrupted key had begun")
				require.Equal(t, 300, lens[1])
				return
			}
			b, err := os.ReadFile(out)
			require.NoError(t, err)
			cmds := parseRESP(t, b)
			var names []string
			for _, c := range cmds {
				if c[0] != "RPUSH" {
					names = append(names, c[0])
				}
			}
			require.Equal(t, []string{"SELECT", "SET", "FLUSHALL", "FUNCTION", "SET", "SET"}, names)
		})
	}
}

// TestTapOptions covers the connection and selection flags against real
// servers: TLS with a client certificate (--cacert --cert --key), a
// password, --snapshot only (the tap exits by itself after the snapshot),
// --snapshot skip with --db, --format none, --insecure, and a wrong
// password.
func TestTapOptions(t *testing.T) {
	ctx := tapTestCtx(t)
	files := redistest.GenerateTLS(t)
	s := redistest.Start(t, redistest.Options{TLS: files, ClientAuth: true, Password: "pw",
		Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := s.Client()
	require.NoError(t, c.Set(ctx, "k0", "v", 0).Err())
	tlsArgs := []string{"--addr", s.Addr, "--password", "pw", "--cacert", files.CACert, "--cert", files.ClientCert, "--key", files.ClientKey}

	t.Run("snapshot only over TLS", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		f, err := os.Create(out)
		require.NoError(t, err)
		defer f.Close()
		var stderr bytes.Buffer
		code := run(ctx, append([]string{"tap", "--snapshot", "only", "--server-name", "localhost"}, tlsArgs...), nil, f, &stderr)
		require.Equal(t, exitOK, code, "%s", stderr.String())
		lines := readTapLines(t, out)
		require.Equal(t, "sync", lines[0].Kind)
		var keys []string
		for _, l := range lines[1:] {
			require.NotEqual(t, "cmd", l.Kind)
			if l.Kind == "key" {
				keys = append(keys, string(bytesOf(t, l.Key)))
			}
		}
		require.Equal(t, []string{"k0"}, keys)
	})

	t.Run("skip and db", func(t *testing.T) {
		out, stderr, stop := inProcessTap(t, append([]string{"--snapshot", "skip", "--db", "1"}, tlsArgs...)...)
		waitLines(t, ctx, out, "sync", func(l []tapLine) bool { return len(l) > 0 })
		c1 := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "pw", DB: 1, TLSConfig: files.ClientConfig(t), Protocol: 2, DisableIdentity: true})
		defer c1.Close()
		require.NoError(t, c.Set(ctx, "in0", "x", 0).Err())
		require.NoError(t, c1.Set(ctx, "in1", "x", 0).Err())
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error { // db 0 only: filtered out whole
			p.Incr(ctx, "n")
			return nil
		})
		require.NoError(t, err)
		require.NoError(t, c1.Set(ctx, "last", "x", 0).Err())
		lines := waitLines(t, ctx, out, "last", func(l []tapLine) bool {
			return len(l) > 0 && l[len(l)-1].Kind == "cmd" && string(l[len(l)-1].args(t)[1]) == "last"
		})
		require.Equal(t, exitOK, stop(), "%s", stderr.String())
		var got []string
		for _, l := range lines {
			require.NotEqual(t, "key", l.Kind, "no snapshot with --snapshot skip")
			if l.Kind == "cmd" {
				require.Equal(t, 1, l.DB)
				got = append(got, string(l.args(t)[1]))
			}
		}
		require.Equal(t, []string{"in1", "last"}, got)
	})

	t.Run("none and insecure", func(t *testing.T) {
		out, stderr, stop := inProcessTap(t, "--addr", s.Addr, "--password", "pw", "--insecure",
			"--cert", files.ClientCert, "--key", files.ClientKey, "--format", "none")
		redistest.WaitFor(t, time.Minute, "sync", func() bool { return strings.Contains(stderr.String(), "full sync") })
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
		require.Equal(t, exitOK, stop())
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Empty(t, b)
		require.Contains(t, stderr.String(), "1 connects (1 full, 0 partial syncs)")
	})

	t.Run("wrong password", func(t *testing.T) {
		var stderr bytes.Buffer
		args := []string{"tap", "--addr", s.Addr, "--password", "nope", "--cacert", files.CACert, "--cert", files.ClientCert, "--key", files.ClientKey}
		code := run(ctx, args, nil, io.Discard, &stderr)
		require.Equal(t, exitError, code)
		require.Contains(t, stderr.String(), "authentication failed")
	})
}
