package rdb

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/stretchr/testify/require"
)

// blobStrings iterates a blob to its end, rendering integers in decimal.
func blobStrings(kind uint8, b []byte) ([]string, error) {
	var it blobElems
	if err := it.init(kind, b); err != nil {
		return nil, err
	}
	out := []string{}
	for {
		x, ok, err := it.next()
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		if x.isStr() {
			out = append(out, string(x.s))
		} else {
			out = append(out, strconv.FormatInt(x.v, 10))
		}
	}
}

// intCases are integers at every boundary of the listpack and ziplist
// integer encodings.
var intCases = []int64{
	0, 1, 12, 13, 127, 128, -1, -128, -129, 255, 256,
	4095, 4096, -4096, -4097, // 13-bit
	math.MaxInt16, math.MinInt16, math.MaxInt16 + 1, math.MinInt16 - 1, // 16-bit
	1<<23 - 1, -(1 << 23), 1 << 23, -(1 << 23) - 1, // 24-bit
	math.MaxInt32, math.MinInt32, math.MaxInt32 + 1, math.MinInt32 - 1, // 32-bit
	math.MaxInt64, math.MinInt64, // 64-bit
}

func TestListpackIntegers(t *testing.T) {
	widths := map[byte]bool{}
	var entries [][]byte
	var want []string
	for _, v := range intCases {
		e := rdbfile.LPInt(v)
		switch {
		case e[0]&0x80 == 0:
			widths[7] = true
		case e[0]&0xe0 == 0xc0:
			widths[13] = true
		default:
			widths[e[0]] = true
		}
		entries = append(entries, e)
		want = append(want, strconv.FormatInt(v, 10))
	}
	for _, w := range []byte{7, 13, 0xf1, 0xf2, 0xf3, 0xf4} {
		require.True(t, widths[w], "encoding %#x covered", w)
	}
	got, err := blobStrings(blobListpack, rdbfile.Listpack(entries...))
	require.NoError(t, err)
	require.Equal(t, want, got)
	// every 13-bit value, positive and negative
	entries, want = nil, nil
	for v := int64(-4096); v <= 4095; v++ {
		entries = append(entries, rdbfile.LPInt(v))
		want = append(want, strconv.FormatInt(v, 10))
	}
	got, err = blobStrings(blobListpack, rdbfile.Listpack(entries...))
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestListpackStringsAndBacklens(t *testing.T) {
	// entry lengths (header + payload) that need backlens of 1, 2, 3 and 4
	// bytes: <=127, <16383, <2097151, <268435455.
	lens := []int{0, 1, 63, 64, 125, 126, 127, 128, 4095, 4096, 16376, 16377, 16378, 16379, 20000, 2097145, 2097146}
	var entries [][]byte
	var want []string
	backlens := map[int]bool{}
	for i, n := range lens {
		s := strings.Repeat(string(rune('a'+i%26)), n)
		e := rdbfile.LPStr(s)
		backlens[len(rdbfile.LPBacklen(len(e)))] = true
		entries = append(entries, e, rdbfile.LPInt(int64(i)))
		want = append(want, s, strconv.Itoa(i))
	}
	require.Equal(t, map[int]bool{1: true, 2: true, 3: true, 4: true}, backlens)
	got, err := blobStrings(blobListpack, rdbfile.Listpack(entries...))
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// A 5-byte backlen needs an entry of 256 MiB.
func TestListpackBacklen5(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB entry")
	}
	// entry: 0xf0, 4-byte length, n bytes; the entry is n+5 >= 268435455
	n := 268435450
	hdr := binary.LittleEndian.AppendUint32([]byte{0xf0}, uint32(n))
	bl := rdbfile.LPBacklen(n + 5)
	require.Len(t, bl, 5)
	b := make([]byte, 6+2+len(hdr)+n+len(bl)+2+1)
	p := copy(b[6:], []byte{0x01, 0x01}) + 6 // int 1, backlen 1
	p += copy(b[p:], hdr)
	b[p], b[p+n-1] = 'x', 'y'
	p += n
	p += copy(b[p:], bl)
	p += copy(b[p:], []byte{0x02, 0x01}) // int 2, backlen 1
	b[p] = 0xff
	require.Equal(t, len(b)-1, p)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	binary.LittleEndian.PutUint16(b[4:], 3)
	var it blobElems
	require.NoError(t, it.init(blobListpack, b))
	x, ok, err := it.next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(1), x.v)
	x, ok, err = it.next()
	require.NoError(t, err)
	require.True(t, ok && x.isStr())
	require.Len(t, x.s, n)
	require.Equal(t, byte('y'), x.s[n-1])
	x, ok, err = it.next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(2), x.v)
	_, ok, err = it.next()
	require.NoError(t, err)
	require.False(t, ok)
}

