package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Lengths, strings and numbers as the file encodes them.

var errEncodedLength = errors.New("string encoding where a length was expected")

// readLen reads a length; an encoded-string marker is corrupt here.
func (d *Decoder) readLen(op string) (uint64, error) {
	off := d.r.off
	v, enc, err := d.readLenEnc()
	if err != nil {
		return 0, d.fail(op, off, err)
	}
	if enc {
		return 0, d.fail(op, off, corrupt("%v", errEncodedLength))
	}
	return v, nil
}

// readLenEnc reads a length or, when enc is set, a string encoding (0-3).
func (d *Decoder) readLenEnc() (v uint64, enc bool, err error) {
	b, err := d.r.readByte()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3f), false, nil
	case 1:
		b2, err := d.r.readByte()
		if err != nil {
			return 0, false, err
		}
		return uint64(b&0x3f)<<8 | uint64(b2), false, nil
	case 2:
		switch b {
		case 0x80:
			p, err := d.r.next(4)
			if err != nil {
				return 0, false, err
			}
			return uint64(binary.BigEndian.Uint32(p)), false, nil
		case 0x81:
			p, err := d.r.next(8)
			if err != nil {
				return 0, false, err
			}
			return binary.BigEndian.Uint64(p), false, nil
		}
		return 0, false, corrupt("unknown length prefix 0x%02x", b)
	}
	return uint64(b & 0x3f), true, nil
}

// strHeader is a string's prefix: an integer for int-encoded strings, or
// the length of the bytes that follow, or for LZF the compressed length and
// the plain one.
type strHeader struct {
	enc  uint8  // strRaw, strInt or strLZF
	n    uint64 // strRaw: the length; strLZF: the plain length
	clen uint64 // strLZF: the compressed length
	iv   int64  // strInt: the value
}

const (
	strRaw = iota
	strInt
	strLZF
)

// stored returns how many bytes of the file follow the header.
func (h strHeader) stored() uint64 {
	switch h.enc {
	case strInt:
		return 0
	case strLZF:
		return h.clen
	}
	return h.n
}

// stringHeader reads a string's prefix, checking its lengths against the
// caps.
func (d *Decoder) stringHeader(op string) (strHeader, error) {
	off := d.r.off
	v, enc, err := d.readLenEnc()
	if err != nil {
		return strHeader{}, d.fail(op, off, err)
	}
	if !enc {
		if v > uint64(d.cfg.maxStringLen) {
			return strHeader{}, d.fail(op, off, fmt.Errorf("%w: string of %d bytes (limit %d)", ErrTooLarge, v, d.cfg.maxStringLen))
		}
		return strHeader{enc: strRaw, n: v}, nil
	}
	switch v {
	case 0, 1, 2:
		size := 1 << v
		p, err := d.r.next(size)
		if err != nil {
			return strHeader{}, d.fail(op, off, err)
		}
		h := strHeader{enc: strInt}
		switch size {
		case 1:
			h.iv = int64(int8(p[0]))
		case 2:
			h.iv = int64(int16(binary.LittleEndian.Uint16(p)))
		default:
			h.iv = int64(int32(binary.LittleEndian.Uint32(p)))
		}
		return h, nil
	case 3:
		cl, err := d.readLen("lzf compressed length")
		if err != nil {
			return strHeader{}, err
		}
		ul, err := d.readLen("lzf length")
		if err != nil {
			return strHeader{}, err
		}
		if ul > uint64(d.cfg.maxStringLen) || cl > uint64(d.cfg.maxStringLen) {
			return strHeader{}, d.fail(op, off, fmt.Errorf("%w: compressed string of %d bytes (limit %d)", ErrTooLarge, ul, d.cfg.maxStringLen))
		}
		// One LZF back reference of 3 bytes yields at most 264 bytes.
		if cl == 0 || ul > cl*88+1 {
			return strHeader{}, d.fail(op, off, corrupt("lzf lengths %d compressed, %d plain", cl, ul))
		}
		return strHeader{enc: strLZF, n: ul, clen: cl}, nil
	}
	return strHeader{}, d.fail(op, off, corrupt("unknown string encoding %d", v))
}

