package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/stretchr/testify/require"
)

// dataset is a snapshot written by a real redis-server for the tests that
// must not depend on the shared corpus.
type dataset struct {
	path string            // a copy of the server's dump.rdb
	srv  *redistest.Server // still running, holding the same data
}

const bigListLen = 100_000

// genDataset fills a fresh server with every type in several databases
// (binary keys, TTLs, a big list, a hash bigger than the default chunk, a
// zset with infinite scores, a stream with a consumer group and pending
// entries), saves it and returns the file.
func genDataset(t *testing.T) dataset {
	t.Helper()
	s := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	conn := s.Client().Conn()
	defer conn.Close()
	do := func(args ...any) {
		t.Helper()
		require.NoError(t, conn.Do(ctx, args...).Err(), "%v", args)
	}
	do("SELECT", 0)
	do("SET", "s1", "hello")
	do("SET", "num", 12345)
	do("SET", "empty", "")
	do("SET", "user:1", "alice")
	do("SET", "user:2", "bob", "PXAT", time.Now().Add(24*time.Hour).UnixMilli())
	do("SET", "\xff\x00bin\"key", "\x00\x01\x02\xfe")
	do("SET", "esc", "quote\" back\\ nl\n tab\t ctl\x01 utf8 é ✓")
	do("RPUSH", "l1", "a", "b", "c", 1, 2, 3)
	big := make([]any, 0, 1002)
	big = append(big, "RPUSH", "biglist")
	for i := 0; i < bigListLen; i++ {
		big = append(big, "element-"+strconv.Itoa(i))
		if len(big) == 1002 {
			do(big...)
			big = big[:2]
		}
	}
	do("SADD", "set1", "x", "y", "z")
	do("SADD", "intset", 1, 2, 3, 100000)
	do("HSET", "h1", "f1", "v1", "f2", "v2")
	hb := []any{"HSET", "bighash"}
	for i := 0; i < 3000; i++ {
		hb = append(hb, "field-"+strconv.Itoa(i), i)
	}
	do(hb...)
	do("HSET", "hbin", "\xfe\xff", "binary field", "ok", "v")
	do("ZADD", "z1", 1, "a", 2.5, "b", "-inf", "lo", "+inf", "hi", 0.1, "tenth", -3e-10, "tiny")
	do("XADD", "st1", "1-1", "f", "v")
	do("XADD", "st1", "2-1", "f", "w", "g", "x")
	do("XADD", "st1", "3-1", "f", "y")
	do("XDEL", "st1", "2-1")
	do("XGROUP", "CREATE", "st1", "grp", "0")
	do("XREADGROUP", "GROUP", "grp", "alice", "COUNT", 1, "STREAMS", "st1", ">")
	do("XGROUP", "CREATECONSUMER", "st1", "grp", "bob")
	do("XADD", "emptystream", "5-5", "f", "v")
	do("XDEL", "emptystream", "5-5")
	do("PEXPIREAT", "l1", time.Now().Add(48*time.Hour).UnixMilli())
	do("SELECT", 1)
	do("SET", "user:3", "carol")
	do("RPUSH", "l2", "only")
	do("SELECT", 2)
	do("HSET", "other", "k", "v")
	do("SAVE")
	p := filepath.Join(t.TempDir(), "gen.rdb")
	data, err := os.ReadFile(filepath.Join(s.Dir, "dump.rdb"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return dataset{path: p, srv: s}
}

// TestDumpGenerated dumps a server-written file and checks the records
// against what the server returns.
func TestDumpGenerated(t *testing.T) {
	ds := genDataset(t)
	for _, chunk := range []string{"", "7"} {
		args := []string{ds.path}
		if chunk != "" {
			args = []string{"--chunk", chunk, ds.path}
		}
		out, stderr, code := dumpT(t, nil, args...)
		require.Equal(t, 0, code, stderr)
		keys := normalizeKeys(t, decodeLines(t, out))
		require.Len(t, keys, 20)

		require.Equal(t, "hello", keys[keyID{0, "s1"}].Value)
		require.Equal(t, "12345", keys[keyID{0, "num"}].Value)
		require.Equal(t, "", keys[keyID{0, "empty"}].Value)
		require.Equal(t, "\x00\x01\x02\xfe", keys[keyID{0, "\xff\x00bin\"key"}].Value)
		require.Equal(t, "quote\" back\\ nl\n tab\t ctl\x01 utf8 é ✓", keys[keyID{0, "esc"}].Value)
		require.Equal(t, []string{"a", "b", "c", "1", "2", "3"}, keys[keyID{0, "l1"}].Value)
		require.NotEmpty(t, keys[keyID{0, "l1"}].Expire)
		require.NotEmpty(t, keys[keyID{0, "user:2"}].Expire)
		require.Empty(t, keys[keyID{0, "user:1"}].Expire)
		bl := keys[keyID{0, "biglist"}].Value.([]string)
		require.Len(t, bl, bigListLen)
		require.Equal(t, "element-99999", bl[bigListLen-1])
		require.Equal(t, []string{"x", "y", "z"}, keys[keyID{0, "set1"}].Value)
		require.Equal(t, []string{"1", "100000", "2", "3"}, keys[keyID{0, "intset"}].Value)
		require.Len(t, keys[keyID{0, "bighash"}].Value, 3000)
		require.Equal(t, map[string]string{"\xfe\xff": "binary field", "ok": "v"}, keys[keyID{0, "hbin"}].Value)
		require.Equal(t, []zmember{{"lo", math.Inf(-1)}, {"tiny", -3e-10}, {"tenth", 0.1}, {"a", 1}, {"b", 2.5}, {"hi", math.Inf(1)}},
			keys[keyID{0, "z1"}].Value)
		require.Equal(t, []string{"only"}, keys[keyID{1, "l2"}].Value)
		require.Equal(t, map[string]string{"k": "v"}, keys[keyID{2, "other"}].Value)

		// Streams: entries and metadata as XINFO STREAM FULL shows them.
		for _, k := range []string{"st1", "emptystream"} {
			info := streams(context.Background(), t, ds.srv.Client(), 0)[k]
			require.NotNil(t, info, k)
			delete(info, "entries")
			groups := info["groups"].([]any)
			for _, g := range groups {
				delete(g.(map[string]any), "lag")
			}
			got := keys[keyID{0, k}]
			require.Equal(t, jsonText(info), jsonText(withoutTimes(t, got.StreamMeta)), k)
		}
		st := keys[keyID{0, "st1"}]
		require.Equal(t, `[["1-1",["f","v"]],["3-1",["f","y"]]]`, jsonText(st.Value))
		meta := jsonText(st.StreamMeta)
		require.Contains(t, meta, `"max-deleted-entry-id":"2-1"`)
		require.Contains(t, meta, `"pending":[["1-1","alice",`)
		require.Contains(t, meta, `"name":"bob"`)
		es := keys[keyID{0, "emptystream"}]
		require.Equal(t, `[]`, jsonText(es.Value))
		require.Contains(t, jsonText(es.StreamMeta), `"last-generated-id":"5-5"`)
	}
}

// withoutTimes drops the consumers' seen-time and active-time from a
// stream_meta, as streams() does for the server's reply.
func withoutTimes(t *testing.T, meta any) any {
	t.Helper()
	m, ok := meta.(map[string]any)
	require.True(t, ok, "%#v", meta)
	for _, g := range m["groups"].([]any) {
		for _, c := range g.(map[string]any)["consumers"].([]any) {
			delete(c.(map[string]any), "seen-time")
			delete(c.(map[string]any), "active-time")
		}
	}
	return m
}

// TestDumpGeneratedRESP rebuilds the generated dataset through RESP with
// small chunks (so every collection takes several commands) and compares
// with the server that wrote it.
func TestDumpGeneratedRESP(t *testing.T) {
	cli := redistest.Binary(t, "redis-cli")
	ds := genDataset(t)
	b := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	for _, chunk := range []string{"1024", "7", "1"} {
		cb := b.Client()
		require.NoError(t, cb.FlushAll(ctx).Err())
		out, stderr, code := dumpT(t, nil, "--format", "resp", "--chunk", chunk, ds.path)
		require.Equal(t, 0, code, stderr)
		pipeInto(t, ctx, cli, b, bytes.NewReader(out))
		ca := ds.srv.Client()
		require.Equal(t, dbSizes(ctx, t, ca), dbSizes(ctx, t, cb))
		require.Equal(t, ca.Do(ctx, "DEBUG", "DIGEST").Val(), cb.Do(ctx, "DEBUG", "DIGEST").Val(), "chunk %s", chunk)
		require.Equal(t, streams(ctx, t, ca, 0), streams(ctx, t, cb, 0))
		for _, k := range []string{"l1", "user:2"} {
			require.Equal(t, ca.PExpireTime(ctx, k).Val(), cb.PExpireTime(ctx, k).Val(), k)
		}
	}
}

// TestDumpFilters: --db, --match and --type give exactly the subsets of the
// full dump; --format none writes nothing on stdout.
func TestDumpFilters(t *testing.T) {
	ds := genDataset(t)
	out, stderr, code := dumpT(t, nil, ds.path)
	require.Equal(t, 0, code, stderr)
	all := normalizeKeys(t, decodeLines(t, out))
	subset := func(keep func(id keyID, k normKey) bool) map[keyID]normKey {
		m := map[keyID]normKey{}
		for id, k := range all {
			if keep(id, k) {
				m[id] = k
			}
		}
		return m
	}
	cases := []struct {
		args []string
		keep func(id keyID, k normKey) bool
		n    int
	}{
		{[]string{"--db", "1"}, func(id keyID, _ normKey) bool { return id.DB == 1 }, 2},
		{[]string{"--db", "1,2"}, func(id keyID, _ normKey) bool { return id.DB >= 1 }, 3},
		{[]string{"--db", "0", "--db", "2"}, func(id keyID, _ normKey) bool { return id.DB != 1 }, 18},
		{[]string{"--db", "7"}, func(keyID, normKey) bool { return false }, 0},
		{[]string{"--match", "user:*"}, func(id keyID, _ normKey) bool { return strings.HasPrefix(id.Key, "user:") }, 3},
		{[]string{"--match", "?1"}, func(id keyID, _ normKey) bool { return len(id.Key) == 2 && id.Key[1] == '1' }, 4},
		{[]string{"--match", "\xff*"}, func(id keyID, _ normKey) bool { return strings.HasPrefix(id.Key, "\xff") }, 1},
		{[]string{"--type", "list,hash"}, func(_ keyID, k normKey) bool { return k.Type == "list" || k.Type == "hash" }, 7},
		{[]string{"--type", "zset", "--type", "stream"}, func(_ keyID, k normKey) bool { return k.Type == "zset" || k.Type == "stream" }, 3},
		{[]string{"--db", "0", "--match", "user:*", "--type", "string"}, func(id keyID, k normKey) bool {
			return id.DB == 0 && strings.HasPrefix(id.Key, "user:") && k.Type == "string"
		}, 2},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			runs := [][]string{append(append([]string{}, c.args...), ds.path)}
			if len(c.args) > 2 {
				// flags after the file name work too
				runs = append(runs, append([]string{ds.path}, c.args...))
			}
			for _, args := range runs {
				out, stderr, code := dumpT(t, nil, args...)
				require.Equal(t, 0, code, stderr)
				got := normalizeKeys(t, decodeLines(t, out))
				want := subset(c.keep)
				require.Len(t, want, c.n)
				require.Empty(t, diffKeys(got, want, 5), "%q", args)
			}
		})
	}

	t.Run("format none", func(t *testing.T) {
		out, stderr, code := dumpT(t, nil, "--format", "none", ds.path)
		require.Equal(t, 0, code, stderr)
		require.Empty(t, out)
		require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		require.Contains(t, stderr, "redtap: dump "+ds.path+": 20 keys, ")
		require.Contains(t, stderr, " MB/s)")

		out, stderr, code = dumpT(t, nil, "--format", "none", "--type", "set", ds.path)
		require.Equal(t, 0, code, stderr)
		require.Empty(t, out)
		require.Contains(t, stderr, ": 2 keys, ")
	})
}