// Listpacks of more than 65534 elements store 65535 ("unknown") as count:
// every element must come out.
func TestListpackPast65535(t *testing.T) {
	const n = 70001
	entries := make([][]byte, n)
	for i := range entries {
		entries[i] = rdbfile.LPInt(int64(i))
	}
	b := rdbfile.Listpack(entries...)
	require.Equal(t, uint16(65535), binary.LittleEndian.Uint16(b[4:]))
	got, err := blobStrings(blobListpack, b)
	require.NoError(t, err)
	require.Len(t, got, n)
	require.Equal(t, "70000", got[n-1])
	// exactly 65535 elements also reads as unknown
	got, err = blobStrings(blobListpack, rdbfile.Listpack(entries[:65535]...))
	require.NoError(t, err)
	require.Len(t, got, 65535)
}

func TestListpackMalformed(t *testing.T) {
	good := rdbfile.Listpack(rdbfile.LPStr("hello"), rdbfile.LPInt(1000), rdbfile.LPInt(-5))
	setCount := func(b []byte, n uint16) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint16(b[4:], n)
		return b
	}
	for name, b := range map[string][]byte{
		"short":            good[:6],
		"total-too-big":    append(bytes.Clone(good[:len(good)-1]), 0, 0xff)[:len(good)],
		"no-end-marker":    append(bytes.Clone(good[:len(good)-1]), 0),
		"count-low":        setCount(good, 2),
		"count-high":       setCount(good, 4),
		"bad-encoding":     fixLP(append(bytes.Clone(good[:6]), 0xf5, 1, 0xff)),
		"end-marker-early": fixLP(append(bytes.Clone(good[:6]), 0xff, 0x81, 'a', 2, 0xff)),
		"str-past-end":     fixLP([]byte{0, 0, 0, 0, 1, 0, 0x85, 'a', 'b', 0xff}),
		"str12-past-end":   fixLP([]byte{0, 0, 0, 0, 1, 0, 0xe1, 0x00, 'a', 0xff}),
		"str32-past-end":   fixLP([]byte{0, 0, 0, 0, 1, 0, 0xf0, 0xff, 0xff, 0xff, 0x7f, 'a', 0xff}),
		"str32-header-cut": fixLP([]byte{0, 0, 0, 0, 1, 0, 0xf0, 0x01, 0xff}),
		"int64-cut":        fixLP([]byte{0, 0, 0, 0, 1, 0, 0xf4, 1, 2, 3, 0xff}),
		"int13-cut":        fixLP([]byte{0, 0, 0, 0, 1, 0, 0xc1, 0xff}),
		"no-backlen":       fixLP([]byte{0, 0, 0, 0, 1, 0, 0x05, 0xff}),
	} {
		_, err := blobStrings(blobListpack, b)
		require.ErrorIs(t, err, ErrCorrupt, name)
	}
}

