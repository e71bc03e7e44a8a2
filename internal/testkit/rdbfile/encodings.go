package rdbfile

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The structures stored inside values, each as Redis writes it.

// Listpacks (listpack.c).

// LPInt encodes an integer listpack entry (without backlen) in the
// smallest form.
func LPInt(v int64) []byte {
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

// LPStr encodes a string listpack entry (without backlen).
func LPStr(s string) []byte {
	n := len(s)
	switch {
	case n < 64:
		return append([]byte{0x80 | byte(n)}, s...)
	case n < 4096:
		return append([]byte{0xe0 | byte(n>>8), byte(n)}, s...)
	}
	return append(binary.LittleEndian.AppendUint32([]byte{0xf0}, uint32(n)), s...)
}

// LPBacklen encodes the length of an entry as listpack.c does, readable
// from right to left.
func LPBacklen(l int) []byte {
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

// Listpack assembles entries (from LPInt/LPStr) into a listpack blob.
func Listpack(entries ...[]byte) []byte {
	body := []byte{}
	for _, e := range entries {
		body = append(body, e...)
		body = append(body, LPBacklen(len(e))...)
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

// LPAuto encodes a value as Redis would: an integer when the string is a
// canonical integer, a string otherwise.
func LPAuto(s string) []byte {
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err == nil && fmt.Sprint(v) == s {
		return LPInt(v)
	}
	return LPStr(s)
}

// Ziplists (ziplist.c).

// ZLEntry is one ziplist entry payload: encoding header plus data, without
// the prevlen.
type ZLEntry []byte

// ZLStr encodes a string ziplist entry.
func ZLStr(s string) ZLEntry {
	n := len(s)
	switch {
	case n <= 63:
		return append([]byte{byte(n)}, s...)
	case n <= 16383:
		return append([]byte{0x40 | byte(n>>8), byte(n)}, s...)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0x80}, uint32(n)), s...)
}

// ZLInt encodes an integer ziplist entry in the smallest form.
func ZLInt(v int64) ZLEntry {
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

// Ziplist assembles entries with correct prevlen fields (1 byte below 254,
// otherwise 0xfe and 4 bytes).
func Ziplist(entries ...ZLEntry) []byte {
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

// Intset encodes values with the given width (2, 4 or 8 bytes).
func Intset(width int, vals ...int64) []byte {
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

// Zipmap encodes field/value pairs (zipmap.c), with free bytes after each
// value.
func Zipmap(free int, kv ...string) []byte {
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

// LZF compresses in with a small greedy LZF compressor: literal runs of up
// to 32 bytes and back references of 3 to 264 bytes within 8 KiB, found
// through a table of 3-byte prefixes.
func LZF(in []byte) []byte {
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
