package rdb

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/stretchr/testify/require"
)

// Every byte that is neither a value type nor an opcode fails with
// ErrUnsupportedType at the offset of that byte, in both magics, with and
// without a filter (which takes the skip path).
func TestUnknownValueTypes(t *testing.T) {
	known := map[int]bool{}
	for e := EncString; e <= EncHashListpackEx; e++ {
		if _, ok := typeOf(e); ok {
			known[int(e)] = true
		}
	}
	for b := 0; b < opKeyMetaOrSlotImport; b++ {
		if known[b] {
			continue
		}
		for _, valkey := range []bool{false, true} {
			f := rdbfile.New(10)
			if valkey {
				f = rdbfile.NewValkey(80)
			}
			f.Select(0)
			at := f.Len()
			f.Raw(byte(b)).Str("k").Str("v")
			in := f.Bytes()
			for _, opts := range [][]Option{nil, {WithMatch("nomatch")}} {
				_, err := decodeAll(bytes.NewReader(in), 0, opts...)
				require.ErrorIs(t, err, ErrUnsupportedType, "type byte %d valkey=%v", b, valkey)
				var re *Error
				require.ErrorAs(t, err, &re)
				require.Equal(t, int64(at), re.Offset, "type byte %d", b)
			}
		}
	}
}

// Type byte 150 (0x80|22) is how Entry.Encoding reports Valkey's hash2; in
// a file it is an unknown type (valkey/encodings-rdb*-unknown-types.rdb).
func TestTypeByte150IsUnknown(t *testing.T) {
	f := rdbfile.New(12).Select(0)
	f.Raw(150).Str("foo").Length(1).Str("f").Str("v").Raw(0, 0, 0, 0, 0, 0, 0, 0)
	_, err := decodeAll(bytes.NewReader(f.Bytes()), 0)
	require.ErrorIs(t, err, ErrUnsupportedType)
}

func TestTypeAndEncodingNames(t *testing.T) {
	for ty := TypeString; ty <= TypeModule; ty++ {
		got, err := ParseType(ty.String())
		require.NoError(t, err)
		require.Equal(t, ty, got)
	}
	require.Equal(t, "zset", TypeZSet.String())
	require.Equal(t, "type(0)", Type(0).String())
	require.Equal(t, "type(99)", Type(99).String())
	_, err := ParseType("type(0)")
	require.Error(t, err)
	_, err = ParseType("")
	require.Error(t, err)
	for e := EncString; e <= EncHashListpackEx; e++ {
		if _, ok := typeOf(e); ok {
			require.NotContains(t, e.String(), "encoding(", "value type %d has a name", e)
		}
	}
	require.Equal(t, "valkey-hash2", EncValkeyHash2.String())
	require.Equal(t, "encoding(8)", Encoding(8).String())
}

func TestErrorString(t *testing.T) {
	e := &Error{Offset: 42, Op: "string length", Err: ErrCorrupt}
	require.Equal(t, "rdb: string length at offset 42: rdb: corrupt data", e.Error())
	e.Key = []byte("k\x00")
	require.Equal(t, `rdb: string length at offset 42 (key "k\x00"): rdb: corrupt data`, e.Error())
	require.ErrorIs(t, e, ErrCorrupt)

	// a decode error names the key it was decoding, copied out of the
	// decoder's buffers
	f := rdbfile.New(10).Select(0).Key(byte(EncHashListpack), "the-key").Blob(rdbfile.Listpack(rdbfile.LPStr("f")))
	_, err := decodeQuick(f.Bytes())
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, "the-key", string(re.Key))
	require.Contains(t, err.Error(), `(key "the-key")`)
}

func TestParseScore(t *testing.T) {
	for s, want := range map[string]float64{
		"inf": math.Inf(1), "+inf": math.Inf(1), "Inf": math.Inf(1), "+Inf": math.Inf(1),
		"-inf": math.Inf(-1), "-Inf": math.Inf(-1), "1.5": 1.5, "-0.25": -0.25, "1e300": 1e300,
		"123456789012": 123456789012, "0": 0,
	} {
		got, err := parseScore([]byte(s))
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"nan", "-nan"} {
		got, err := parseScore([]byte(s))
		require.NoError(t, err)
		require.True(t, math.IsNaN(got))
	}
	for _, s := range []string{"", "abc", "1.2.3", "0x"} {
		_, err := parseScore([]byte(s))
		require.ErrorIs(t, err, ErrCorrupt, s)
	}
	// RDB type 3 scores: 253 NaN, 254 +inf, 255 -inf, else a length
	f := rdbfile.New(3).Select(0).Key(byte(EncZSet), "z").Length(1).Str("m").Raw(253)
	s := decodeBytes(t, f.BytesNoChecksum(), 0)
	require.True(t, math.IsNaN(s.Keys[0].Members[0].Score))
}