// TestDumpStopsAtEnd: bytes after the snapshot (an AOF tail, the next
// replication data) are not read as part of it: the dump succeeds and, when
// stdin is a bufio.Reader, they are all still in it afterwards.
func TestDumpStopsAtEnd(t *testing.T) {
	ds := genDataset(t)
	file, err := os.ReadFile(ds.path)
	require.NoError(t, err)
	want, stderr, code := dumpT(t, nil, ds.path)
	require.Equal(t, 0, code, stderr)

	junk := []byte("*3\r\n$3\r\nSET\r\n$2\r\nk3\r\n$2\r\nv3\r\n\xff\xfe garbage that is no RDB \x00\x01")
	for _, size := range []int{16, 4096, 1 << 20} {
		in := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(file), bytes.NewReader(junk)), size)
		out, stderr, code := dumpT(t, in, "-")
		require.Equal(t, 0, code, stderr)
		require.Empty(t, stderr)
		require.Equal(t, string(want), string(out))
		rest, err := io.ReadAll(in)
		require.NoError(t, err)
		require.Equal(t, junk, rest, "bufio size %d", size)
	}

	// Any other reader is wrapped; the result is the same.
	out, stderr, code := dumpT(t, bytes.NewReader(append(append([]byte{}, file...), junk...)), "-")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, string(want), string(out))

	// A file with junk appended, read by name.
	p := filepath.Join(t.TempDir(), "junk.rdb")
	require.NoError(t, os.WriteFile(p, append(append([]byte{}, file...), junk...), 0o600))
	out, stderr, code = dumpT(t, nil, p)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, string(want), string(out))
}

