package rdb

import (
	"math/rand/v2"
	"testing"

	"github.com/hdt3213/rdb/crc64jones"
	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/stretchr/testify/require"
)

func TestChecksumCheckValues(t *testing.T) {
	// The check values of Redis's src/crc64.c self test.
	require.Equal(t, uint64(0xe9c6d914c4b8d9ca), Checksum([]byte("123456789")))
	li := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed " +
		"do eiusmod tempor incididunt ut labore et dolore magna " +
		"aliqua. Ut enim ad minim veniam, quis nostrud exercitation " +
		"ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis " +
		"aute irure dolor in reprehenderit in voluptate velit esse " +
		"cillum dolore eu fugiat nulla pariatur. Excepteur sint " +
		"occaecat cupidatat non proident, sunt in culpa qui officia " +
		"deserunt mollit anim id est laborum.\x00" // sizeof includes the NUL
	require.Equal(t, uint64(0xc7794709e69683b3), Checksum([]byte(li)))
	require.Equal(t, uint64(0), Checksum(nil))
	require.Equal(t, uint64(0), Checksum([]byte{}))
}

func TestChecksumMatchesReferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		want := rdbfile.CRC64(0, p) // a byte-at-a-time table CRC
		require.Equal(t, want, Checksum(p), "len %d", n)
		h := crc64jones.New()
		h.Write(p)
		require.Equal(t, want, h.Sum64(), "hdt3213 crc64jones, len %d", n)
	}
}

// Checksumming in pieces of any size (as the reader does) gives the
// one-shot value.
func TestChecksumIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 5000)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	want := Checksum(p)
	for trial := 0; trial < 200; trial++ {
		var crc uint64
		for rest := p; len(rest) > 0; {
			n := min(len(rest), rng.IntN(40))
			crc = crc64Update(crc, rest[:n])
			rest = rest[n:]
		}
		require.Equal(t, want, crc)
	}
	// byte by byte, as reader.readByte does with the first table
	var crc uint64
	for _, b := range p {
		crc = crcTab[0][byte(crc)^b] ^ crc>>8
	}
	require.Equal(t, want, crc)
}

func BenchmarkChecksum(b *testing.B) {
	p := make([]byte, 1<<20)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Checksum(p)
	}
}