// The arena hands out disjoint slices, reuses its blocks after reset and
// drops oversized ones.
func TestArena(t *testing.T) {
	var a arena
	for round := 0; round < 3; round++ {
		a.reset()
		var got [][]byte
		for i := 0; i < 300; i++ {
			s := a.alloc(1000)
			for j := range s {
				s[j] = byte(i)
			}
			got = append(got, s)
		}
		big := a.alloc(arenaBlock * 2)
		big[0] = 0xee
		for i, s := range got {
			require.Len(t, s, 1000)
			require.Equal(t, 1000, cap(s))
			for _, c := range s {
				require.Equal(t, byte(i), c, "round %d slice %d overwritten", round, i)
			}
		}
		require.Equal(t, []byte("-12345"), a.appendInt(-12345))
		require.Equal(t, []byte("xyz"), a.copy([]byte("xyz")))
		require.Empty(t, a.alloc(0))
	}
	a.reset()
	for _, b := range a.blocks {
		require.LessOrEqual(t, len(b), arenaBlock)
	}
}

// A key of n elements comes in exactly max(1, ceil(n/chunk)) pieces, so
// that a key that fits in one chunk is Chunk 0 with Last set, whatever its
// encoding.
func TestChunkCountsExact(t *testing.T) {
	for _, sy := range synthFiles() {
		if sy.name == "rdb10-lengths" {
			continue // strings only, and big
		}
		full := decodeBytes(t, sy.data, 0)
		counts := map[string]int{}
		for _, k := range full.Keys {
			counts[k.Key] = k.count()
		}
		for _, k := range full.Keys {
			n := k.count()
			for _, c := range []int{1, 2, 3, n - 1, n, n + 1} {
				if c < 1 {
					continue
				}
				s := decodeBytes(t, sy.data, c)
				for _, got := range s.Keys {
					if got.Key != k.Key || got.DB != k.DB {
						continue
					}
					want := max(1, (n+c-1)/c)
					require.Equal(t, want, got.Chunks, "%s key %q (%v, %d elements) chunk size %d", sy.name, k.Key, k.Encoding, n, c)
				}
			}
		}
	}
}

// Every record reports where it starts; a key's record starts at its first
// opcode (an expiry, LRU or LFU opcode before the type byte).
func TestRecordOffsets(t *testing.T) {
	f := rdbfile.New(10)
	want := []int{0}
	mark := func() { want = append(want, f.Len()) }
	mark()
	f.Aux("redis-ver", "7.0.15")
	mark()
	f.Select(0)
	mark()
	f.ResizeDB(3, 1)
	mark()
	f.Set("plain", "v")
	mark()
	f.ExpireMs(1700000000000).Raw(opFreq, 5).Set("expiring", "v")
	mark()
	f.Raw(opIdle).Length(77).Key(byte(EncList), "list").Length(3).Str("a").Str("b").Str("c") // 3 chunks of 1
	mark()
	f.Raw(opFunction2).Str("#!lua name=x\n")
	mark()
	b := f.Bytes()

	d, err := NewDecoder(bytes.NewReader(b), WithChunkSize(1))
	require.NoError(t, err)
	var got []int
	for rec, err := range d.All(context.Background()) {
		require.NoError(t, err)
		if e, ok := rec.(*Entry); ok && e.Chunk > 0 {
			require.Equal(t, int64(want[6]), e.Offset(), "every chunk carries the key's offset")
			continue
		}
		got = append(got, int(rec.Offset()))
	}
	require.Equal(t, want, got)

	// an error inside a blob reports the blob's offset
	f = rdbfile.New(10).Select(0).Key(byte(EncHashListpack), "h")
	at := f.Len()
	f.Blob(rdbfile.Listpack(rdbfile.LPStr("odd")))
	_, err = decodeQuick(f.Bytes())
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, int64(at), re.Offset)
	require.Equal(t, "encoded value", re.Op)
}
