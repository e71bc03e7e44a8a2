package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/stretchr/testify/require"
)

// conformanceAllowlist lists corpus files whose dump may differ from their
// expected file, each with the reason. Keep it empty: a parser should match
// what the server loaded, except where the MANIFEST says a server's load
// differs from the file (and those cases are already handled: empty keys
// are skipped like Redis skips them, the AOF tail after rdb-preamble.aof's
// RDB part is not read).
var conformanceAllowlist = map[string]string{}

// corpusFiles lists the corpus's dump files (relative paths).
func corpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "_reports" {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, ".rdb") || strings.HasSuffix(name, ".aof") {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(files)
	require.NotEmpty(t, files)
	return files
}

// expectedFile returns the path of a corpus file's expected output, or "".
func expectedFile(dir, rel string) string {
	for _, ext := range []string{".expected.jsonl", ".expected.jsonl.gz"} {
		p := filepath.Join(dir, rel+ext)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Files without an expected output, each covered by a test below.
var (
	corruptFiles = []string{
		"redis/corrupt_ziplist.rdb",
		"hdt3213-rdb/zipmap_big_len.rdb",
		"valkey/encodings-rdb75-unknown-types.rdb",
		"valkey/encodings-rdb987-unknown-types.rdb",
	}
	moduleFiles = map[string][]moduleKey{
		"keydb/redis-module-save.rdb": {
			{"key1", "test___dt"}, {"key2", "test___dt"}, {"key3", "test___dt"}, {"key4", "test___dt"}, {"key5", "test___dt"},
		},
		"redis-replicator/dump-module-2.rdb": {{"", "hellotype"}},
		// the notes name 'complex'; the file (2 key records) also holds 'simple'
		"redisjson/backward.rdb":                       {{"complex", "ReJSON-RL"}, {"simple", "ReJSON-RL"}},
		"dragonfly/redis_json.rdb":                     {{"json-str", "ReJSON-RL"}, {"json-arr", "ReJSON-RL"}, {"json-obj", "ReJSON-RL"}},
		"redis-rdb-tools/redis_40_with_module.rdb":     {{"foo", "ReJSON-RL"}},
		"redis-rdb-tools/redis_60_with_module_aux.rdb": nil,
	}
	preGAModuleFile = "redis-replicator/module.rdb"
	futureFile      = "valkey/encodings-rdb987.rdb"
	hash2File       = "hdt3213-rdb/valkey_hash2_with_hfe.rdb"
)

type moduleKey struct{ key, module string }

// TestCorpusConformance dumps every corpus file that has an expected output
// and compares key by key: sets sorted, hashes as maps, zset scores
// numerically, streams and their metadata exactly. It runs twice per file:
// with the default chunk size and with chunks of 3 elements, which makes
// every larger key span several chunks (files under 1 MiB).
func TestCorpusConformance(t *testing.T) {
	dir := corpus.Dir(t)
	n := 0
	for _, rel := range corpusFiles(t, dir) {
		exp := expectedFile(dir, rel)
		if exp == "" {
			continue
		}
		n++
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			want := normalizeKeys(t, decodeLines(t, readExpected(t, exp)))
			chunks := []string{"", "3"}
			if fi, err := os.Stat(filepath.Join(dir, rel)); err == nil && fi.Size() > 1<<20 {
				// The big files already span many chunks at the default
				// size; chunks of 3 would only make the run slow.
				chunks = chunks[:1]
			}
			for _, chunk := range chunks {
				args := []string{filepath.Join(dir, rel)}
				if chunk != "" {
					args = append([]string{"--chunk", chunk}, args...)
				}
				out, stderr, code := dumpT(t, nil, args...)
				if reason, ok := conformanceAllowlist[rel]; ok {
					t.Skipf("allowlisted: %s", reason)
				}
				require.Equal(t, 0, code, "dump %v: %s", args, stderr)
				require.Empty(t, stderr)
				got := normalizeKeys(t, decodeLines(t, out))
				if diffs := diffKeys(got, want, 10); len(diffs) > 0 {
					t.Fatalf("dump %v differs from %s:\n%s", args, filepath.Base(exp), strings.Join(diffs, "\n"))
				}
			}
		})
	}
	require.NotZero(t, n, "no expected files in %s", dir)
	t.Logf("%d corpus files with expected output", n)
}

// TestCorpusAllFilesCovered makes sure a file added to the corpus gets a
// test: either an expected output or an entry in one of the lists above.
func TestCorpusAllFilesCovered(t *testing.T) {
	dir := corpus.Dir(t)
	for _, rel := range corpusFiles(t, dir) {
		_, mod := moduleFiles[rel]
		covered := expectedFile(dir, rel) != "" || mod || slices.Contains(corruptFiles, rel) ||
			rel == preGAModuleFile || rel == futureFile || rel == hash2File
		require.True(t, covered, "corpus file %s has no expected output and no test", rel)
	}
}

