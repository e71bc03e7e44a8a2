package rdb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/stretchr/testify/require"
)

// stopInputs returns complete snapshots (exactly the RDB bytes) from the
// synthetic files and, when REDTAP_CORPUS is set, the decodable corpus
// files up to maxSize bytes.
func stopInputs(t *testing.T, maxSize int) map[string][]byte {
	stopOnce.Do(func() { stopAll = loadStopInputs(t) })
	in := map[string][]byte{}
	for k, b := range stopAll {
		if len(b) <= maxSize {
			in[k] = b
		}
	}
	return in
}

var (
	stopOnce sync.Once
	stopAll  map[string][]byte
)

func loadStopInputs(t *testing.T) map[string][]byte {
	const maxSize = 1 << 20
	in := map[string][]byte{}
	for _, sy := range synthFiles() {
		if len(sy.data) <= maxSize {
			in["synth/"+sy.name] = sy.data
		}
	}
	dir := corpus.Optional(t)
	if dir == "" {
		return in
	}
	for _, r := range corpus.Manifest(t, dir) {
		if _, bad := corpusOutcomes[r.File]; bad {
			continue
		}
		b := corpus.Read(t, dir, r.File)
		if len(b) > maxSize {
			continue
		}
		s, err := decodeAll(bytes.NewReader(b), 0)
		require.NoError(t, err, r.File)
		if int(s.End.Size) <= maxSize {
			in[r.File] = b[:s.End.Size] // without what follows the snapshot
		}
	}
	return in
}

// junk is what follows a snapshot on a replication link: commands.
func junk() []byte {
	j := []byte("*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 5000; i++ {
		j = append(j, byte(rng.Uint32()))
	}
	return j
}

// countingReader counts the bytes handed out.
type countingReader struct {
	r     io.Reader
	n     int64
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.reads++
	return n, err
}

// After End, a *bufio.Reader still holds exactly the bytes that follow the
// snapshot, whatever its buffer size.
func TestExactStopBufio(t *testing.T) {
	j := junk()
	for name, b := range stopInputs(t, 1<<20) {
		sizes := []int{16, 4096}
		if len(b) < 64<<10 {
			sizes = append(sizes, 100, 65536)
		}
		for _, size := range sizes {
			br := bufio.NewReaderSize(bytes.NewReader(append(bytes.Clone(b), j...)), size)
			s, err := decodeAll(br, 0)
			require.NoError(t, err, "%s bufio %d", name, size)
			require.Equal(t, int64(len(b)), s.End.Size, name)
			rest, err := io.ReadAll(br)
			require.NoError(t, err)
			require.Equal(t, j, rest, "%s bufio %d: what follows the snapshot", name, size)
		}
	}
}

// Through any other reader the decoder reads exactly the snapshot's bytes.
func TestExactStopPlainReader(t *testing.T) {
	j := junk()
	for name, b := range stopInputs(t, 1<<20) {
		cr := &countingReader{r: bytes.NewReader(append(bytes.Clone(b), j...))}
		s, err := decodeAll(cr, 0)
		require.NoError(t, err, name)
		require.Equal(t, int64(len(b)), s.End.Size, name)
		require.Equal(t, int64(len(b)), cr.n, "%s: bytes read from the reader", name)
		rest, err := io.ReadAll(cr.r)
		require.NoError(t, err)
		require.Equal(t, j, rest, name)
	}
}

// Readers that return little per call, or data together with io.EOF,
// decode the same snapshot.
func TestOddReaders(t *testing.T) {
	for name, b := range stopInputs(t, 128<<10) {
		want, err := decodeAll(bytes.NewReader(b), 0)
		require.NoError(t, err, name)
		for rname, r := range map[string]io.Reader{
			"one-byte":          iotest.OneByteReader(bytes.NewReader(b)),
			"half":              iotest.HalfReader(bytes.NewReader(b)),
			"data-err":          iotest.DataErrReader(bytes.NewReader(b)),
			"data-err-one-byte": iotest.DataErrReader(iotest.OneByteReader(bytes.NewReader(b))),
			"bufio-one-byte":    bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(b)), 16),
			"bufio-data-err":    bufio.NewReaderSize(iotest.DataErrReader(bytes.NewReader(b)), 16),
		} {
			got, err := decodeAll(r, 3)
			require.NoError(t, err, "%s %s", name, rname)
			require.Equal(t, want.End, got.End, "%s %s", name, rname)
			require.Equal(t, canonOfSnapshot(want), canonOfSnapshot(got), "%s %s", name, rname)
		}
	}
}

