package rdb

// CRC-64 with the Jones polynomial as Redis computes it (crc64.c): reflected,
// initial value 0, no final xor. check("123456789") = 0xe9c6d914c4b8d9ca.
// Slicing-by-8 tables, built once at package init.

const crcJonesPolyReflected = 0x95ac9329ac4bc9b5

var crcTab [8][256]uint64

func init() {
	for i := 0; i < 256; i++ {
		c := uint64(i)
		for k := 0; k < 8; k++ {
			if c&1 == 1 {
				c = c>>1 ^ crcJonesPolyReflected
			} else {
				c >>= 1
			}
		}
		crcTab[0][i] = c
	}
	for i := 0; i < 256; i++ {
		c := crcTab[0][i]
		for t := 1; t < 8; t++ {
			c = crcTab[0][c&0xff] ^ c>>8
			crcTab[t][i] = c
		}
	}
}

// crc64Update continues a Redis CRC-64 over p.
func crc64Update(crc uint64, p []byte) uint64 {
	for len(p) >= 8 {
		crc ^= uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
			uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
		crc = crcTab[7][crc&0xff] ^ crcTab[6][crc>>8&0xff] ^ crcTab[5][crc>>16&0xff] ^
			crcTab[4][crc>>24&0xff] ^ crcTab[3][crc>>32&0xff] ^ crcTab[2][crc>>40&0xff] ^
			crcTab[1][crc>>48&0xff] ^ crcTab[0][crc>>56]
		p = p[8:]
	}
	for _, b := range p {
		crc = crcTab[0][byte(crc)^b] ^ crc>>8
	}
	return crc
}

// Checksum returns the CRC-64 that Redis stores at the end of an RDB file
// (and of a DUMP payload) for the bytes p.
func Checksum(p []byte) uint64 { return crc64Update(0, p) }