// oneLineError checks a failed dump: exit code 1, nothing on stdout but
// complete records (no line cut short), exactly one line on stderr naming
// the file.
func oneLineError(t *testing.T, path string, out []byte, stderr string, code int) {
	t.Helper()
	require.Equal(t, exitError, code, "stderr: %s", stderr)
	require.True(t, strings.HasSuffix(stderr, "\n"), "stderr %q", stderr)
	require.Equal(t, 1, strings.Count(stderr, "\n"), "stderr %q", stderr)
	require.True(t, strings.HasPrefix(stderr, "redtap: dump "+path+": rdb: "), "stderr %q", stderr)
	require.True(t, len(out) == 0 || bytes.HasSuffix(out, []byte("\n")), "stdout ends mid-record: %q", out[max(0, len(out)-80):])
}

func TestCorpusCorruptFiles(t *testing.T) {
	dir := corpus.Dir(t)
	for _, rel := range corruptFiles {
		t.Run(rel, func(t *testing.T) {
			p := filepath.Join(dir, rel)
			for _, args := range [][]string{{p}, {"--future-versions", p}, {"--format", "none", p}, {"--format", "resp", p}} {
				out, stderr, code := dumpT(t, nil, args...)
				oneLineError(t, p, out, stderr, code)
				t.Logf("%v: %s", args[:len(args)-1], strings.TrimSpace(stderr))
			}
		})
	}
}

func TestCorpusPreGAModule(t *testing.T) {
	dir := corpus.Dir(t)
	p := filepath.Join(dir, preGAModuleFile)
	out, stderr, code := dumpT(t, nil, p)
	oneLineError(t, p, out, stderr, code)
	require.Contains(t, stderr, "pre-GA module")
	require.Contains(t, stderr, "unsupported type")
}

// TestCorpusFutureVersion: VALKEY987 is refused by default and, with
// --future-versions, holds the same content as redis/encodings.rdb.
func TestCorpusFutureVersion(t *testing.T) {
	dir := corpus.Dir(t)
	p := filepath.Join(dir, futureFile)
	out, stderr, code := dumpT(t, nil, p)
	oneLineError(t, p, out, stderr, code)
	require.Contains(t, stderr, "unsupported version")
	require.Empty(t, out)

	out, stderr, code = dumpT(t, nil, "--future-versions", p)
	require.Equal(t, 0, code, stderr)
	got := normalizeKeys(t, decodeLines(t, out))
	want := normalizeKeys(t, decodeLines(t, readExpected(t, filepath.Join(dir, "redis/encodings.rdb.expected.jsonl"))))
	require.Len(t, want, 13)
	require.Empty(t, diffKeys(got, want, 10))
}

// TestCorpusModules: module values decode to opaque records naming their
// module type; module aux data to a module_aux record.
func TestCorpusModules(t *testing.T) {
	dir := corpus.Dir(t)
	for rel, keys := range moduleFiles {
		t.Run(rel, func(t *testing.T) {
			p := filepath.Join(dir, rel)
			out, stderr, code := dumpT(t, nil, p)
			require.Equal(t, 0, code, stderr)
			recs := decodeLines(t, out)
			var got []moduleKey
			var aux []string
			for _, r := range recs {
				switch r["kind"] {
				case "key":
					if r["type"] != "module" {
						continue
					}
					v, ok := r["value"].(map[string]any)
					require.True(t, ok, "%v", r)
					raw, err := corpus.String(v["raw"])
					require.NoError(t, err)
					require.NotEmpty(t, raw)
					require.Equal(t, byte(0), raw[len(raw)-1], "module value must end with the EOF opcode")
					k, err := corpus.String(r["key"])
					require.NoError(t, err)
					got = append(got, moduleKey{k, v["module"].(string)})
				case "module_aux":
					aux = append(aux, r["module"].(string))
				}
			}
			if keys == nil {
				require.Empty(t, got)
				require.Equal(t, []string{"test__rdb"}, aux)
				return
			}
			if len(keys) == 1 && keys[0].key == "" {
				// the notes name the module type, not the key
				require.Len(t, got, 1)
				require.Equal(t, keys[0].module, got[0].module)
				return
			}
			require.ElementsMatch(t, keys, got)
		})
	}
	// redis_40_with_module.rdb also holds a plain string key, and 40 bytes
	// after its (zero) checksum that must not be read.
	out, _, code := dumpT(t, nil, filepath.Join(dir, "redis-rdb-tools/redis_40_with_module.rdb"))
	require.Equal(t, 0, code)
	keys := normalizeKeys(t, decodeLines(t, out))
	require.Contains(t, keys, keyID{0, "simplekey"})
}

