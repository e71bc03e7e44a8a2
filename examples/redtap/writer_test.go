package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/redtap/redtap/rdb"
	"github.com/stretchr/testify/require"
)

// feed writes records through a writer and returns the output.
func feed(t testing.TB, format string, cfg writerConfig, recs ...rdb.Record) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := newEventWriter(format, &buf, cfg)
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, w.Record(r))
	}
	require.NoError(t, w.Flush())
	return buf.String()
}

// chunks splits a hash into entries of n fields, as the decoder does.
func hashChunks(key string, expire int64, fields []rdb.Field, n int) []rdb.Record {
	var recs []rdb.Record
	for i := 0; i == 0 || i < len(fields); i += n {
		end := min(i+n, len(fields))
		recs = append(recs, &rdb.Entry{Key: []byte(key), Type: rdb.TypeHash, Expire: expire, Chunk: len(recs),
			Last: end == len(fields), Fields: fields[i:end]})
	}
	return recs
}

func TestJSONLHashForms(t *testing.T) {
	fields := []rdb.Field{{Name: []byte("a"), Value: []byte("1"), Expire: 1700000000000}, {Name: []byte("b"), Value: []byte("\xff")}}
	head := `{"kind":"key","db":0,"key":"h","type":"hash","expire_ms":null,"value":`

	// one chunk, UTF-8 names: an object, TTLs in an object
	got := feed(t, formatJSONL, writerConfig{}, hashChunks("h", -1, fields, 10)...)
	require.Equal(t, head+`{"a":"1","b":{"base64":"/w=="}},"field_expire_ms":{"a":1700000000000}}`+"\n", got)

	// one chunk, a binary name: pairs, TTLs as pairs
	bin := append([]rdb.Field{{Name: []byte("\xfe"), Value: []byte("x"), Expire: 5}}, fields...)
	got = feed(t, formatJSONL, writerConfig{}, hashChunks("h", -1, bin, 10)...)
	require.Equal(t, head+`{"pairs":[[{"base64":"/g=="},"x"],["a","1"],["b",{"base64":"/w=="}]]},"field_expire_ms":[[{"base64":"/g=="},5],["a",1700000000000]]}`+"\n", got)

	// several chunks: pairs with the TTL as a third element
	got = feed(t, formatJSONL, writerConfig{}, hashChunks("h", -1, fields, 1)...)
	require.Equal(t, head+`{"pairs":[["a","1",1700000000000],["b",{"base64":"/w=="}]]}}`+"\n", got)
}

func TestJSONLEmptyKeys(t *testing.T) {
	empty := func(typ rdb.Type, chunk int, last bool) *rdb.Entry {
		return &rdb.Entry{DB: 3, Key: []byte("k"), Type: typ, Expire: -1, Chunk: chunk, Last: last}
	}
	for _, typ := range []rdb.Type{rdb.TypeList, rdb.TypeSet, rdb.TypeZSet, rdb.TypeHash} {
		require.Empty(t, feed(t, formatJSONL, writerConfig{}, empty(typ, 0, true)))
		require.Empty(t, feed(t, formatRESP, writerConfig{KeepEmpty: true}, empty(typ, 0, true)))
		want := `{"kind":"key","db":3,"key":"k","type":"` + typ.String() + `","expire_ms":null,"value":[]}` + "\n"
		if typ == rdb.TypeHash {
			want = strings.Replace(want, "[]", "{}", 1)
		}
		require.Equal(t, want, feed(t, formatJSONL, writerConfig{KeepEmpty: true}, empty(typ, 0, true)))
	}
	// A first chunk without elements does not start the record early.
	second := &rdb.Entry{DB: 3, Key: []byte("k"), Type: rdb.TypeList, Expire: 7, Chunk: 1, Last: true, Elems: [][]byte{[]byte("x")}}
	first := empty(rdb.TypeList, 0, false)
	first.Expire = 7
	require.Equal(t, `{"kind":"key","db":3,"key":"k","type":"list","expire_ms":7,"value":["x"]}`+"\n",
		feed(t, formatJSONL, writerConfig{}, first, second))
	require.Equal(t, "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$1\r\nx\r\n*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$1\r\n7\r\n",
		feed(t, formatRESP, writerConfig{}, first, second))
}

