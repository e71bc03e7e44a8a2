package rdb

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	hlzf "github.com/hdt3213/rdb/lzf"
	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/stretchr/testify/require"
)

// lzfReference is a byte-at-a-time LZF decoder written from the format
// description (liblzf lzf_d.c): the oracle for lzfDecompress. It returns
// ok=false for any malformed stream and for a produced length other than
// outLen.
func lzfReference(in []byte, outLen int) ([]byte, bool) {
	out := []byte{}
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 {
			for k := 0; k <= ctrl; k++ {
				if i >= len(in) || len(out) >= outLen {
					return nil, false
				}
				out = append(out, in[i])
				i++
			}
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if i >= len(in) {
				return nil, false
			}
			n += int(in[i])
			i++
		}
		if i >= len(in) {
			return nil, false
		}
		ref := len(out) - (ctrl&31)<<8 - int(in[i]) - 1
		i++
		if ref < 0 {
			return nil, false
		}
		for k := 0; k < n+2; k++ {
			if len(out) >= outLen {
				return nil, false
			}
			out = append(out, out[ref+k])
		}
	}
	if len(out) != outLen {
		return nil, false
	}
	return out, true
}

func lzfInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(5, 6))
	random := make([]byte, 20000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog; ", 400))
	words := []byte{}
	for i := 0; i < 3000; i++ {
		words = append(words, []string{"alpha", "beta", "gamma", "delta", "\x00\xff"}[rng.IntN(5)]...)
	}
	far := append(bytes.Repeat([]byte{'x'}, 3), random[:8188]...) // reference at distance 8191
	far = append(far, 'x', 'x', 'x')
	return map[string][]byte{
		"one":        {'a'},
		"two":        {'a', 'b'},
		"three-same": {'a', 'a', 'a'},
		"short":      []byte("abcabcabcabc"),
		"run-1000":   bytes.Repeat([]byte{'z'}, 1000), // overlapping references
		"run-264":    bytes.Repeat([]byte{0}, 266),    // the longest reference
		"text":       text,
		"words":      words,
		"random":     random,
		"far":        far,
		"mixed":      append(append(bytes.Clone(random[:100]), text[:500]...), random[100:300]...),
		"period-2":   bytes.Repeat([]byte("ab"), 2000),
		"period-257": bytes.Repeat(random[:257], 40),
	}
}

func TestLZFRoundTrip(t *testing.T) {
	for name, plain := range lzfInputs() {
		c := rdbfile.LZF(plain)
		out := make([]byte, len(plain))
		require.NoError(t, lzfDecompress(c, out), name)
		require.Equal(t, plain, out, name)
		ref, ok := lzfReference(c, len(plain))
		require.True(t, ok, name)
		require.Equal(t, plain, ref, name)

		// hdt3213's compressor (liblzf's algorithm), when it compresses.
		if len(plain) >= 3 {
			if hc, err := hlzf.Compress(plain); err == nil {
				out := make([]byte, len(plain))
				require.NoError(t, lzfDecompress(hc, out), name)
				require.Equal(t, plain, out, name)
			}
		}
		// a declared length off by one either way fails
		for _, n := range []int{len(plain) - 1, len(plain) + 1} {
			if n < 0 {
				continue
			}
			require.Error(t, lzfDecompress(c, make([]byte, n)), "%s declared %d of %d", name, n, len(plain))
		}
	}
}

func TestLZFHandMade(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, ""},
		{"literal", []byte{2, 'a', 'b', 'c'}, "abc"},
		{"literal-32", append([]byte{31}, bytes.Repeat([]byte{'q'}, 32)...), strings.Repeat("q", 32)},
		{"overlap", []byte{0, 'a', 5 << 5, 0}, "aaaaaaaa"},                       // 1 literal, 7 from distance 1
		{"long-ref", []byte{0, 'a', 7 << 5, 255, 0}, strings.Repeat("a", 1+264)}, // 7+255+2 = 264
		{"ref-3", []byte{1, 'a', 'b', 1 << 5, 1}, "ababa"},
		{"offset-hi", append(append([]byte{31}, []byte(strings.Repeat("0123456789abcdef", 2))...), 1<<5, 31), strings.Repeat("0123456789abcdef", 2) + "012"},
	} {
		out := make([]byte, len(tc.want))
		require.NoError(t, lzfDecompress(tc.in, out), tc.name)
		require.Equal(t, tc.want, string(out), tc.name)
	}
}

