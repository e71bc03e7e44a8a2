package live

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/assembler"
)

// TestFrame checks the chunk around an event against net/http's chunked
// reader, for sizes around the hex digits' boundaries.
func TestFrame(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 255, 256, 4095, 4096, 1 << 20} {
		data := strings.Repeat("x", n)
		f := newFrame(func(b []byte) []byte { return append(b, data...) })
		require.Equal(t, data, string(f.event()))
		body, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(
			io.MultiReader(bytes.NewReader(f.chunk), strings.NewReader("0\r\n\r\n")))))
		require.NoError(t, err, n)
		require.Equal(t, data, string(body), n)
	}
}

// TestFrameShared checks that the viewers of one message share its frame,
// and that another message gets its own.
func TestFrameShared(t *testing.T) {
	h := &Hub{}
	m := assembler.Message{Event: "dUpdates", ID: 7, Data: []byte(`{"x":1}`)}
	f := h.frameOf(m)
	require.Same(t, f, h.frameOf(m))
	require.Equal(t, "event: dUpdates\nid: 7\ndata: {\"x\":1}\n\n", string(f.event()))

	same := assembler.Message{Event: "dUpdates", ID: 7, Data: []byte(`{"x":1}`)} // equal bytes, another slice
	require.NotSame(t, f, h.frameOf(same))
	next := assembler.Message{Event: "dUpdates", ID: 8, Data: m.Data}
	require.NotSame(t, f, h.frameOf(next))
	require.Contains(t, string(h.frameOf(next).event()), "id: 8\n")
}