// TestDumpBadInput: damaged files exit 1 with one line on stderr.
func TestDumpBadInput(t *testing.T) {
	ds := genDataset(t)
	file, err := os.ReadFile(ds.path)
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	flipped := append([]byte{}, file...)
	flipped[len(flipped)/2] ^= 0x40
	crc := append([]byte{}, file...)
	crc[len(crc)-1] ^= 1
	cases := map[string]struct {
		path string
		want string
	}{
		"truncated": {write("trunc.rdb", file[:len(file)/2]), "unexpected EOF"},
		"no crc":    {write("nocrc.rdb", file[:len(file)-8]), "unexpected EOF"},
		"bad crc":   {write("crc.rdb", crc), "checksum mismatch"},
		"flipped":   {write("flip.rdb", flipped), "rdb: "},
		"empty":     {write("empty.rdb", nil), "unexpected EOF"},
		"not rdb":   {write("text.rdb", []byte("hello world, this is not a snapshot\n")), "bad magic"},
		"missing":   {filepath.Join(dir, "does-not-exist.rdb"), "no such file or directory"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, format := range []string{"jsonl", "resp", "none"} {
				out, stderr, code := dumpT(t, nil, "--format", format, c.path)
				require.Equal(t, exitError, code, stderr)
				require.Equal(t, 1, strings.Count(stderr, "\n"), "%q", stderr)
				require.True(t, strings.HasPrefix(stderr, "redtap: dump "+c.path+": "), "%q", stderr)
				require.Contains(t, stderr, c.want)
				if format == "none" {
					require.Empty(t, out)
				}
			}
		})
	}
	t.Run("stdin", func(t *testing.T) {
		_, stderr, code := dumpT(t, bytes.NewReader(file[:100]), "-")
		require.Equal(t, exitError, code)
		require.True(t, strings.HasPrefix(stderr, "redtap: dump -: rdb: "), "%q", stderr)
	})
}