func TestLZFMalformed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		outLen int
		want   error
	}{
		{"empty-input-nonempty-output", nil, 3, errLZFShort},
		{"literal-past-input", []byte{5, 'a', 'b'}, 6, errLZFLiteral},
		{"literal-past-output", []byte{2, 'a', 'b', 'c'}, 2, errLZFLong},
		{"ref-before-start", []byte{0, 'a', 1 << 5, 1}, 4, errLZFBackref},
		{"ref-at-start", []byte{1 << 5, 0}, 3, errLZFBackref},
		{"ref-missing-offset", []byte{0, 'a', 1 << 5}, 4, errLZFBackref},
		{"ref-missing-length", []byte{0, 'a', 7 << 5}, 10, errLZFBackref},
		{"ref-missing-offset-after-length", []byte{0, 'a', 7 << 5, 3}, 13, errLZFBackref},
		{"ref-past-output", []byte{0, 'a', 1 << 5, 0}, 2, errLZFLong},
		{"output-short", []byte{1, 'a', 'b'}, 5, errLZFShort},
		{"trailing-ctrl", []byte{0, 'a', 0}, 1, errLZFLong},
		{"huge-offset", []byte{31, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1<<5 | 31, 255}, 40, errLZFBackref},
	} {
		err := lzfDecompress(tc.in, make([]byte, tc.outLen))
		require.ErrorIs(t, err, tc.want, tc.name)
		_, ok := lzfReference(tc.in, tc.outLen)
		require.False(t, ok, "reference accepts %s", tc.name)
	}
}

// Every truncation and every single-byte change of valid streams fails
// cleanly or, when still a valid stream of that length, agrees with the
// reference decoder.
func TestLZFMutations(t *testing.T) {
	for name, plain := range lzfInputs() {
		if len(plain) > 3000 {
			plain = plain[:3000]
		}
		c := rdbfile.LZF(plain)
		for cut := 0; cut < len(c); cut++ {
			out := make([]byte, len(plain))
			require.Error(t, lzfDecompress(c[:cut], out), "%s cut at %d", name, cut)
		}
		step := 1
		if len(c) > 300 {
			step = 7
		}
		for i := 0; i < len(c); i += step {
			for _, x := range []byte{0x01, 0x20, 0x80, 0xff} {
				m := bytes.Clone(c)
				m[i] ^= x
				checkLZFAgainstReference(t, m, len(plain))
			}
		}
	}
}

func checkLZFAgainstReference(t *testing.T, in []byte, outLen int) {
	t.Helper()
	out := make([]byte, outLen)
	err := lzfDecompress(in, out)
	ref, ok := lzfReference(in, outLen)
	if ok {
		require.NoError(t, err)
		require.Equal(t, ref, out)
		return
	}
	require.Error(t, err)
	require.True(t, errors.Is(err, errLZFLiteral) || errors.Is(err, errLZFBackref) ||
		errors.Is(err, errLZFShort) || errors.Is(err, errLZFLong), "unexpected error %v", err)
}

func FuzzLZF(f *testing.F) {
	for _, plain := range lzfInputs() {
		if len(plain) > 2000 {
			plain = plain[:2000]
		}
		f.Add(rdbfile.LZF(plain), uint16(len(plain)))
	}
	f.Add([]byte{0, 'a', 7 << 5, 255, 0}, uint16(265))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, outLen uint16) {
		checkLZFAgainstReference(t, in, int(outLen))
		// and the round trip of the input as plain data
		if len(in) > 0 {
			c := rdbfile.LZF(in)
			out := make([]byte, len(in))
			require.NoError(t, lzfDecompress(c, out))
			require.Equal(t, in, out)
		}
	})
}

func BenchmarkLZF(b *testing.B) {
	plain := lzfInputs()["words"]
	c := rdbfile.LZF(plain)
	out := make([]byte, len(plain))
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if err := lzfDecompress(c, out); err != nil {
			b.Fatal(err)
		}
	}
}
