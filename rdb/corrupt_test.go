package rdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/stretchr/testify/require"
)

// decodeQuick decodes without keeping anything and returns the End
// record's size (or -1) and the first error; it checks the documented
// error contract on the way.
func decodeQuick(b []byte, opts ...Option) (int64, error) {
	d, err := NewDecoder(bytes.NewReader(b), opts...)
	if err != nil {
		return -1, err
	}
	size := int64(-1)
	ctx := context.Background()
	for {
		rec, err := d.Next(ctx)
		if err == io.EOF {
			return size, nil
		}
		if err != nil {
			return size, err
		}
		if d.BytesRead() > int64(len(b)) {
			return size, fmt.Errorf("offset %d past the %d-byte input", d.BytesRead(), len(b))
		}
		if e, ok := rec.(*End); ok {
			size = e.Size
		}
	}
}

// sweepOptions vary the decode path between iterations: plain, small
// chunks, and filters that take the skip path.
var sweepOptions = [][]Option{
	nil,
	{WithChunkSize(1)},
	{WithMatch("no such key")},
	{WithTypes(TypeString), WithChunkSize(2)},
}

// sweepInputs are small real and synthetic snapshots for the corruption
// sweeps.
func sweepInputs(t *testing.T) map[string][]byte {
	in := map[string][]byte{}
	for _, sy := range synthFiles() {
		if len(sy.data) < 4096 {
			in["synth/"+sy.name] = sy.data
		}
	}
	if dir := corpus.Optional(t); dir != "" {
		for _, f := range []string{
			"redis/hash-zipmap.rdb",                     // 35 bytes, RDB 3
			"keydb/fuzz/string.rdb",                     // RDB 9
			"hdt3213-rdb/listpack.rdb",                  // listpack hash/zset, quicklist2
			"redis/encodings.rdb",                       // RDB 4, every old encoding
			"kvrocks/encodings_ver10.rdb",               // RDB 10 encodings
			"redis-replicator/dumpV11.rdb",              // set listpack, stream 21
			"redis-rdb-tools/redis_50_with_streams.rdb", // stream 15
			"hdt3213-rdb/hash_as_listpack_with_hfe.rdb", // type 25
			"hdt3213-rdb/hash_with_hfe.rdb",             // type 24
			"redis-replicator/dump-module-2.rdb",        // module value
			"redis-rdb-tools/redis_60_with_module_aux.rdb",
			"hdt3213-rdb/valkey_hash2_with_hfe.rdb",
			"redis-replicator/function.rdb",
		} {
			in[f] = corpus.Read(t, dir, f)
		}
	}
	return in
}

// TestTruncationSweep cuts snapshots at every offset: each prefix fails
// with io.ErrUnexpectedEOF (every byte before the cut is valid), as an
// *Error at an offset within the prefix.
func TestTruncationSweep(t *testing.T) {
	for name, b := range sweepInputs(t) {
		size, err := decodeQuick(b)
		require.NoError(t, err, name)
		for cut := 0; cut < int(size); cut++ {
			_, err := decodeQuick(b[:cut], sweepOptions[cut%len(sweepOptions)]...)
			require.Error(t, err, "%s cut at %d of %d", name, cut, size)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "%s cut at %d", name, cut)
			require.NoError(t, checkDecodeError(err, cut), "%s cut at %d", name, cut)
		}
	}
}

// TestFlipSweep changes every byte (every bit of tiny files): the result is
// an error obeying the contract, or — only where no checksum protects the
// file — a successful decode.
func TestFlipSweep(t *testing.T) {
	for name, b := range sweepInputs(t) {
		i := 0
		for pos := range b {
			masks := []byte{[]byte{0xff, 0x01, 0x80, 0x10}[pos%4]} // one change per byte
			if len(b) <= 400 {
				masks = []byte{1, 2, 4, 8, 16, 32, 64, 128} // every bit of tiny files
			}
			for _, m := range masks {
				c := bytes.Clone(b)
				c[pos] ^= m
				i++
				size, err := decodeQuick(c, sweepOptions[i%len(sweepOptions)]...)
				if err == nil {
					// only an unprotected file may decode: a header now
					// older than RDB 5, or a zero stored checksum
					v, crc := protection(c, size)
					require.True(t, v < 5 || crc == 0, "%s: byte %d ^ %#x decoded despite the checksum", name, pos, m)
					continue
				}
				require.NoError(t, checkDecodeError(err, len(c)), "%s: byte %d ^ %#x", name, pos, m)
			}
		}
	}
}