func TestJSONLOtherRecords(t *testing.T) {
	got := feed(t, formatJSONL, writerConfig{},
		&rdb.Header{Magic: "REDIS", Version: 10},
		&rdb.Aux{Key: []byte("redis-ver"), Value: []byte("7.0.15")},
		&rdb.SelectDB{DB: 1},
		&rdb.ResizeDB{Keys: 1},
		&rdb.Function{Code: []byte("#!lua name=lib\nreturn 1")},
		&rdb.ModuleAux{Module: rdb.Module{Name: "test__rdb", Version: 1, When: 2, Raw: []byte{5, 1, 'x', 0}}},
		&rdb.Entry{DB: 1, Key: []byte("m"), Type: rdb.TypeModule, Expire: -1, Last: true,
			Module: &rdb.Module{Name: "hellotype", Version: 0, Raw: []byte{2, 3, 0}}},
		&rdb.End{},
	)
	require.Equal(t, `{"kind":"aux","key":"redis-ver","value":"7.0.15"}
{"kind":"function","code":"#!lua name=lib\nreturn 1"}
{"kind":"module_aux","module":"test__rdb","version":1,"when":2,"raw":{"base64":"BQF4AA=="}}
{"kind":"key","db":1,"key":"m","type":"module","expire_ms":null,"value":{"module":"hellotype","version":0,"raw":{"base64":"AgMA"}}}
`, got)
}

func TestAppendRDBLen(t *testing.T) {
	for v, want := range map[uint64][]byte{
		0: {0}, 63: {63}, 64: {0x40, 64}, 16383: {0x7f, 0xff}, 16384: {0x80, 0, 0, 0x40, 0},
		math.MaxUint32: {0x80, 0xff, 0xff, 0xff, 0xff}, math.MaxUint32 + 1: {0x81, 0, 0, 0, 1, 0, 0, 0, 0},
	} {
		require.Equal(t, want, appendRDBLen(nil, v), "%d", v)
	}
}

func TestModulePayload(t *testing.T) {
	m := &rdb.Module{ID: 0x1234567890abcdef, Raw: []byte{2, 5, 0}}
	p := modulePayload(nil, m)
	require.Equal(t, []byte{7, 0x81, 0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef, 2, 5, 0, 9, 0}, p[:len(p)-8])
	require.Equal(t, rdb.Checksum(p[:len(p)-8]), binary.LittleEndian.Uint64(p[len(p)-8:]))
}

// BenchmarkDump measures the whole dump path (decode and write) on the
// biggest corpus file with many keys, per output format.
func BenchmarkDump(b *testing.B) {
	dir := corpus.Dir(b)
	p := filepath.Join(dir, "redis-replicator/dumpV8.rdb")
	data, err := os.ReadFile(p)
	require.NoError(b, err)
	for _, format := range []string{formatNone, formatJSONL, formatRESP} {
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				code := run(b.Context(), []string{"dump", "--format", format, "-"}, bytes.NewReader(data), io.Discard, io.Discard)
				require.Equal(b, 0, code)
			}
		})
	}
}

// BenchmarkWriters measures the writers alone on a chunk of 1024 list
// elements and one of 1024 hash fields.
func BenchmarkWriters(b *testing.B) {
	elems := make([][]byte, 1024)
	fields := make([]rdb.Field, 1024)
	for i := range elems {
		elems[i] = []byte("element-" + strconv.Itoa(i))
		fields[i] = rdb.Field{Name: elems[i], Value: []byte(strconv.Itoa(i * 7))}
	}
	list := &rdb.Entry{Key: []byte("list"), Type: rdb.TypeList, Expire: -1, Last: true, Elems: elems}
	hash := &rdb.Entry{Key: []byte("hash"), Type: rdb.TypeHash, Expire: -1, Last: true, Fields: fields}
	for _, format := range []string{formatJSONL, formatRESP} {
		b.Run(format, func(b *testing.B) {
			w, err := newEventWriter(format, io.Discard, writerConfig{})
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Record(list); err != nil {
					b.Fatal(err)
				}
				if err := w.Record(hash); err != nil {
					b.Fatal(err)
				}
			}
			require.NoError(b, w.Flush())
		})
	}
}