func TestUsage(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, exitUsage, "", "Usage: redtap"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"help"}, exitOK, "Usage: redtap", ""},
		{[]string{"help", "dump"}, exitOK, "", "Usage: redtap dump"},
		{[]string{"dump"}, exitUsage, "", "missing FILE"},
		{[]string{"dump", "-h"}, exitOK, "", "Usage: redtap dump"},
		{[]string{"dump", "a.rdb", "b.rdb"}, exitUsage, "", "one FILE expected"},
		{[]string{"dump", "--format", "xml", "a.rdb"}, exitUsage, "", `unknown --format "xml"`},
		{[]string{"dump", "--db", "x", "a.rdb"}, exitUsage, "", "bad database number"},
		{[]string{"dump", "--db", "-1", "a.rdb"}, exitUsage, "", "bad database number"},
		{[]string{"dump", "--type", "blob", "a.rdb"}, exitUsage, "", `bad type "blob"`},
		{[]string{"dump", "--chunk", "0", "a.rdb"}, exitUsage, "", "--chunk 0"},
		{[]string{"dump", "--no-such-flag", "a.rdb"}, exitUsage, "", "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, strings.NewReader(""), &out, &errb)
			require.Equal(t, c.code, code, "stderr: %s", errb.String())
			if c.stdout != "" {
				require.Contains(t, out.String(), c.stdout)
			} else {
				require.Empty(t, out.String())
			}
			if c.stderr != "" {
				require.Contains(t, errb.String(), c.stderr)
			}
		})
	}
}

