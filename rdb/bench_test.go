package rdb_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/redtap/redtap/internal/testkit/benchdata"
	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/rdb"
)

// The decoder benchmarks (BENCHMARKS.md). Datasets:
//
//   - mixed: the benchdata dataset at a tenth of its size (~15 MB), written
//     by a redis-server started for the benchmark; skipped without one.
//   - corpus: every file of REDTAP_CORPUS that decodes cleanly, all decoded
//     in each iteration; skipped when REDTAP_CORPUS is unset.
//   - file: the RDB file named by REDTAP_BENCH_RDB (the ~150 MB dataset that
//     scripts/bench-rdb.sh builds); skipped when unset.
//
// Every iteration decodes from memory through a reused 1 MiB bufio.Reader
// and reads every byte of every key and value, as a consumer would.

// benchMixedScale divides the counts of benchdata.Default for "mixed".
const benchMixedScale = 10

type benchFile struct {
	files [][]byte
	size  int64
}

var (
	mixedOnce sync.Once
	mixedData []byte
	mixedErr  string
)

func mixedDataset(b *testing.B) []byte {
	b.Helper()
	redistest.Binary(b, "redis-server") // skips (or fails under REDTAP_REQUIRE_REDIS) without one
	mixedOnce.Do(func() {
		s := redistest.Start(b, redistest.Options{})
		c := s.Client()
		ctx := context.Background()
		if err := benchdata.Populate(ctx, c, benchdata.Scaled(benchMixedScale)); err != nil {
			mixedErr = err.Error()
			return
		}
		if err := c.Save(ctx).Err(); err != nil {
			mixedErr = "SAVE: " + err.Error()
			return
		}
		data, err := os.ReadFile(filepath.Join(s.Dir, "dump.rdb"))
		if err != nil {
			mixedErr = err.Error()
			return
		}
		mixedData = data
		s.Kill()
	})
	if mixedErr != "" {
		b.Fatalf("build mixed dataset: %s", mixedErr)
	}
	return mixedData
}

// corpusFiles returns the corpus files that decode without error.
func corpusFiles(b *testing.B) [][]byte {
	b.Helper()
	dir := corpus.Dir(b)
	rows := corpus.Manifest(b, dir)
	var files [][]byte
	for _, r := range rows {
		data := corpus.Read(b, dir, r.File)
		if _, err := consume(bufio.NewReader(bytes.NewReader(data))); err == nil {
			files = append(files, data)
		}
	}
	if len(files) == 0 {
		b.Fatalf("no corpus file in %s decodes", dir)
	}
	b.Logf("corpus: %d of %d files decode cleanly", len(files), len(rows))
	return files
}

// benchDatasets are the datasets, each loaded inside its sub-benchmark so
// that a missing one skips only itself.
var benchDatasets = []struct {
	name string
	load func(b *testing.B) benchFile
}{
	{"mixed", func(b *testing.B) benchFile { return one(mixedDataset(b)) }},
	{"corpus", func(b *testing.B) benchFile {
		bf := benchFile{files: corpusFiles(b)}
		for _, f := range bf.files {
			bf.size += int64(len(f))
		}
		return bf
	}},
	{"file", func(b *testing.B) benchFile {
		p := os.Getenv("REDTAP_BENCH_RDB")
		if p == "" {
			b.Skip("REDTAP_BENCH_RDB not set (scripts/bench-rdb.sh builds the 150 MB file)")
		}
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		return one(data)
	}},
}

func one(data []byte) benchFile {
	return benchFile{files: [][]byte{data}, size: int64(len(data))}
}

func BenchmarkDecode(b *testing.B) {
	for _, ds := range benchDatasets {
		b.Run(ds.name, func(b *testing.B) { runDecode(b, ds.load(b)) })
	}
}

// BenchmarkDecodeFiltered decodes with a filter that rejects every key: the
// cost of skipping values.
func BenchmarkDecodeFiltered(b *testing.B) {
	none := rdb.WithFilter(func(int, []byte, rdb.Type) bool { return false })
	for _, ds := range benchDatasets {
		b.Run(ds.name, func(b *testing.B) { runDecode(b, ds.load(b), none) })
	}
}

func runDecode(b *testing.B, bf benchFile, opts ...rdb.Option) {
	b.Helper()
	src := bytes.NewReader(nil)
	br := bufio.NewReaderSize(src, 1<<20)
	b.SetBytes(bf.size)
	b.ReportAllocs()
	var touched int64
	for b.Loop() {
		for _, f := range bf.files {
			src.Reset(f)
			br.Reset(src)
			n, err := consume(br, opts...)
			if err != nil {
				b.Fatal(err)
			}
			touched += n
		}
	}
	if touched == 0 && len(opts) == 0 {
		b.Fatal("decoded no key or value byte")
	}
}

// consume decodes a whole snapshot and returns the number of key and value
// bytes it saw.
func consume(r io.Reader, opts ...rdb.Option) (int64, error) {
	d, err := rdb.NewDecoder(r, opts...)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	var n int64
	for {
		rec, err := d.Next(ctx)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		e, ok := rec.(*rdb.Entry)
		if !ok {
			continue
		}
		n += int64(len(e.Key) + len(e.Str))
		for _, x := range e.Elems {
			n += int64(len(x))
		}
		for _, x := range e.Fields {
			n += int64(len(x.Name) + len(x.Value))
		}
		for _, x := range e.Members {
			n += int64(len(x.Name))
		}
		if e.Stream != nil {
			for _, x := range e.Stream.Entries {
				for _, f := range x.Fields {
					n += int64(len(f))
				}
			}
		}
		if e.Module != nil {
			n += int64(len(e.Module.Raw))
		}
	}
}
