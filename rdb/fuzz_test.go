package rdb

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/stretchr/testify/require"
)

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false,
	"rewrite testdata/fuzz/FuzzDecoder from REDTAP_CORPUS and the hand-built files")

// FuzzDecoder decodes arbitrary bytes several ways: through a bufio.Reader
// and through a plain reader, with small chunks and with filters. It must
// never panic; every error must be an *Error matching a documented
// sentinel; the decoder never reads ahead of what it consumed from a plain
// reader and leaves the rest in a bufio.Reader; and what decodes without
// filters decodes the same with them.
func FuzzDecoder(f *testing.F) {
	for _, sy := range synthFiles() {
		if len(sy.data) < 4096 {
			f.Add(sy.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFuzzInput(t, data)
	})
}

func checkFuzzInput(t *testing.T, data []byte) {
	ctx := context.Background()
	limit := WithMaxStringLen(8 << 20) // keep single executions small

	// (a) bufio: whatever follows the snapshot stays in the reader
	br := bufio.NewReaderSize(bytes.NewReader(data), 16)
	full, errA := decodeAll(br, 0, limit)
	if errA != nil {
		if err := checkDecodeError(errA, len(data)); err != nil {
			t.Fatal(err)
		}
	} else {
		rest, _ := io.ReadAll(br)
		if int(full.End.Size)+len(rest) != len(data) || !bytes.Equal(rest, data[full.End.Size:]) {
			t.Fatalf("bufio: snapshot of %d bytes, %d bytes left of %d", full.End.Size, len(rest), len(data))
		}
	}

	// (b) plain reader, one element per chunk: never reads ahead
	cr := &countingReader{r: bytes.NewReader(data)}
	d, err := NewDecoder(onlyReader{cr}, WithChunkSize(1), limit)
	require.NoError(t, err)
	var errB error
	for {
		_, err := d.Next(ctx)
		// After a record the decoder has read exactly what it consumed;
		// a failed read may have taken a few bytes it does not count.
		if err == nil && d.BytesRead() != cr.n || d.BytesRead() > cr.n || cr.n > int64(len(data)) {
			t.Fatalf("offset %d, %d bytes read, input %d (err %v)", d.BytesRead(), cr.n, len(data), err)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			errB = err
			if err := checkDecodeError(err, len(data)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if (errA == nil) != (errB == nil) {
		t.Fatalf("bufio decode: %v; plain reader, chunk 1: %v", errA, errB)
	}

	// (c) filters take the skip path: a snapshot that decodes whole also
	// decodes filtered, to the same size, keeping the same keys
	for i, opts := range [][]Option{
		{WithFilter(func(int, []byte, Type) bool { return false })},
		{WithTypes(TypeString, TypeHash)},
		{WithMatch("*[a-k]*")},
	} {
		s, err := decodeAll(bytes.NewReader(data), 1+2*i, append(opts, limit)...)
		if err != nil {
			if e := checkDecodeError(err, len(data)); e != nil {
				t.Fatal(e)
			}
			if errA == nil {
				t.Fatalf("filter %d: %v, without filters no error", i, err)
			}
			continue
		}
		if errA != nil {
			continue // a value the filter skipped may be corrupt
		}
		if s.End.Size != full.End.Size {
			t.Fatalf("filter %d: size %d, without filters %d", i, s.End.Size, full.End.Size)
		}
		var want []canon
		for _, k := range full.Keys {
			if filtersAccept(t, opts, k) {
				want = append(want, canonOf(k))
			}
		}
		var got []canon
		for _, k := range s.Keys {
			got = append(got, canonOf(k))
		}
		require.Equal(t, want, got, "filter %d", i)
	}
}

// TestFuzzSeeds runs the committed seed corpus through the checks even when
// the fuzzer is not run (go test runs it as FuzzDecoder's seeds too; this
// makes a missing or unreadable corpus fail loudly).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecoder")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ents), 20)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		data, err := parseFuzzSeed(b)
		require.NoError(t, err, e.Name())
		require.LessOrEqual(t, len(data), 4096, e.Name())
	}
}

// parseFuzzSeed reads a "go test fuzz v1" file holding one []byte.
func parseFuzzSeed(b []byte) ([]byte, error) {
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		return nil, fmt.Errorf("not a fuzz corpus file")
	}
	lit := strings.TrimSpace(lines[1])
	if !strings.HasPrefix(lit, "[]byte(") || !strings.HasSuffix(lit, ")") {
		return nil, fmt.Errorf("not a []byte value: %.40s", lit)
	}
	s, err := strconv.Unquote(lit[len("[]byte(") : len(lit)-1])
	return []byte(s), err
}

func fuzzSeed(data []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n")
}

// TestWriteFuzzSeeds regenerates the seed corpus with -write-fuzz-seeds:
// corpus files under 4 KiB whose licence is MIT, BSD or Apache (never the
// BUSL or RSAL ones), picked greedily to cover every header, value type and
// opcode the MANIFEST lists, plus the corrupt ones, plus the hand-built
// files.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeFuzzSeeds {
		t.Skip("run with -write-fuzz-seeds to regenerate the seed corpus")
	}
	cdir := corpus.Dir(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzDecoder")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	old, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range old { // the generated seeds; found crashers stay
		if strings.HasPrefix(e.Name(), "corpus_") || strings.HasPrefix(e.Name(), "synth_") {
			require.NoError(t, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	write := func(name string, data []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), fuzzSeed(data), 0o644))
	}

	type cand struct {
		row   corpus.Row
		data  []byte
		feats []string
	}
	var cands []cand
	for _, r := range corpus.Manifest(t, cdir) {
		lic := r.License
		if !(strings.Contains(lic, "MIT") || strings.Contains(lic, "BSD") || strings.Contains(lic, "Apache")) ||
			strings.Contains(lic, "BUSL") || strings.Contains(lic, "RSAL") {
			continue
		}
		b := corpus.Read(t, cdir, r.File)
		if len(b) >= 4096 {
			continue
		}
		feats := []string{"hdr:" + r.Header}
		for _, x := range strings.Split(r.Types+","+r.Ops, ",") {
			if x = strings.TrimSpace(x); x != "" && x != "-" {
				feats = append(feats, x)
			}
		}
		if _, bad := corpusOutcomes[r.File]; bad {
			feats = append(feats, "negative:"+r.File)
		}
		cands = append(cands, cand{r, b, feats})
	}
	sort.Slice(cands, func(i, j int) bool { return len(cands[i].data) < len(cands[j].data) })
	covered := map[string]bool{}
	picked := 0
	for picked < 30 {
		best, gain := -1, 0
		for i, c := range cands {
			g := 0
			for _, f := range c.feats {
				if !covered[f] {
					g++
				}
			}
			if g > gain {
				best, gain = i, g
			}
		}
		if best < 0 {
			break
		}
		c := cands[best]
		for _, f := range c.feats {
			covered[f] = true
		}
		write("corpus_"+strings.NewReplacer("/", "_", ".", "_").Replace(c.row.File), c.data)
		cands = append(cands[:best], cands[best+1:]...)
		picked++
	}
	for _, sy := range synthFiles() {
		if len(sy.data) < 4096 {
			write("synth_"+sy.name, sy.data)
		}
	}
	t.Logf("%d corpus seeds covering %d features", picked, len(covered))
}
