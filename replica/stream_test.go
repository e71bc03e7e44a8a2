package replica

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// encode writes commands as a master does.
func encode(cmds ...[]string) []byte {
	var b []byte
	for _, c := range cmds {
		b = fmt.Appendf(b, "*%d\r\n", len(c))
		for _, a := range c {
			b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	return b
}

type parsed struct {
	args []string
	size int64
}

// parseAll runs a streamReader over data with the given buffer size.
func parseAll(data []byte, bufSize int, maxBulk int64, maxArgs int) ([]parsed, int64, error) {
	p := newRespParser(maxBulk, maxArgs)
	sr := streamReader{br: bufio.NewReaderSize(bytes.NewReader(data), bufSize), p: p}
	var out []parsed
	for {
		args, size, err := sr.next()
		if err != nil {
			return out, p.skipped, err
		}
		out = append(out, parsed{strs(args), size})
		p.release()
	}
}

func TestStreamReader(t *testing.T) {
	cmds := [][]string{{"SET", "k", "v"}, {"PING"}, {"SET", "", "empty"}, {"RPUSH", "l", "a\r\nb", string(bytes.Repeat([]byte("x"), 100000))}}
	data := encode(cmds...)
	for _, size := range []int{32, 33, 64, 4096, 1 << 16} {
		got, skipped, err := parseAll(data, size, 1<<20, 16)
		require.ErrorIs(t, err, io.EOF)
		require.Zero(t, skipped)
		require.Len(t, got, len(cmds))
		var total int64
		for i, g := range got {
			require.Equal(t, cmds[i], g.args)
			require.Equal(t, int64(len(encode(cmds[i]))), g.size)
			total += g.size
		}
		require.Equal(t, int64(len(data)), total)
	}
}

func TestStreamReaderNewlines(t *testing.T) {
	data := append([]byte("\n\n"), encode([]string{"PING"})...)
	data = append(data, '\n')
	data = append(data, encode([]string{"SET", "a", "b"})...)
	got, skipped, err := parseAll(data, 32, 100, 10)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, int64(3), skipped)
	require.Equal(t, []parsed{{[]string{"PING"}, 14}, {[]string{"SET", "a", "b"}, int64(len(encode([]string{"SET", "a", "b"})))}}, got)
}

func TestStreamReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"+OK\r\n", ErrProtocol},
		{"PING\r\n", ErrProtocol},
		{"*0\r\n", ErrProtocol},
		{"*-1\r\n", ErrProtocol},
		{"*01\r\n$1\r\na\r\n", ErrProtocol},
		{"*1\r\n:1\r\n", ErrProtocol},
		{"*1\r\n$-1\r\n", ErrProtocol},
		{"*1\r\n$1\r\nab\r\n", ErrProtocol},
		{"*1\r\n$1\r\na\rx", ErrProtocol},
		{"*1\n$1\r\na\r\n", ErrProtocol},
		{"*1\r\r", ErrProtocol},
		{"*\r\n", ErrProtocol},
		{"*1234567890123456789\r\n", ErrProtocol},
		{"*11\r\n", ErrTooLarge},
		{"*1\r\n$101\r\n", ErrTooLarge},
		{"*1\r\n$1\r\n", io.EOF},        // truncated: the reader's error
		{"*2\r\n$1\r\na\r\n$1", io.EOF}, // truncated header
	} {
		_, _, err := parseAll([]byte(tc.in), 32, 100, 10)
		require.ErrorIsf(t, err, tc.want, "input %q", tc.in)
	}
}

// TestStreamReaderResume feeds the parser one byte at a time with an error
// after each: it must resume exactly where it stopped.
func TestStreamReaderResume(t *testing.T) {
	cmds := [][]string{{"SET", "key", "value"}, {"MULTI"}, {"INCR", "n"}, {"EXEC"}}
	data := encode(cmds...)
	src := &dribble{data: data}
	p := newRespParser(100, 10)
	sr := streamReader{br: bufio.NewReaderSize(src, 32), p: p}
	var got [][]string
	errs := 0
	for len(got) < len(cmds) {
		args, _, err := sr.next()
		if errors.Is(err, errDribble) {
			errs++
			continue
		}
		require.NoError(t, err)
		got = append(got, strs(args))
		p.release()
	}
	require.Equal(t, cmds, got)
	require.Equal(t, len(data), errs)
}

var errDribble = errors.New("try again")