// fixLP sets a hand-made listpack's total-bytes field.
func fixLP(b []byte) []byte {
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func fixZL(b []byte) []byte {
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func TestZiplistElements(t *testing.T) {
	var entries []rdbfile.ZLEntry
	var want []string
	encs := map[byte]bool{}
	for _, v := range intCases {
		e := rdbfile.ZLInt(v)
		enc := e[0]
		if enc >= 0xf1 && enc <= 0xfd {
			enc = 0xf1
		}
		encs[enc] = true
		entries = append(entries, e)
		want = append(want, strconv.FormatInt(v, 10))
	}
	for v := int64(0); v <= 12; v++ { // every immediate
		entries = append(entries, rdbfile.ZLInt(v))
		want = append(want, strconv.FormatInt(v, 10))
	}
	for _, enc := range []byte{0xf1, 0xfe, 0xc0, 0xf0, 0xd0, 0xe0} {
		require.True(t, encs[enc], "ziplist int encoding %#x covered", enc)
	}
	for _, n := range []int{0, 1, 63, 64, 252, 253, 254, 300, 16383, 16384, 70000} {
		s := strings.Repeat("z", n)
		entries = append(entries, rdbfile.ZLStr(s), rdbfile.ZLInt(int64(n)))
		want = append(want, s, strconv.Itoa(n))
	}
	b := rdbfile.Ziplist(entries...)
	// the entries after the long strings carry a 5-byte prevlen
	require.True(t, bytes.Contains(b, []byte{0xfe, 0x01, 0x01, 0, 0}), "a 5-byte prevlen for a 257-byte entry")
	got, err := blobStrings(blobZiplist, b)
	require.NoError(t, err)
	require.Equal(t, want, got)
	// more than 65534 entries: count 65535 means "count them"
	many := make([]rdbfile.ZLEntry, 65540)
	for i := range many {
		many[i] = rdbfile.ZLInt(int64(i % 13))
	}
	got, err = blobStrings(blobZiplist, rdbfile.Ziplist(many...))
	require.NoError(t, err)
	require.Len(t, got, 65540)
}

func TestZiplistMalformed(t *testing.T) {
	good := rdbfile.Ziplist(rdbfile.ZLStr("abc"), rdbfile.ZLInt(7), rdbfile.ZLInt(100000))
	for name, b := range map[string][]byte{
		"short":         good[:10],
		"total-wrong":   append(bytes.Clone(good), 0xff),
		"no-end-marker": fixZL(append(bytes.Clone(good[:len(good)-1]), 0)),
		"count-high":    func() []byte { c := bytes.Clone(good); c[8] = 4; return c }(),
		"count-low":     func() []byte { c := bytes.Clone(good); c[8] = 2; return c }(),
		"bad-int-enc":   fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0xc1, 0xff}),
		"str-past-end":  fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0x05, 'a', 0xff}),
		"str14-cut":     fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0x40, 0xff}),
		"str32-cut":     fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0x80, 0, 0xff}),
		"str32-huge":    fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0x80, 0x7f, 0xff, 0xff, 0xff, 'a', 0xff}),
		"int64-cut":     fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0xe0, 1, 2, 0xff}),
		"prevlen5-cut":  fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0xfe, 1, 0xff}),
		"end-early":     fixZL([]byte{0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0xff, 0, 0xf1, 0xff}),
	} {
		_, err := blobStrings(blobZiplist, b)
		require.ErrorIs(t, err, ErrCorrupt, name)
	}
}

func TestIntset(t *testing.T) {
	for _, tc := range []struct {
		width int
		vals  []int64
	}{
		{2, []int64{math.MinInt16, -1, 0, 1, math.MaxInt16}},
		{4, []int64{math.MinInt32, math.MinInt16 - 1, 0, math.MaxInt16 + 1, math.MaxInt32}},
		{8, []int64{math.MinInt64, math.MinInt32 - 1, 0, math.MaxInt32 + 1, math.MaxInt64}},
		{2, nil},
	} {
		got, err := blobStrings(blobIntset, rdbfile.Intset(tc.width, tc.vals...))
		require.NoError(t, err)
		want := []string{}
		for _, v := range tc.vals {
			want = append(want, strconv.FormatInt(v, 10))
		}
		require.Equal(t, want, got)
	}
	for name, b := range map[string][]byte{
		"short":       {2, 0, 0, 0, 1, 0, 0},
		"width-3":     {3, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3},
		"width-0":     {0, 0, 0, 0, 0, 0, 0, 0},
		"count-high":  rdbfile.Intset(2, 1, 2)[:10],
		"count-huge":  {8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8},
		"extra-bytes": append(rdbfile.Intset(4, 1), 0),
	} {
		_, err := blobStrings(blobIntset, b)
		require.ErrorIs(t, err, ErrCorrupt, name)
	}
}