// readString reads a string into the arena (valid until the next call to
// Next).
func (d *Decoder) readString(op string) ([]byte, error) {
	off := d.r.off
	h, err := d.stringHeader(op)
	if err != nil {
		return nil, err
	}
	switch {
	case h.enc == strInt:
		return d.arena.appendInt(h.iv), nil
	case h.enc == strLZF:
		in, err := d.r.next(int(h.clen))
		if err != nil {
			return nil, d.fail(op, off, err)
		}
		out := d.arena.alloc(int(h.n))
		if err := lzfDecompress(in, out); err != nil {
			return nil, d.fail(op, off, corrupt("%v", err))
		}
		return out, nil
	case h.n > 1<<20:
		s, err := d.r.appendN(nil, int(h.n))
		if err != nil {
			return nil, d.fail(op, off, err)
		}
		return s, nil
	}
	p, err := d.r.next(int(h.n))
	if err != nil {
		return nil, d.fail(op, off, err)
	}
	s := d.arena.alloc(len(p))
	copy(s, p)
	return s, nil
}

// readBlob reads a string holding an encoded structure (listpack, ziplist
// ...) into d.key.buf, which lives until the next blob.
func (d *Decoder) readBlob(op string) ([]byte, error) {
	off := d.r.off
	h, err := d.stringHeader(op)
	if err != nil {
		return nil, err
	}
	switch h.enc {
	case strInt:
		d.key.buf = strconv.AppendInt(d.key.buf[:0], h.iv, 10)
		return d.key.buf, nil
	case strLZF:
		in, err := d.r.next(int(h.clen)) // aliases the reader's buffer when it fits
		if err != nil {
			return nil, d.fail(op, off, err)
		}
		if cap(d.key.buf) < int(h.n) {
			d.key.buf = make([]byte, h.n)
		}
		d.key.buf = d.key.buf[:h.n]
		if err := lzfDecompress(in, d.key.buf); err != nil {
			return nil, d.fail(op, off, corrupt("%v", err))
		}
		return d.key.buf, nil
	}
	if d.key.buf, err = d.r.appendN(d.key.buf[:0], int(h.n)); err != nil {
		return nil, d.fail(op, off, err)
	}
	return d.key.buf, nil
}

// skipString consumes a string without decoding it.
func (d *Decoder) skipString(op string) error {
	off := d.r.off
	h, err := d.stringHeader(op)
	if err != nil {
		return err
	}
	if err := d.r.skip(int64(h.stored())); err != nil {
		return d.fail(op, off, err)
	}
	return nil
}

// readDoubleString reads a zset score in the old string form (type 3).
func (d *Decoder) readDoubleString() (float64, error) {
	off := d.r.off
	l, err := d.r.readByte()
	if err != nil {
		return 0, d.fail("zset score", off, err)
	}
	switch l {
	case 253:
		return math.NaN(), nil
	case 254:
		return math.Inf(1), nil
	case 255:
		return math.Inf(-1), nil
	}
	p, err := d.r.next(int(l))
	if err != nil {
		return 0, d.fail("zset score", off, err)
	}
	f, err := parseScore(p)
	if err != nil {
		return 0, d.fail("zset score", off, err)
	}
	return f, nil
}

func parseScore(p []byte) (float64, error) {
	switch string(p) {
	case "inf", "+inf", "Inf", "+Inf":
		return math.Inf(1), nil
	case "-inf", "-Inf":
		return math.Inf(-1), nil
	case "nan", "-nan":
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(string(p), 64)
	if err != nil {
		return 0, corrupt("score %q", p)
	}
	return f, nil
}

func (d *Decoder) readFloat64(op string) (float64, error) {
	off := d.r.off
	v, err := d.r.uint64LE()
	if err != nil {
		return 0, d.fail(op, off, err)
	}
	return math.Float64frombits(v), nil
}

func (d *Decoder) readMillis(op string) (int64, error) {
	off := d.r.off
	v, err := d.r.uint64LE()
	if err != nil {
		return 0, d.fail(op, off, err)
	}
	return int64(v), nil
}
