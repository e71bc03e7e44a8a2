package rdb

import (
	"bytes"
	"testing"

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
			f := newRDB(10)
			if valkey {
				f = newValkey(80)
			}
			f.selectDB(0)
			at := f.Len()
			f.u8(byte(b)).str("k").str("v")
			in := f.end(true)
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
	f := newRDB(12).selectDB(0)
	f.u8(150).str("foo").length(1).str("f").str("v").u8(0, 0, 0, 0, 0, 0, 0, 0)
	_, err := decodeAll(bytes.NewReader(f.end(true)), 0)
	require.ErrorIs(t, err, ErrUnsupportedType)
}