// protection returns a decoded file's version and stored checksum.
func protection(b []byte, size int64) (int, uint64) {
	d, err := NewDecoder(bytes.NewReader(b))
	if err != nil {
		return 0, 0
	}
	if _, err := d.Next(context.Background()); err != nil {
		return 0, 0
	}
	v, _ := d.Version()
	if v < 5 || size < 8 {
		return v, 0
	}
	return v, binary.LittleEndian.Uint64(b[size-8 : size])
}

// A checksum mismatch is ErrChecksum at the offset after the EOF opcode;
// a zero checksum is "not computed" and accepted.
func TestChecksumMismatch(t *testing.T) {
	f := rdbfile.New(10).Select(0).Set("k", "v")
	good := f.Bytes()
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	_, err := decodeQuick(bad)
	require.ErrorIs(t, err, ErrChecksum)
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, int64(len(good)-8), re.Offset)
	// a changed value byte with the old checksum
	bad = bytes.Clone(good)
	bad[bytes.Index(bad, []byte("v"))] = 'w'
	_, err = decodeQuick(bad)
	require.ErrorIs(t, err, ErrChecksum)
	// zero: not computed
	zero := bytes.Clone(good)
	copy(zero[len(zero)-8:], make([]byte, 8))
	s := decodeBytes(t, zero, 0)
	require.False(t, s.End.Verified)
	require.Zero(t, s.End.Checksum)
	s = decodeBytes(t, good, 0)
	require.True(t, s.End.Verified)
	require.Equal(t, Checksum(good[:len(good)-8]), s.End.Checksum)
}

func TestHeaders(t *testing.T) {
	for _, tc := range []struct {
		hdr    string
		want   error
		future bool // decodes with WithFutureVersions
	}{
		{"REDIS0000", ErrUnsupportedVersion, false},
		{"REDIS0014", ErrUnsupportedVersion, true},
		{"REDIS9999", ErrUnsupportedVersion, true},
		{"REDIS001a", ErrUnsupportedVersion, false},
		{"REDIS-001", ErrUnsupportedVersion, false},
		{"redis0010", ErrUnsupportedVersion, false},
		{"VALKEY079", ErrUnsupportedVersion, false},
		{"VALKEY081", ErrUnsupportedVersion, true},
		{"VALKEY0x0", ErrUnsupportedVersion, false},
		{"\x00\x00\x00\x00\x00\x00\x00\x00\x00", ErrUnsupportedVersion, false},
		{"REDI", io.ErrUnexpectedEOF, false},
		{"", io.ErrUnexpectedEOF, false},
	} {
		in := []byte(tc.hdr)
		if len(in) == 9 {
			in = binary.LittleEndian.AppendUint64(append(in, 0xff), 0)
		}
		_, err := decodeQuick(in)
		require.ErrorIs(t, err, tc.want, "%q", tc.hdr)
		require.NoError(t, checkDecodeError(err, len(in)))
		_, err = decodeQuick(in, WithFutureVersions())
		if tc.future {
			require.NoError(t, err, "%q with WithFutureVersions", tc.hdr)
		} else {
			require.Error(t, err, "%q with WithFutureVersions", tc.hdr)
		}
	}
	for v := 1; v <= 13; v++ {
		f := rdbfile.New(v).Select(0).Set("k", "v")
		s := decodeBytes(t, f.Bytes(), 0)
		require.Equal(t, v, s.Header.Version)
		require.Equal(t, v >= 5, s.End.Verified)
	}
}

