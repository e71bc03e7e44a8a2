package fakemaster

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/rdb"
)

func TestCRC64(t *testing.T) {
	// The check value Redis's crc64.c tests against.
	require.Equal(t, uint64(0xe9c6d914c4b8d9ca), CRC64(0, []byte("123456789")))
}

func TestRDBDecodes(t *testing.T) {
	snap := NewRDB(10).Aux("redis-ver", "7.0.15").Select(0).Set("k", "v").
		SetExpire("e", "x", 1700000000000).Select(3).List("l", "a", "b", string(bytes.Repeat([]byte("z"), 20000))).Bytes()
	d, err := rdb.NewDecoder(bufio.NewReader(bytes.NewReader(snap)))
	require.NoError(t, err)
	var keys []string
	for {
		rec, err := d.Next(context.Background())
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch r := rec.(type) {
		case *rdb.Entry:
			keys = append(keys, string(r.Key))
		case *rdb.End:
			require.True(t, r.Verified)
			require.Equal(t, int64(len(snap)), r.Size)
		}
	}
	require.Equal(t, []string{"k", "e", "l"}, keys)
}
