// Package rdbfile writes RDB bytes for tests: whole snapshots through a
// [File] builder, and the structures stored inside values (listpacks,
// ziplists, intsets, zipmaps, LZF streams) through plain functions.
//
//	snap := rdbfile.New(10).Aux("redis-ver", "7.0.15").
//		Select(0).Set("k", "v").Select(3).List("l", "a", "b").Bytes()
//
// It is written from Redis's sources (rdb.h, rdb.c, listpack.c, ziplist.c,
// intset.c, zipmap.c, lzf_c.c), independently of package rdb, whose decoder
// its output tests: it must not import rdb, so that rdb's own tests can use
// it.
package rdbfile

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Opcodes (rdb.h).
const (
	opExpireTimeMs = 252
	opAux          = 250
	opResizeDB     = 251
	opSelectDB     = 254
	opEOF          = 255
)

// Value types (rdb.h) of the keys File writes itself.
const (
	typeString = 0
	typeList   = 1
)

// File accumulates an RDB file. Its methods append and return the File, so
// that calls chain; [File.Bytes] ends it.
type File struct {
	b       []byte
	version int
}

// New starts a file with a "REDIS00NN" header.
func New(version int) *File {
	return &File{b: fmt.Appendf(nil, "REDIS%04d", version), version: version}
}

// NewValkey starts a file with a "VALKEYNNN" header.
func NewValkey(version int) *File {
	return &File{b: fmt.Appendf(nil, "VALKEY%03d", version), version: version}
}

// Len returns the number of bytes written so far: the offset of the next.
func (f *File) Len() int { return len(f.b) }

// Raw appends bytes as they are.
func (f *File) Raw(b ...byte) *File {
	f.b = append(f.b, b...)
	return f
}

// Length appends an RDB length in its shortest form.
func (f *File) Length(n uint64) *File {
	f.b = AppendLength(f.b, n)
	return f
}

// Uint64LE appends 8 bytes little-endian (expiry times, binary doubles).
func (f *File) Uint64LE(v uint64) *File {
	f.b = binary.LittleEndian.AppendUint64(f.b, v)
	return f
}

// Str appends a length-prefixed string.
func (f *File) Str(s string) *File {
	f.Length(uint64(len(s)))
	f.b = append(f.b, s...)
	return f
}

// Blob appends length-prefixed bytes: a string holding an encoded
// structure (a listpack, a ziplist ...) or any other binary string.
func (f *File) Blob(p []byte) *File {
	f.Length(uint64(len(p)))
	f.b = append(f.b, p...)
	return f
}

// IntStr appends an integer-encoded string (8, 16 or 32 bits).
func (f *File) IntStr(v int64) *File {
	switch {
	case v >= math.MinInt8 && v <= math.MaxInt8:
		f.b = append(f.b, 0xc0, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		f.b = binary.LittleEndian.AppendUint16(append(f.b, 0xc1), uint16(v))
	default:
		f.b = binary.LittleEndian.AppendUint32(append(f.b, 0xc2), uint32(v))
	}
	return f
}

// LZFStr appends an LZF-compressed string.
func (f *File) LZFStr(plain []byte) *File {
	c := LZF(plain)
	f.b = append(f.b, 0xc3)
	f.Length(uint64(len(c)))
	f.Length(uint64(len(plain)))
	f.b = append(f.b, c...)
	return f
}

// ID appends a stream id as stream metadata stores it: two lengths.
func (f *File) ID(ms, seq uint64) *File { return f.Length(ms).Length(seq) }

// Aux appends an auxiliary field.
func (f *File) Aux(key, value string) *File { return f.Raw(opAux).Str(key).Str(value) }

// Select switches the database of the keys that follow.
func (f *File) Select(db int) *File { return f.Raw(opSelectDB).Length(uint64(db)) }

// ResizeDB appends the size hint of the current database.
func (f *File) ResizeDB(keys, expires uint64) *File {
	return f.Raw(opResizeDB).Length(keys).Length(expires)
}

// ExpireMs sets the expiry of the next key (Unix milliseconds).
func (f *File) ExpireMs(ms int64) *File { return f.Raw(opExpireTimeMs).Uint64LE(uint64(ms)) }

// Key appends a value-type byte and a key name; the value follows.
func (f *File) Key(valueType byte, key string) *File { return f.Raw(valueType).Str(key) }

// Set appends a string key.
func (f *File) Set(key, value string) *File { return f.Key(typeString, key).Str(value) }

// SetExpire appends a string key expiring at unixMs (Unix milliseconds).
func (f *File) SetExpire(key, value string, unixMs int64) *File {
	return f.ExpireMs(unixMs).Set(key, value)
}

// List appends a list key in the plain (linked list) encoding.
func (f *File) List(key string, elems ...string) *File {
	f.Key(typeList, key).Length(uint64(len(elems)))
	for _, e := range elems {
		f.Str(e)
	}
	return f
}

// Prefix returns a copy of the bytes written so far, unfinished.
func (f *File) Prefix() []byte { return append([]byte(nil), f.b...) }

// Bytes returns the finished file: the bytes so far, the EOF opcode and,
// from version 5, the CRC-64. The File is unchanged, so it can go on to
// build a longer file from the same prefix.
func (f *File) Bytes() []byte { return f.finish(true) }

// BytesNoChecksum is Bytes with a stored checksum of zero ("not
// computed", as Redis writes with rdbchecksum no) from version 5.
func (f *File) BytesNoChecksum() []byte { return f.finish(false) }

func (f *File) finish(checksum bool) []byte {
	out := append(f.Prefix(), opEOF)
	if f.version >= 5 {
		var sum uint64
		if checksum {
			sum = CRC64(0, out)
		}
		out = binary.LittleEndian.AppendUint64(out, sum)
	}
	return out
}

// AppendLength appends an RDB length in its shortest form.
func AppendLength(dst []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(dst, byte(n))
	case n < 1<<14:
		return append(dst, 0x40|byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0x81), n)
}

// crcTable is CRC-64/Jones in its reflected form (polynomial
// 0xad93d23594c935a9, reflected 0x95ac9329ac4bc9b5): Redis's RDB checksum.
var crcTable = func() (t [256]uint64) {
	for i := range t {
		c := uint64(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x95ac9329ac4bc9b5
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC64 continues the CRC-64/Jones checksum crc over b, a byte at a time.
func CRC64(crc uint64, b []byte) uint64 {
	for _, x := range b {
		crc = crcTable[byte(crc)^x] ^ crc>>8
	}
	return crc
}