// Structural errors the sweeps may not reach.
func TestCorruptStructures(t *testing.T) {
	for _, tc := range []struct {
		name string
		file func() []byte
		want error
	}{
		{"expire then EOF", func() []byte { return rdbfile.New(10).Select(0).ExpireMs(5).Bytes() }, ErrCorrupt},
		{"huge db number", func() []byte { return rdbfile.New(10).Raw(opSelectDB).Length(1 << 40).Bytes() }, ErrCorrupt},
		{"encoded length for a count", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncList), "l").Raw(0xc0, 1).Bytes()
		}, ErrCorrupt},
		{"length prefix 0x82", func() []byte { return rdbfile.New(10).Select(0).Key(byte(EncString), "k").Raw(0x82).Bytes() }, ErrCorrupt},
		{"string encoding 4", func() []byte { return rdbfile.New(10).Select(0).Key(byte(EncString), "k").Raw(0xc4).Bytes() }, ErrCorrupt},
		{"lzf lengths zero", func() []byte { return rdbfile.New(10).Select(0).Key(byte(EncString), "k").Raw(0xc3, 0, 5).Bytes() }, ErrCorrupt},
		{"lzf ratio", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncString), "k").Raw(0xc3).Length(1).Length(1000).Raw(0).Bytes()
		}, ErrCorrupt},
		{"lzf bad stream", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncString), "k").Raw(0xc3).Length(2).Length(5).Raw(0x20, 0).Bytes()
		}, ErrCorrupt},
		{"quicklist container 3", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncListQuicklist2), "l").Length(1).Length(3).Str("x").Bytes()
		}, ErrCorrupt},
		{"stream node key of 15 bytes", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Str("123456789012345").Bytes()
		}, ErrCorrupt},
		{"stream master fields", func() []byte {
			f := rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Blob(rawID(StreamID{1, 1}))
			return f.Blob(rdbfile.Listpack(rdbfile.LPInt(1), rdbfile.LPInt(0), rdbfile.LPInt(1000), rdbfile.LPStr("f"), rdbfile.LPInt(0))).Bytes()
		}, ErrCorrupt},
		{"stream entry string flags", func() []byte {
			f := rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Blob(rawID(StreamID{1, 1}))
			return f.Blob(rdbfile.Listpack(rdbfile.LPInt(1), rdbfile.LPInt(0), rdbfile.LPInt(1), rdbfile.LPStr("f"), rdbfile.LPInt(0), rdbfile.LPStr("x"))).Bytes()
		}, ErrCorrupt},
		{"stream master entry short", func() []byte {
			f := rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Blob(rawID(StreamID{1, 1}))
			return f.Blob(rdbfile.Listpack(rdbfile.LPInt(1), rdbfile.LPInt(0), rdbfile.LPInt(3), rdbfile.LPStr("f"))).Bytes()
		}, ErrCorrupt},
		{"stream master entry unterminated", func() []byte {
			f := rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Blob(rawID(StreamID{1, 1}))
			return f.Blob(rdbfile.Listpack(rdbfile.LPInt(1), rdbfile.LPInt(0), rdbfile.LPInt(1), rdbfile.LPStr("f"))).Bytes()
		}, ErrCorrupt},
		{"stream entry field count", func() []byte {
			f := rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Blob(rawID(StreamID{1, 1}))
			return f.Blob(rdbfile.Listpack(rdbfile.LPInt(1), rdbfile.LPInt(0), rdbfile.LPInt(1), rdbfile.LPStr("f"), rdbfile.LPInt(0),
				rdbfile.LPInt(0), rdbfile.LPInt(0), rdbfile.LPInt(0), rdbfile.LPInt(100000), rdbfile.LPStr("a"))).Bytes()
		}, ErrCorrupt},
		{"stream entry short", func() []byte {
			f := rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Blob(rawID(StreamID{1, 1}))
			return f.Blob(rdbfile.Listpack(rdbfile.LPInt(1), rdbfile.LPInt(0), rdbfile.LPInt(1), rdbfile.LPStr("f"), rdbfile.LPInt(0),
				rdbfile.LPInt(0), rdbfile.LPInt(0), rdbfile.LPInt(0), rdbfile.LPInt(2), rdbfile.LPStr("a"), rdbfile.LPStr("b"), rdbfile.LPStr("c"))).Bytes()
		}, ErrCorrupt},
		{"stream entry without lp-count", func() []byte {
			f := rdbfile.New(10).Select(0).Key(byte(EncStreamListpacks2), "s").Length(1).Blob(rawID(StreamID{1, 1}))
			return f.Blob(rdbfile.Listpack(rdbfile.LPInt(1), rdbfile.LPInt(0), rdbfile.LPInt(1), rdbfile.LPStr("f"), rdbfile.LPInt(0),
				rdbfile.LPInt(2), rdbfile.LPInt(0), rdbfile.LPInt(0), rdbfile.LPStr("v"))).Bytes()
		}, ErrCorrupt},
		{"module aux when opcode", func() []byte {
			return rdbfile.New(10).Raw(opModuleAux).Length(moduleID("abcdefghi", 1)).Length(1).Length(2).Length(0).Bytes()
		}, ErrCorrupt},
		{"module opcode 6", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncModule2), "m").Length(moduleID("abcdefghi", 1)).Length(6).Length(0).Bytes()
		}, ErrCorrupt},
		{"key metadata opcode in a REDIS file", func() []byte { return rdbfile.New(13).Raw(opKeyMetaOrSlotImport).Bytes() }, ErrUnsupportedType},
		{"pre-GA module value", func() []byte { return rdbfile.New(8).Select(0).Key(byte(EncModulePreGA), "m").Length(1).Bytes() }, ErrUnsupportedType},
		{"hash field ttl string", func() []byte {
			f := rdbfile.New(12).Select(0).Key(byte(EncHashListpackEx), "h").Uint64LE(0)
			return f.Blob(rdbfile.Listpack(rdbfile.LPStr("f"), rdbfile.LPStr("v"), rdbfile.LPStr("ttl"))).Bytes()
		}, ErrCorrupt},
		{"zset score not a number", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncZSetListpack), "z").Blob(rdbfile.Listpack(rdbfile.LPStr("m"), rdbfile.LPStr("1.2.3"))).Bytes()
		}, ErrCorrupt},
		{"zset string score", func() []byte {
			return rdbfile.New(3).Select(0).Key(byte(EncZSet), "z").Length(1).Str("m").Raw(3, 'a', 'b', 'c').Bytes()
		}, ErrCorrupt},
		{"odd hash listpack", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncHashListpack), "h").Blob(rdbfile.Listpack(rdbfile.LPStr("f"))).Bytes()
		}, ErrCorrupt},
		{"intset as a string", func() []byte {
			return rdbfile.New(10).Select(0).Key(byte(EncSetIntset), "s").IntStr(5).Bytes()
		}, ErrCorrupt},
	} {
		in := tc.file()
		for _, opts := range [][]Option{nil, {WithChunkSize(1)}} {
			_, err := decodeQuick(in, opts...)
			require.ErrorIs(t, err, tc.want, tc.name)
			require.NoError(t, checkDecodeError(err, len(in)), tc.name)
		}
	}
}