func TestZipmap(t *testing.T) {
	long := strings.Repeat("L", 300)
	for _, tc := range []struct {
		name string
		b    []byte
		want []string
	}{
		{"empty", rdbfile.Zipmap(0), []string{}},
		{"small", rdbfile.Zipmap(0, "a", "1", "bb", "22"), []string{"a", "1", "bb", "22"}},
		{"free-bytes", rdbfile.Zipmap(3, "k", "v", "k2", ""), []string{"k", "v", "k2", ""}},
		{"long-lengths", rdbfile.Zipmap(0, long, "x", "y", long), []string{long, "x", "y", long}},
	} {
		got, err := blobStrings(blobZipmap, tc.b)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
	// 254 and more pairs: the count byte says "unknown"
	var kv, want []string
	for i := 0; i < 300; i++ {
		kv = append(kv, "f"+strconv.Itoa(i), strconv.Itoa(i))
	}
	want = append(want, kv...)
	got, err := blobStrings(blobZipmap, rdbfile.Zipmap(0, kv...))
	require.NoError(t, err)
	require.Equal(t, want, got)

	for name, b := range map[string][]byte{
		"short":        {0},
		"count-ff":     {0xff, 0xff},
		"count-high":   {2, 1, 'a', 1, 0, 'b', 0xff},
		"count-low":    {0, 1, 'a', 1, 0, 'b', 0xff},
		"ends-on-key":  {1, 1, 'a', 0xff},
		"len-ff":       {1, 0xfd, 0xff},
		"key-past-end": {1, 9, 'a', 0xff},
		"free-past":    {1, 1, 'a', 1, 9, 'b', 0xff},
		"biglen-cut":   {1, 254, 1, 0xff},
		"no-end":       {1, 1, 'a', 1, 0, 'b'},
		"end-early":    {1, 1, 'a', 1, 0, 'b', 0xff, 0},
	} {
		_, err := blobStrings(blobZipmap, b)
		require.ErrorIs(t, err, ErrCorrupt, name)
	}
}

// Every truncation of a valid blob (with the header fixed up to the new
// length, so that the element walk itself meets the end) and every byte
// change fails with ErrCorrupt or decodes; nothing panics.
func TestBlobMutations(t *testing.T) {
	blobs := map[uint8][]byte{
		blobListpack: rdbfile.Listpack(rdbfile.LPStr("hello"), rdbfile.LPInt(1000), rdbfile.LPInt(-5), rdbfile.LPStr(strings.Repeat("x", 200)), rdbfile.LPInt(math.MinInt64)),
		blobZiplist:  rdbfile.Ziplist(rdbfile.ZLStr("abc"), rdbfile.ZLInt(7), rdbfile.ZLInt(100000), rdbfile.ZLStr(strings.Repeat("y", 300)), rdbfile.ZLInt(-2)),
		blobIntset:   rdbfile.Intset(4, -7, 0, 99999),
		blobZipmap:   rdbfile.Zipmap(2, "a", "b", strings.Repeat("c", 260), "d"),
	}
	for kind, good := range blobs {
		want, err := blobStrings(kind, good)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		for cut := 0; cut < len(good); cut++ {
			b := bytes.Clone(good[:cut])
			if (kind == blobListpack || kind == blobZiplist) && cut >= 4 {
				binary.LittleEndian.PutUint32(b, uint32(cut))
			}
			_, err := blobStrings(kind, b)
			require.ErrorIs(t, err, ErrCorrupt, "kind %d cut %d", kind, cut)
		}
		for i := 0; i < len(good); i++ {
			for _, x := range []byte{0x01, 0x10, 0x80, 0xff} {
				b := bytes.Clone(good)
				b[i] ^= x
				if _, err := blobStrings(kind, b); err != nil {
					require.ErrorIs(t, err, ErrCorrupt, "kind %d byte %d ^ %#x", kind, i, x)
				}
			}
		}
	}
}
