package jsonl

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/redtap/redtap/rdb"
)

func TestAppendScore(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1", 2.5: "2.5", 0.1: "0.1", -9.99999: "-9.99999", 1e21: "1e+21", 5e9: "5e+09",
		math.Inf(1): `"inf"`, math.Inf(-1): `"-inf"`, math.NaN(): `"nan"`, math.MaxFloat64: "1.7976931348623157e+308",
	} {
		got := string(appendScore(nil, f))
		require.Equal(t, want, got)
		var v any
		require.NoError(t, json.Unmarshal([]byte(got), &v), got)
	}
}

// FuzzJSONString: every byte string becomes valid JSON that decodes back
// to the same bytes (a string when it is UTF-8, base64 otherwise), also
// through Decode as a command's argument and a key's value; Decode of the
// bytes themselves never panics.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\x7f", "é✓😀", "\xff\xfe", "\xed\xa0\x80", "\u2028"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		b := AppendBytes(nil, s)
		var v any
		require.NoError(t, json.Unmarshal(b, &v), "%q -> %s", s, b)
		got, err := corpus.String(v)
		require.NoError(t, err)
		require.Equal(t, string(s), got)
		_, isStr := v.(string)
		require.Equal(t, utf8.Valid(s), isStr)

		var enc Encoder
		args := [][]byte{[]byte("SET"), s, s}
		r, err := Decode(enc.AppendCommand(nil, 1, 2, args))
		require.NoError(t, err)
		require.Equal(t, args, r.Args)
		r, err = Decode(enc.AppendKey(nil, &rdb.Entry{Key: s, Type: rdb.TypeList, Expire: -1, Elems: [][]byte{s}, Last: true}))
		require.NoError(t, err)
		require.Equal(t, s, r.Entry.Key)
		require.Equal(t, [][]byte{s}, r.Entry.Elems)
		Decode(s) //nolint:errcheck // must not panic
	})
}

// TestDecodeRoundTrip: what AppendKey and AppendCommand write, Decode reads
// back.
func TestDecodeRoundTrip(t *testing.T) {
	id := func(ms uint64) rdb.StreamID { return rdb.StreamID{Ms: ms, Seq: 1} }
	entries := []*rdb.Entry{
		{DB: 2, Key: []byte("s"), Type: rdb.TypeString, Expire: 1700000000000, Str: []byte("\xffbin"), Last: true},
		{DB: 0, Key: []byte("l"), Type: rdb.TypeList, Expire: -1, Elems: [][]byte{[]byte("a"), []byte("b")}, Last: true},
		{DB: 0, Key: []byte("z"), Type: rdb.TypeZSet, Expire: -1, Members: []rdb.Member{{Name: []byte("m"), Score: 1.5}, {Name: []byte("n"), Score: math.Inf(-1)}}, Last: true},
		{DB: 0, Key: []byte("h"), Type: rdb.TypeHash, Expire: -1, Fields: []rdb.Field{{Name: []byte("f"), Value: []byte("v"), Expire: 1800000000000}, {Name: []byte("g"), Value: []byte("w")}}, Last: true},
		{DB: 0, Key: []byte("h2"), Type: rdb.TypeHash, Expire: -1, Fields: []rdb.Field{{Name: []byte("\xfe"), Value: []byte("v"), Expire: 5}}, Last: true},
		{DB: 0, Key: []byte("big"), Type: rdb.TypeSet, Expire: -1, Elems: [][]byte{[]byte("x")}, Chunk: 1, Last: false},
		{DB: 1, Key: []byte("st"), Type: rdb.TypeStream, Expire: -1, Last: true, Encoding: rdb.EncStreamListpacks3, Stream: &rdb.Stream{
			Entries: []rdb.StreamEntry{{ID: id(5), Fields: [][]byte{[]byte("f"), []byte("v")}}},
			Meta: &rdb.StreamMeta{Length: 1, LastID: id(5), FirstID: id(5), EntriesAdded: 1, Groups: []rdb.StreamGroup{{
				Name: []byte("g"), LastID: id(5), EntriesRead: 1,
				PEL:       []rdb.StreamPending{{ID: id(5), DeliveryTime: 99, DeliveryCount: 2}},
				Consumers: []rdb.StreamConsumer{{Name: []byte("c"), SeenTime: 98, ActiveTime: 97, PEL: []rdb.StreamID{id(5)}}},
			}}}}},
	}
	var enc Encoder
	for _, e := range entries {
		b := enc.AppendKey(nil, e)
		r, err := Decode(b)
		require.NoError(t, err, "%s", b)
		require.Equal(t, "key", r.Kind)
		got := r.Entry
		require.Equal(t, e.Key, got.Key)
		require.Equal(t, e.DB, got.DB)
		require.Equal(t, e.Type, got.Type)
		require.Equal(t, e.Expire, got.Expire)
		require.Equal(t, e.Chunk, got.Chunk)
		require.Equal(t, e.Last, got.Last)
		require.Equal(t, e.Str, got.Str)
		require.Equal(t, e.Elems, got.Elems)
		require.Equal(t, e.Members, got.Members)
		require.ElementsMatch(t, e.Fields, got.Fields)
		require.Equal(t, e.Stream, got.Stream)
	}
	args := [][]byte{[]byte("MSET"), []byte("a"), []byte("\x00"), []byte("b"), []byte("\xff")}
	r, err := Decode(enc.AppendCommand(nil, 3, 77, args))
	require.NoError(t, err)
	require.Equal(t, &Record{Kind: "cmd", DB: 3, Offset: 77, Args: args, Keys: [][]byte{[]byte("a"), []byte("b")}}, r)
	for _, bad := range []string{"", "{", `{"kind":"key","type":"list","key":"k","value":{}}`, `{"kind":"cmd","args":[]}`, `{"kind":"x"}`, `{"kind":"key","key":{"base64":"!"},"type":"string","value":""}`} {
		_, err := Decode([]byte(bad))
		require.ErrorIs(t, err, ErrSyntax, bad)
	}
}
