package rdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// This file builds RDB bytes by hand for tests: files, strings in every
// encoding, listpacks, ziplists, intsets and zipmaps, and LZF streams.

// rdbFile accumulates an RDB file.
type rdbFile struct {
	bytes.Buffer
	version int
}

// newRDB starts a file with a "REDIS00NN" header.
func newRDB(version int) *rdbFile {
	f := &rdbFile{version: version}
	fmt.Fprintf(f, "REDIS%04d", version)
	return f
}

// newValkey starts a file with a "VALKEYNNN" header.
func newValkey(version int) *rdbFile {
	f := &rdbFile{version: version}
	fmt.Fprintf(f, "VALKEY%03d", version)
	return f
}

func (f *rdbFile) u8(b ...byte) *rdbFile { f.Write(b); return f }

// length writes an RDB length in its shortest form.
func (f *rdbFile) length(n uint64) *rdbFile {
	f.Write(encLen(n))
	return f
}

func encLen(n uint64) []byte {
	switch {
	case n < 1<<6:
		return []byte{byte(n)}
	case n < 1<<14:
		return []byte{0x40 | byte(n>>8), byte(n)}
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32([]byte{0x80}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{0x81}, n)
}

// str writes a length-prefixed raw string.
func (f *rdbFile) str(s string) *rdbFile { return f.raw([]byte(s)) }

func (f *rdbFile) raw(p []byte) *rdbFile {
	f.length(uint64(len(p)))
	f.Write(p)
	return f
}

// intStr writes an integer-encoded string (8, 16 or 32 bits).
func (f *rdbFile) intStr(v int64) *rdbFile {
	switch {
	case v >= math.MinInt8 && v <= math.MaxInt8:
		f.u8(0xc0, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		f.u8(0xc1)
		f.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	default:
		f.u8(0xc2)
		f.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
	}
	return f
}

// lzfStr writes an LZF-compressed string.
func (f *rdbFile) lzfStr(plain []byte) *rdbFile {
	c := lzfCompress(plain)
	f.u8(0xc3)
	f.length(uint64(len(c)))
	f.length(uint64(len(plain)))
	f.Write(c)
	return f
}

func (f *rdbFile) aux(k, v string) *rdbFile { return f.u8(opAux).str(k).str(v) }

func (f *rdbFile) selectDB(db int) *rdbFile { return f.u8(opSelectDB).length(uint64(db)) }

func (f *rdbFile) resizeDB(keys, expires uint64) *rdbFile {
	return f.u8(opResizeDB).length(keys).length(expires)
}

func (f *rdbFile) expireMs(ms int64) *rdbFile {
	f.u8(opExpireTimeMs)
	f.Write(binary.LittleEndian.AppendUint64(nil, uint64(ms)))
	return f
}

// key writes a value-type byte and a key name.
func (f *rdbFile) key(enc Encoding, k string) *rdbFile { return f.u8(byte(enc)).str(k) }

// stringKey writes a plain string key.
func (f *rdbFile) stringKey(k, v string) *rdbFile { return f.key(EncString, k).str(v) }

// end writes the EOF opcode and, for version 5 and up, the checksum (or 0
// when crc is false). It returns the file.
func (f *rdbFile) end(crc bool) []byte {
	f.u8(opEOF)
	if f.version >= 5 {
		var sum uint64
		if crc {
			sum = Checksum(f.Bytes())
		}
		f.Write(binary.LittleEndian.AppendUint64(nil, sum))
	}
	return bytes.Clone(f.Bytes())
}

// Listpacks (listpack.c).

// lpInt encodes an integer listpack entry (without backlen) in the
// smallest form.
func lpInt(v int64) []byte {
	switch {
	case v >= 0 && v <= 127:
		return []byte{byte(v)}
	case v >= -4096 && v <= 4095:
		u := uint16(v) & 0x1fff
		return []byte{0xc0 | byte(u>>8), byte(u)}
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return binary.LittleEndian.AppendUint16([]byte{0xf1}, uint16(v))
	case v >= -(1<<23) && v < 1<<23:
		u := uint32(v)
		return []byte{0xf2, byte(u), byte(u >> 8), byte(u >> 16)}
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.LittleEndian.AppendUint32([]byte{0xf3}, uint32(v))
	}
	return binary.LittleEndian.AppendUint64([]byte{0xf4}, uint64(v))
}

// lpStr encodes a string listpack entry (without backlen).
func lpStr(s []byte) []byte {
	n := len(s)
	switch {
	case n < 64:
		return append([]byte{0x80 | byte(n)}, s...)
	case n < 4096:
		return append([]byte{0xe0 | byte(n>>8), byte(n)}, s...)
	}
	return append(binary.LittleEndian.AppendUint32([]byte{0xf0}, uint32(n)), s...)
}

// lpBacklen encodes the length of an entry as listpack.c does, readable
// from right to left.
func lpBacklen(l int) []byte {
	switch {
	case l <= 127:
		return []byte{byte(l)}
	case l < 16383:
		return []byte{byte(l >> 7), byte(l&127) | 128}
	case l < 2097151:
		return []byte{byte(l >> 14), byte((l>>7)&127) | 128, byte(l&127) | 128}
	case l < 268435455:
		return []byte{byte(l >> 21), byte((l>>14)&127) | 128, byte((l>>7)&127) | 128, byte(l&127) | 128}
	}
	return []byte{byte(l >> 28), byte((l>>21)&127) | 128, byte((l>>14)&127) | 128, byte((l>>7)&127) | 128, byte(l&127) | 128}
}

// listpack assembles entries (from lpInt/lpStr) into a listpack blob.
func listpack(entries ...[]byte) []byte {
	body := []byte{}
	for _, e := range entries {
		body = append(body, e...)
		body = append(body, lpBacklen(len(e))...)
	}
	n := len(entries)
	if n > 65534 {
		n = 65535 // unknown: the reader must count
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(6+len(body)+1))
	out = binary.LittleEndian.AppendUint16(out, uint16(n))
	out = append(out, body...)
	return append(out, 0xff)
}

// lpAuto encodes a value as Redis would: an integer when the string is a
// canonical integer, a string otherwise.
func lpAuto(s string) []byte {
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err == nil && fmt.Sprint(v) == s {
		return lpInt(v)
	}
	return lpStr([]byte(s))
}

// Ziplists (ziplist.c).

// zlEntry is one ziplist entry payload: encoding header plus data, without
// the prevlen.
type zlEntry []byte

func zlStr(s []byte) zlEntry {
	n := len(s)
	switch {
	case n <= 63:
		return append([]byte{byte(n)}, s...)
	case n <= 16383:
		return append([]byte{0x40 | byte(n>>8), byte(n)}, s...)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0x80}, uint32(n)), s...)
}

