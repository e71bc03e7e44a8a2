package rdbfile_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/redtap/redtap/rdb"
)

func TestCRC64(t *testing.T) {
	// The check value Redis's crc64.c tests against.
	require.Equal(t, uint64(0xe9c6d914c4b8d9ca), rdbfile.CRC64(0, []byte("123456789")))
}

// The builder's files decode, checksum verified; Bytes leaves the builder
// as it was, so a longer file can follow from the same prefix.
func TestFileDecodes(t *testing.T) {
	f := rdbfile.New(10).Aux("redis-ver", "7.0.15").Select(0).Set("k", "v").
		SetExpire("e", "x", 1700000000000).Select(3).List("l", "a", "b", strings.Repeat("z", 20000))
	short := f.Bytes()
	require.Equal(t, []string{"k", "e", "l"}, keys(t, short, true))
	long := f.Set("more", "w").Bytes()
	require.Equal(t, []string{"k", "e", "l", "more"}, keys(t, long, true))
	require.Equal(t, short[:len(short)-9], long[:len(short)-9])
	require.Equal(t, []string{"k", "e", "l", "more"}, keys(t, f.BytesNoChecksum(), false))
	require.Equal(t, []string{"v"}, keys(t, rdbfile.NewValkey(80).Select(0).Set("v", "1").Bytes(), true))
}

func keys(t *testing.T, snap []byte, verified bool) []string {
	t.Helper()
	d, err := rdb.NewDecoder(bufio.NewReader(bytes.NewReader(snap)))
	require.NoError(t, err)
	var keys []string
	for {
		rec, err := d.Next(context.Background())
		if err == io.EOF {
			return keys
		}
		require.NoError(t, err)
		switch r := rec.(type) {
		case *rdb.Entry:
			keys = append(keys, string(r.Key))
		case *rdb.End:
			require.Equal(t, verified, r.Verified)
			require.Equal(t, int64(len(snap)), r.Size)
		}
	}
}