// measureAlloc returns the bytes allocated while f runs.
func measureAlloc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Tiny inputs that declare huge lengths fail at once, without allocating
// what they declare.
func TestHugeDeclaredLengths(t *testing.T) {
	huge := uint64(1) << 60
	hdr := func() *rdbfile.File { return rdbfile.New(10).Select(0) }
	var maxAlloc uint64
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"4 GiB string", hdr().Key(byte(EncString), "k").Length(4<<30).Raw(1, 2, 3).Prefix(), ErrTooLarge},
		{"500 MiB string", hdr().Key(byte(EncString), "k").Length(500<<20).Raw(1, 2, 3).Prefix(), io.ErrUnexpectedEOF},
		{"500 MiB key", hdr().Raw(byte(EncString)).Length(500<<20).Raw(1, 2, 3).Prefix(), io.ErrUnexpectedEOF},
		{"2^60 string", hdr().Key(byte(EncString), "k").Length(huge).Prefix(), ErrTooLarge},
		{"500 MiB aux", rdbfile.New(10).Raw(opAux).Length(500 << 20).Prefix(), io.ErrUnexpectedEOF},
		{"lzf 500 MiB", hdr().Key(byte(EncString), "k").Raw(0xc3).Length(400<<20).Length(500<<20).Raw(0, 'a').Prefix(), io.ErrUnexpectedEOF},
		{"lzf 4 GiB", hdr().Key(byte(EncString), "k").Raw(0xc3).Length(400 << 20).Length(4 << 30).Prefix(), ErrTooLarge},
		{"2^60-element list", hdr().Key(byte(EncList), "l").Length(huge).Str("a").Prefix(), io.ErrUnexpectedEOF},
		{"2^60-element set", hdr().Key(byte(EncSet), "s").Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60-element zset", hdr().Key(byte(EncZSet2), "z").Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60-field hash", hdr().Key(byte(EncHash), "h").Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60-field hash metadata", rdbfile.New(12).Select(0).Key(byte(EncHashMetadata), "h").Uint64LE(1).Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60 quicklist nodes", hdr().Key(byte(EncListQuicklist2), "l").Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"500 MiB listpack", hdr().Key(byte(EncHashListpack), "h").Length(500<<20).Raw(1, 2).Prefix(), io.ErrUnexpectedEOF},
		{"500 MiB quicklist node", hdr().Key(byte(EncListQuicklist2), "l").Length(1).Length(2).Length(500 << 20).Prefix(), io.ErrUnexpectedEOF},
		{"2^60 stream nodes", hdr().Key(byte(EncStreamListpacks2), "s").Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60 stream groups", hdr().Key(byte(EncStreamListpacks2), "s").Length(0).Length(0).ID(0, 0).ID(0, 0).ID(0, 0).Length(0).Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60 stream PEL", hdr().Key(byte(EncStreamListpacks2), "s").Length(0).Length(0).ID(0, 0).ID(0, 0).ID(0, 0).Length(0).Length(1).Str("g").ID(0, 0).Length(0).Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60 slot ranges", rdbfile.NewValkey(80).Raw(opKeyMetaOrSlotImport).Str("j").Length(huge).Prefix(), io.ErrUnexpectedEOF},
		{"2^60 module opcodes", hdr().Key(byte(EncModule2), "m").Length(moduleID("abcdefghi", 1)).Length(5).Length(500 << 20).Prefix(), io.ErrUnexpectedEOF},
	} {
		require.Less(t, len(tc.in), 64, tc.name)
		for _, opts := range [][]Option{nil, {WithMatch("x")}} {
			var err error
			alloc := measureAlloc(func() { _, err = decodeQuick(tc.in, opts...) })
			require.ErrorIs(t, err, tc.want, tc.name)
			require.NoError(t, checkDecodeError(err, len(tc.in)), tc.name)
			require.Less(t, alloc, uint64(64<<20), "%s allocated %d bytes", tc.name, alloc)
			maxAlloc = max(maxAlloc, alloc)
		}
	}
	t.Logf("at most %d bytes allocated for one input", maxAlloc)
	// the string cap is configurable
	in := hdr().Key(byte(EncString), "k").Str("0123456789").Bytes()
	_, err := decodeQuick(in, WithMaxStringLen(9))
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = decodeQuick(in, WithMaxStringLen(10))
	require.NoError(t, err)
	require.False(t, errors.Is(err, ErrTooLarge))
}