// dribble returns one byte per Read, alternating with errors.
type dribble struct {
	data []byte
	fail bool
}

func (d *dribble) Read(p []byte) (int, error) {
	d.fail = !d.fail
	if d.fail {
		return 0, errDribble
	}
	if len(d.data) == 0 {
		return 0, io.EOF
	}
	p[0] = d.data[0]
	d.data = d.data[1:]
	return 1, nil
}

// TestParseHeader checks the header line parser on its own.
func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v    int64
		l    int
		fail bool
	}{
		{"*3\r\n", 3, 4, false},
		{"*3\r\nxx", 3, 4, false},
		{"*3\r", 0, 0, false},
		{"*3", 0, 0, false},
		{"*", 0, 0, false},
		{"*0\r\n", 0, 4, false},
		{"*00\r\n", 0, 0, true},
		{"*123456789012345678\r\n", 123456789012345678, 21, false},
		{"*1234567890123456789\r\n", 0, 0, true},
		{"*3\n", 0, 0, true},
		{"$3\r\n", 0, 0, true},
	} {
		v, l, err := parseHeader([]byte(tc.in), '*')
		if tc.fail {
			require.Errorf(t, err, "%q", tc.in)
			continue
		}
		require.NoErrorf(t, err, "%q", tc.in)
		require.Equalf(t, tc.v, v, "%q", tc.in)
		require.Equalf(t, tc.l, l, "%q", tc.in)
	}
}

// FuzzStreamReader checks that any input either parses into commands whose
// canonical encoding is exactly the consumed input, or fails cleanly, and
// that reading through a tiny buffer gives the same result as a large one.
func FuzzStreamReader(f *testing.F) {
	f.Add(encode([]string{"SET", "k", "v"}, []string{"PING"}))
	f.Add(encode([]string{"MULTI"}, []string{"SELECT", "3"}, []string{"INCR", "x"}, []string{"EXEC"}))
	f.Add([]byte("\n*1\r\n$4\r\nPING\r\n"))
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$5\r\nab"))
	f.Add([]byte("*1\r\n$999999999\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		big, skipBig, errBig := parseAll(data, 4096, 1<<16, 64)
		small, skipSmall, errSmall := parseAll(data, 32, 1<<16, 64)
		require.Equal(t, big, small)
		require.Equal(t, skipBig, skipSmall)
		require.Equal(t, errBig == io.EOF, errSmall == io.EOF)
		// Reads failing between every byte change nothing either.
		p := newRespParser(1<<16, 64)
		sr := streamReader{br: bufio.NewReaderSize(&dribble{data: data}, 32), p: p}
		var dribbled []parsed
		for {
			args, size, err := sr.next()
			if errors.Is(err, errDribble) {
				continue
			}
			if err != nil {
				require.Equal(t, errBig == io.EOF, err == io.EOF)
				break
			}
			dribbled = append(dribbled, parsed{strs(args), size})
			p.release()
		}
		require.Equal(t, big, dribbled)
		// Every command is its canonical encoding, after skipped newlines.
		rest := data
		for _, c := range big {
			for len(rest) > 0 && rest[0] == '\n' {
				rest = rest[1:]
			}
			require.GreaterOrEqual(t, int64(len(rest)), c.size)
			require.Equal(t, encode(c.args), rest[:c.size])
			rest = rest[c.size:]
		}
		if errBig == io.EOF {
			return
		}
		require.True(t, errors.Is(errBig, ErrProtocol) || errors.Is(errBig, ErrTooLarge) || errors.Is(errBig, io.EOF), "unexpected error %v", errBig)
	})
}

// setStream returns n SET commands as a master sends them.
func setStream(n int) []byte {
	var b []byte
	for i := range n {
		k := "key:" + strconv.Itoa(i)
		v := "value:" + strconv.Itoa(i)
		b = fmt.Appendf(b, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	return b
}

// BenchmarkStreamReader parses a buffer of 100k SETs; one op is one command.
func BenchmarkStreamReader(b *testing.B) {
	data := setStream(100000)
	rd := bytes.NewReader(data)
	p := newRespParser(defaultMaxBulkLen, defaultMaxArgs)
	sr := streamReader{br: bufio.NewReaderSize(rd, readBufferSize), p: p}
	b.SetBytes(int64(len(data)) / 100000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.release()
		_, _, err := sr.next()
		if err == io.EOF {
			rd.Reset(data)
			sr.br.Reset(rd)
			_, _, err = sr.next()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