// TestCorpusValkeyHash2 checks the Valkey 9 hash with field TTLs against
// its notes: hash2-hfe = {F1: V1, F2: V2, F3: V3}, field TTLs
// F1=2715785640000, F2=2400425640000, F3 none.
func TestCorpusValkeyHash2(t *testing.T) {
	dir := corpus.Dir(t)
	p := filepath.Join(dir, hash2File)
	for _, chunk := range []string{"1024", "1"} {
		out, stderr, code := dumpT(t, nil, "--chunk", chunk, p)
		require.Equal(t, 0, code, stderr)
		keys := normalizeKeys(t, decodeLines(t, out))
		require.Len(t, keys, 1)
		k, ok := keys[keyID{0, "hash2-hfe"}]
		require.True(t, ok, "%v", keys)
		require.Equal(t, "hash", k.Type)
		require.Equal(t, "", k.Expire)
		require.Equal(t, map[string]string{"F1": "V1", "F2": "V2", "F3": "V3"}, k.Value)
		require.Equal(t, map[string]string{"F1": "2715785640000", "F2": "2400425640000"}, k.FieldExpire)
	}
	// In one chunk the hash is an object with a field_expire_ms object.
	out, _, _ := dumpT(t, nil, p)
	var rec map[string]any
	for _, r := range decodeLines(t, out) {
		if r["kind"] == "key" {
			rec = r
		}
	}
	require.Equal(t, map[string]any{"F1": "V1", "F2": "V2", "F3": "V3"}, rec["value"])
	require.Equal(t, map[string]any{"F1": json.Number("2715785640000"), "F2": json.Number("2400425640000")}, rec["field_expire_ms"])
}

// TestCorpusKeepEmpty: the keys Redis drops on load because their
// collection is empty appear with --keep-empty.
func TestCorpusKeepEmpty(t *testing.T) {
	dir := corpus.Dir(t)
	p := filepath.Join(dir, "redis/corrupt_empty_keys.rdb")
	out, stderr, code := dumpT(t, nil, p)
	require.Equal(t, 0, code, stderr)
	require.Empty(t, normalizeKeys(t, decodeLines(t, out)))

	for _, chunk := range []string{"1024", "1"} {
		out, stderr, code = dumpT(t, nil, "--keep-empty", "--chunk", chunk, p)
		require.Equal(t, 0, code, stderr)
		keys := normalizeKeys(t, decodeLines(t, out))
		var names []string
		for id, k := range keys {
			names = append(names, id.Key)
			switch v := k.Value.(type) {
			case []string:
				require.Empty(t, v, id.Key)
			case []zmember:
				require.Empty(t, v, id.Key)
			case map[string]string:
				require.Empty(t, v, id.Key)
			default:
				t.Fatalf("%v: value %#v", id, k.Value)
			}
		}
		require.ElementsMatch(t, []string{"set", "hash", "list_ziplist", "zset", "zset_listpack", "hash_ziplist",
			"list_quicklist", "zset_ziplist", "list_quicklist_empty_ziplist"}, names)
	}

	// RESP cannot create empty collections: nothing to write.
	out, stderr, code = dumpT(t, nil, "--keep-empty", "--format", "resp", p)
	require.Equal(t, 0, code, stderr)
	require.Empty(t, out)
}

// TestCorpusFilters dumps every corpus file once per type and once per
// database with filters: each filtered dump must be exactly its subset of
// the full dump. This drives the decoder's skip path (keys rejected by a
// filter are skipped undecoded) over every encoding in the corpus.
func TestCorpusFilters(t *testing.T) {
	dir := corpus.Dir(t)
	for _, rel := range corpusFiles(t, dir) {
		if expectedFile(dir, rel) == "" {
			continue
		}
		p := filepath.Join(dir, rel)
		if fi, err := os.Stat(p); err != nil || fi.Size() > 1<<20 {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			out, stderr, code := dumpT(t, nil, p)
			require.Equal(t, 0, code, stderr)
			all := normalizeKeys(t, decodeLines(t, out))
			dbs := map[int]bool{}
			for id := range all {
				dbs[id.DB] = true
			}
			check := func(keep func(keyID, normKey) bool, args ...string) {
				t.Helper()
				out, stderr, code := dumpT(t, nil, append(args, p)...)
				require.Equal(t, 0, code, "%v: %s", args, stderr)
				want := map[keyID]normKey{}
				for id, k := range all {
					if keep(id, k) {
						want[id] = k
					}
				}
				diffs := diffKeys(normalizeKeys(t, decodeLines(t, out)), want, 5)
				require.Empty(t, diffs, "%v", args)
			}
			for _, typ := range []string{"string", "list", "set", "zset", "hash", "stream"} {
				check(func(_ keyID, k normKey) bool { return k.Type == typ }, "--type", typ)
			}
			for db := range dbs {
				check(func(id keyID, _ normKey) bool { return id.DB == db }, "--db", strconv.Itoa(db))
			}
			check(func(id keyID, _ normKey) bool { return strings.HasSuffix(id.Key, "1") }, "--match", "*1")
		})
	}
}
