package rdb

import (
	"bufio"
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/stretchr/testify/require"
)

// corpusOutcome is how a corpus file that does not simply decode behaves.
type corpusOutcome struct {
	strict error  // the sentinel a default decode fails with (nil: decodes)
	future error  // the same with WithFutureVersions (nil: decodes)
	sameAs string // whose expected contents it has, when it has none itself
	why    string
}

// corpusOutcomes lists the corpus files that are not plain decodable
// snapshots, with the documented typed error each must fail with.
var corpusOutcomes = map[string]corpusOutcome{
	"redis/corrupt_ziplist.rdb": {strict: ErrCorrupt, future: ErrCorrupt,
		why: "hash ziplist deliberately corrupted, checksum disabled (corrupt-dump.tcl #3505)"},
	"hdt3213-rdb/zipmap_big_len.rdb": {strict: ErrCorrupt, future: ErrCorrupt,
		why: "zipmap count byte edited to 0xff; Redis refuses it (zipmap integrity check)"},
	"redis-replicator/module.rdb": {strict: ErrUnsupportedType, future: ErrUnsupportedType,
		why: "pre-GA module value (type 6) has no framing and cannot be skipped"},
	"valkey/encodings-rdb75-unknown-types.rdb": {strict: ErrUnsupportedVersion, future: ErrUnsupportedType,
		why: "REDIS0075 (a 'foreign' version) with an unknown value type 150"},
	"valkey/encodings-rdb987-unknown-types.rdb": {strict: ErrUnsupportedVersion, future: ErrUnsupportedType,
		why: "VALKEY987 (future) with an unknown value type 150"},
	"valkey/encodings-rdb987.rdb": {strict: ErrUnsupportedVersion, sameAs: "redis/encodings.rdb",
		why: "redis/encodings.rdb with a VALKEY987 header: needs WithFutureVersions"},
}

// corpusNotesExpected holds the contents of files no server could load,
// as their .notes.md describe them.
var corpusNotesExpected = map[string][]canon{
	"hdt3213-rdb/valkey_hash2_with_hfe.rdb": {{Key: "hash2-hfe", Type: "hash", Expire: -1,
		Hash:        map[string]string{"F1": "V1", "F2": "V2", "F3": "V3"},
		FieldExpire: map[string]int64{"F1": 2715785640000, "F2": 2400425640000}}},
}

// corpusIgnoredKey reports keys a file holds that the server did not keep
// on load, so they are missing from the expected contents.
func corpusIgnoredKey(k *key) bool {
	switch k.Type {
	case TypeModule:
		return true // no server with the module produced expected output
	case TypeList, TypeSet, TypeZSet, TypeHash:
		return k.count() == 0 // Redis drops empty collections on load
	}
	return false
}

var (
	reModules   = regexp.MustCompile(`modules: ([^;]+)`)
	reModule    = regexp.MustCompile(`([A-Za-z0-9_-]{9})\(ver (\d+)\)( \[aux\])?`)
	reTrailing  = regexp.MustCompile(`(\d+) bytes after checksum`)
	reNoCRC     = regexp.MustCompile(`checksum zero`)
	reRDBHeader = regexp.MustCompile(`^(REDIS|VALKEY)0*(\d+)$`)
)

func TestCorpusDecode(t *testing.T) {
	dir := corpus.Dir(t)
	// The two 4 MB files make millions of small objects; under -race the
	// collector then dominates. Collect less often while this test runs.
	defer debug.SetGCPercent(debug.SetGCPercent(800))
	rows := corpus.Manifest(t, dir)
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.File] = true
		t.Run(r.File, func(t *testing.T) {
			t.Parallel()
			b := corpus.Read(t, dir, r.File)
			out, special := corpusOutcomes[r.File]
			chunk := 0 // the default
			if len(b) < 64<<10 {
				chunk = 5 // many chunks, cheap on small files
			}
			futures := []bool{false}
			if special {
				futures = append(futures, true)
			}
			for _, future := range futures {
				var opts []Option
				want := out.strict
				if future {
					opts = append(opts, WithFutureVersions())
					want = out.future
				}
				s, err := decodeAll(bufio.NewReader(bytes.NewReader(b)), chunk, opts...)
				if special && want != nil {
					require.Error(t, err, "future=%v: %s", future, out.why)
					require.ErrorIs(t, err, want, "future=%v", future)
					require.NoError(t, checkDecodeError(err, len(b)))
					continue
				}
				require.NoError(t, err, "future=%v", future)
				checkCorpusSnapshot(t, r, b, s)
				sameAs := r.File
				if out.sameAs != "" {
					sameAs = out.sameAs
				}
				compareExpected(t, filepath.Join(dir, sameAs), s)
				if want, ok := corpusNotesExpected[r.File]; ok {
					require.Equal(t, want, canonOfSnapshot(s))
				}
			}
		})
	}
	for f := range corpusOutcomes {
		require.True(t, seen[f], "%s is not in the MANIFEST", f)
	}
}