// failWriter accepts n bytes, then fails every write with err.
type failWriter struct {
	n      int
	err    error
	writes int
	max    int
}

func (w *failWriter) Write(p []byte) (int, error) {
	w.writes++
	w.max = max(w.max, len(p))
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	n := w.n
	w.n = 0
	return n, w.err
}

// TestDumpWriteErrors: a reader that went away (EPIPE, `| head`) ends the
// dump quietly; other write errors are reported.
func TestDumpWriteErrors(t *testing.T) {
	ds := genDataset(t)
	var errb bytes.Buffer
	w := &failWriter{n: 100_000, err: &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}}
	code := run(context.Background(), []string{"dump", ds.path}, nil, w, &errb)
	require.Equal(t, exitOK, code)
	require.Empty(t, errb.String())
	require.Less(t, w.writes, 10, "the dump must stop at the first failed write")

	errb.Reset()
	w = &failWriter{n: 100_000, err: errors.New("disk full")}
	code = run(context.Background(), []string{"dump", "--format", "resp", ds.path}, nil, w, &errb)
	require.Equal(t, exitError, code)
	require.Equal(t, "redtap: dump "+ds.path+": write output: disk full\n", errb.String())
}

// TestDumpStreamsBigKeys: a 100,000-element list is written in pieces no
// larger than the output buffer, never as one piece per key.
func TestDumpStreamsBigKeys(t *testing.T) {
	ds := genDataset(t)
	for _, format := range []string{"jsonl", "resp"} {
		w := &failWriter{n: math.MaxInt}
		var errb bytes.Buffer
		code := run(context.Background(), []string{"dump", "--format", format, "--match", "biglist", ds.path}, nil, w, &errb)
		require.Equal(t, exitOK, code, errb.String())
		require.Greater(t, w.writes, 5, format)
		require.LessOrEqual(t, w.max, outBufSize, format)
	}
}

// TestDumpCanceled: a canceled context stops the dump with an error.
func TestDumpCanceled(t *testing.T) {
	ds := genDataset(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"dump", ds.path}, nil, &out, &errb)
	require.Equal(t, exitError, code)
	require.Equal(t, fmt.Sprintf("redtap: dump %s: context canceled\n", ds.path), errb.String())
}

// TestBinaryBrokenPipe builds the command and closes its stdout early, as
// `redtap dump FILE | head -c 100` does: it must end quietly with status 0.
func TestBinaryBrokenPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ds := genDataset(t)
	bin := buildRedtap(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dump", ds.path)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	head := make([]byte, 100)
	_, err = io.ReadFull(stdout, head)
	require.NoError(t, err)
	require.NoError(t, stdout.Close())
	err = cmd.Wait()
	require.NoError(t, err, "stderr: %s", errb.String())
	require.Empty(t, errb.String())
	require.True(t, bytes.HasPrefix(head, []byte(`{"kind":"aux"`)), "%s", head)
}