func zlInt(v int64) zlEntry {
	switch {
	case v >= 0 && v <= 12:
		return []byte{0xf1 + byte(v)}
	case v >= math.MinInt8 && v <= math.MaxInt8:
		return []byte{0xfe, byte(v)}
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return binary.LittleEndian.AppendUint16([]byte{0xc0}, uint16(v))
	case v >= -(1<<23) && v < 1<<23:
		u := uint32(v)
		return []byte{0xf0, byte(u), byte(u >> 8), byte(u >> 16)}
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.LittleEndian.AppendUint32([]byte{0xd0}, uint32(v))
	}
	return binary.LittleEndian.AppendUint64([]byte{0xe0}, uint64(v))
}

// ziplist assembles entries with correct prevlen fields (1 byte below 254,
// otherwise 0xfe and 4 bytes).
func ziplist(entries ...zlEntry) []byte {
	body := []byte{}
	prev, tail := 0, 10
	for _, e := range entries {
		tail = 10 + len(body)
		start := len(body)
		if prev < 254 {
			body = append(body, byte(prev))
		} else {
			body = binary.LittleEndian.AppendUint32(append(body, 0xfe), uint32(prev))
		}
		body = append(body, e...)
		prev = len(body) - start
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(10+len(body)+1))
	out = binary.LittleEndian.AppendUint32(out, uint32(tail))
	n := len(entries)
	if n >= 65535 {
		n = 65535
	}
	out = binary.LittleEndian.AppendUint16(out, uint16(n))
	out = append(out, body...)
	return append(out, 0xff)
}

// intset encodes values with the given width (2, 4 or 8 bytes).
func intset(width int, vals ...int64) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(width))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(vals)))
	for _, v := range vals {
		switch width {
		case 2:
			out = binary.LittleEndian.AppendUint16(out, uint16(v))
		case 4:
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		default:
			out = binary.LittleEndian.AppendUint64(out, uint64(v))
		}
	}
	return out
}

// zipmap encodes field/value pairs (zipmap.c), with free bytes after each
// value.
func zipmap(free int, kv ...string) []byte {
	n := len(kv) / 2
	if n >= 254 {
		n = 254
	}
	out := []byte{byte(n)}
	zmLen := func(l int) {
		if l < 254 {
			out = append(out, byte(l))
		} else {
			out = binary.LittleEndian.AppendUint32(append(out, 254), uint32(l))
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		zmLen(len(kv[i]))
		out = append(out, kv[i]...)
		zmLen(len(kv[i+1]))
		out = append(out, byte(free))
		out = append(out, kv[i+1]...)
		out = append(out, make([]byte, free)...)
	}
	return append(out, 0xff)
}

// lzfCompress is a small greedy LZF compressor for test inputs: literal
// runs of up to 32 bytes and back references of 3 to 264 bytes within
// 8 KiB, found through a table of 3-byte prefixes.
func lzfCompress(in []byte) []byte {
	var out, lit []byte
	flush := func() {
		for len(lit) > 0 {
			n := min(len(lit), 32)
			out = append(out, byte(n-1))
			out = append(out, lit[:n]...)
			lit = lit[n:]
		}
	}
	last := map[[3]byte]int{}
	for i := 0; i < len(in); {
		if i+3 <= len(in) {
			k := [3]byte{in[i], in[i+1], in[i+2]}
			ref, ok := last[k]
			last[k] = i
			if ok && i-ref-1 < 8192 {
				n := 0
				for i+n < len(in) && n < 264 && in[ref+n] == in[i+n] {
					n++
				}
				flush()
				off := i - ref - 1
				if l := n - 2; l < 7 {
					out = append(out, byte(l<<5|off>>8), byte(off))
				} else {
					out = append(out, byte(7<<5|off>>8), byte(l-7), byte(off))
				}
				for j := i + 1; j < i+n && j+3 <= len(in); j++ {
					last[[3]byte{in[j], in[j+1], in[j+2]}] = j
				}
				i += n
				continue
			}
		}
		lit = append(lit, in[i])
		i++
	}
	flush()
	return out
}