func checkCorpusSnapshot(t *testing.T, r corpus.Row, b []byte, s *snapshot) {
	t.Helper()
	// header
	m := reRDBHeader.FindStringSubmatch(r.Header)
	require.NotNil(t, m, "MANIFEST header %q", r.Header)
	require.Equal(t, m[1], s.Header.Magic)
	require.Equal(t, m[2], strconv.Itoa(s.Header.Version))
	// keys column: top-level key records
	if n, err := strconv.Atoi(r.Keys); err == nil {
		require.Len(t, s.Keys, n, "key records")
	}
	// size and trailing bytes
	trailing := 0
	if tm := reTrailing.FindStringSubmatch(r.Notes); tm != nil {
		trailing, _ = strconv.Atoi(tm[1])
	}
	require.Equal(t, int64(len(b)-trailing), s.End.Size, "snapshot size")
	// checksum
	switch {
	case s.Header.Version < 5:
		require.False(t, s.End.Verified)
	case reNoCRC.MatchString(r.Notes):
		require.Zero(t, s.End.Checksum)
		require.False(t, s.End.Verified)
	default:
		require.True(t, s.End.Verified, "checksum present and verified")
		require.Equal(t, Checksum(b[:s.End.Size-8]), s.End.Checksum)
	}
	// value types present
	if r.Types != "-" {
		var want []int
		for _, f := range strings.Split(r.Types, ",") {
			n, err := strconv.Atoi(f)
			require.NoError(t, err)
			want = append(want, n)
		}
		got := map[int]bool{}
		for _, k := range s.Keys {
			e := int(k.Encoding)
			if k.Encoding == EncValkeyHash2 {
				e = int(EncHashMetadataPreGA)
			}
			got[e] = true
		}
		var gotList []int
		for e := range got {
			gotList = append(gotList, e)
		}
		sort.Ints(gotList)
		require.Equal(t, want, gotList, "value types")
	}
	// module names
	var wantMods, wantAux []string
	if mm := reModules.FindStringSubmatch(r.Notes); mm != nil {
		for _, x := range reModule.FindAllStringSubmatch(mm[1], -1) {
			if x[3] != "" {
				wantAux = append(wantAux, x[1]+"/"+x[2])
			} else {
				wantMods = append(wantMods, x[1]+"/"+x[2])
			}
		}
	}
	gotMods := map[string]bool{}
	for _, k := range s.Keys {
		if k.Type == TypeModule {
			require.NotNil(t, k.Module)
			require.NotEmpty(t, k.Module.Raw, "module value bytes")
			require.Equal(t, byte(0), k.Module.Raw[len(k.Module.Raw)-1], "module value ends with the EOF opcode")
			gotMods[k.Module.Name+"/"+strconv.FormatUint(k.Module.Version, 10)] = true
		}
	}
	for _, w := range wantMods {
		require.True(t, gotMods[w], "module %s in %v", w, gotMods)
	}
	require.Len(t, gotMods, len(wantMods), "module types %v", gotMods)
	var gotAux []string
	for _, a := range s.ModuleAux {
		gotAux = append(gotAux, a.Name+"/"+strconv.FormatUint(a.Version, 10))
	}
	require.Equal(t, wantAux, gotAux, "module aux")
}

// compareExpected compares a decoded snapshot with <path>.expected.jsonl
// when the corpus has one.
func compareExpected(t *testing.T, path string, s *snapshot) {
	t.Helper()
	want, ok, err := readExpected(path)
	require.NoError(t, err)
	if !ok {
		return
	}
	var got []canon
	encs := map[string]Encoding{}
	for _, k := range s.Keys {
		if corpusIgnoredKey(k) {
			continue
		}
		c := canonOf(k)
		got = append(got, c)
		encs[strconv.Itoa(k.DB)+"/"+k.Key] = k.Encoding
	}
	sortCanon(got)
	sortCanon(want)
	require.Equal(t, len(want), len(got), "keys")
	for i := range want {
		g, w := got[i], want[i]
		maskMeta(g.Meta, w.Meta, encs[strconv.Itoa(g.DB)+"/"+g.Key])
		if !reflect.DeepEqual(w, g) { // require.Equal only to report
			require.Equal(t, w, g, "key %d %q", g.DB, g.Key)
		}
	}
}

// TestCorpusNegativeFiles checks the negative files once more through a
// plain io.Reader and one byte per read.
func TestCorpusNegativeFiles(t *testing.T) {
	dir := corpus.Dir(t)
	for f, out := range corpusOutcomes {
		if out.strict == nil {
			continue
		}
		b := corpus.Read(t, dir, f)
		_, err := decodeAll(onlyReader{bytes.NewReader(b)}, 0)
		require.ErrorIs(t, err, out.strict, f)
		var re *Error
		require.True(t, errors.As(err, &re), f)
		require.NotEmpty(t, re.Op, f)
	}
}