// A read error from the underlying reader at any offset comes back as an
// *Error wrapping it, at an offset no further than the bytes delivered.
func TestReaderErrorsEverywhere(t *testing.T) {
	errBoom := errors.New("boom")
	for name, b := range stopInputs(t, 16<<10) {
		step := 1
		if len(b) > 60 {
			step = len(b)/60 + 1
		}
		for k := 0; k < len(b); k += step {
			for _, buffered := range []bool{false, true} {
				var r io.Reader = io.MultiReader(bytes.NewReader(b[:k]), iotest.ErrReader(errBoom))
				if buffered {
					r = bufio.NewReaderSize(r, 16)
				}
				_, err := decodeAll(r, 2)
				require.ErrorIs(t, err, errBoom, "%s cut %d", name, k)
				var re *Error
				require.ErrorAs(t, err, &re, "%s cut %d", name, k)
				require.LessOrEqual(t, re.Offset, int64(k), "%s cut %d", name, k)
			}
		}
	}
}

func TestTimeoutReader(t *testing.T) {
	for name, b := range stopInputs(t, 256<<10) {
		_, err := decodeAll(iotest.TimeoutReader(bytes.NewReader(b)), 0)
		require.ErrorIs(t, err, iotest.ErrTimeout, name)
		require.NoError(t, checkReadError(err, len(b)), name)
		if len(b) > 16 { // more than the first fill of the buffer
			_, err = decodeAll(bufio.NewReaderSize(iotest.TimeoutReader(bytes.NewReader(b)), 16), 0)
			require.ErrorIs(t, err, iotest.ErrTimeout, name)
			require.NoError(t, checkReadError(err, len(b)), name)
		}
	}
}

func checkReadError(err error, size int) error {
	var re *Error
	if !errors.As(err, &re) {
		return errors.New("not an *rdb.Error")
	}
	if re.Offset < 0 || re.Offset > int64(size) {
		return errors.New("offset outside the input")
	}
	return nil
}

func TestDecoderLifecycle(t *testing.T) {
	b := synthFiles()[0].data
	ctx := context.Background()

	_, err := NewDecoder(nil)
	require.Error(t, err)
	for _, o := range []Option{WithChunkSize(0), WithChunkSize(-1), WithMaxStringLen(0), WithFilter(nil)} {
		_, err := NewDecoder(bytes.NewReader(b), o)
		require.Error(t, err)
	}

	// io.EOF after End, again and again
	d, err := NewDecoder(bytes.NewReader(b))
	require.NoError(t, err)
	n := 0
	for rec, err := range d.All(ctx) {
		require.NoError(t, err)
		require.NotNil(t, rec)
		n++
	}
	for i := 0; i < 3; i++ {
		rec, err := d.Next(ctx)
		require.Nil(t, rec)
		require.Equal(t, io.EOF, err)
	}
	v, magic := d.Version()
	require.Equal(t, 3, v)
	require.Equal(t, "REDIS", magic)
	require.NoError(t, d.Close())
	require.NoError(t, d.Close())
	_, err = d.Next(ctx)
	require.ErrorIs(t, err, ErrClosed)

	// Version before the header
	d, _ = NewDecoder(bytes.NewReader(b))
	v, magic = d.Version()
	require.Equal(t, 0, v)
	require.Equal(t, "", magic)

	// Close after an error
	d, _ = NewDecoder(bytes.NewReader(b[:5]))
	_, err = d.Next(ctx)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.NoError(t, d.Close())
	_, err = d.Next(ctx)
	require.ErrorIs(t, err, ErrClosed)

	// errors are sticky
	d, _ = NewDecoder(bytes.NewReader(b[:len(b)-3]))
	var first error
	for {
		if _, first = d.Next(ctx); first != nil {
			break
		}
	}
	require.ErrorIs(t, first, io.ErrUnexpectedEOF)
	for i := 0; i < 3; i++ {
		_, err := d.Next(ctx)
		require.Equal(t, first, err)
	}
	// All yields the error once, with a nil record
	d, _ = NewDecoder(bytes.NewReader(b[:len(b)-3]))
	var errs int
	for rec, err := range d.All(ctx) {
		if err != nil {
			require.Nil(t, rec)
			errs++
		}
	}
	require.Equal(t, 1, errs)

	// a cancelled context stops between records without harm: decoding
	// resumes with a live one and yields the same records
	want := decodeBytes(t, b, 1)
	d, _ = NewDecoder(bytes.NewReader(b), WithChunkSize(1))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var recs int
	for {
		_, err := d.Next(cancelled)
		require.ErrorIs(t, err, context.Canceled)
		rec, err := d.Next(ctx)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.NotNil(t, rec)
		recs++
	}
	require.Equal(t, want.Records, recs)

	// breaking out of All leaves the decoder usable
	d, _ = NewDecoder(bytes.NewReader(b))
	for range d.All(ctx) {
		break
	}
	rest := 0
	for _, err := range d.All(ctx) {
		require.NoError(t, err)
		rest++
	}
	require.Equal(t, n-1, rest)
}
