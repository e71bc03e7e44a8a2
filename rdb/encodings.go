package rdb

import (
	"encoding/binary"
)

// blobElems iterates the elements of one encoded blob: a listpack, a
// ziplist, an intset or a zipmap. Strings alias the blob.
type blobElems struct {
	kind  uint8
	b     []byte
	pos   int
	count int // declared element count, or -1 when unknown
	seen  int
	isz   int // intset element size
	zmVal bool
}

const (
	blobListpack = iota + 1
	blobZiplist
	blobIntset
	blobZipmap
)

func (it *blobElems) init(kind uint8, b []byte) error {
	*it = blobElems{kind: kind, b: b, count: -1}
	switch kind {
	case blobListpack:
		return it.header("listpack", 6)
	case blobZiplist:
		return it.header("ziplist", 10)
	case blobIntset:
		if len(b) < 8 {
			return corrupt("intset of %d bytes", len(b))
		}
		enc := binary.LittleEndian.Uint32(b)
		n := binary.LittleEndian.Uint32(b[4:])
		if enc != 2 && enc != 4 && enc != 8 {
			return corrupt("intset encoding %d", enc)
		}
		if uint64(len(b)-8) != uint64(enc)*uint64(n) {
			return corrupt("intset of %d x %d bytes in %d bytes", n, enc, len(b)-8)
		}
		it.isz, it.count, it.pos = int(enc), int(n), 8
	case blobZipmap:
		if len(b) < 2 {
			return corrupt("zipmap of %d bytes", len(b))
		}
		switch {
		case b[0] < 254:
			it.count = int(b[0]) * 2
		case b[0] == 255:
			return corrupt("zipmap count byte 0xff")
		}
		it.pos = 1
	}
	return nil
}

// header checks the header that listpacks (6 bytes) and ziplists (10)
// share: the total size first, the element count last (0xffff: unknown),
// and the end marker.
func (it *blobElems) header(what string, size int) error {
	b := it.b
	if len(b) < size+1 {
		return corrupt("%s of %d bytes", what, len(b))
	}
	if tot := binary.LittleEndian.Uint32(b); int64(tot) != int64(len(b)) {
		return corrupt("%s header says %d bytes, blob has %d", what, tot, len(b))
	}
	if b[len(b)-1] != 0xff {
		return corrupt("%s without end marker", what)
	}
	if c := binary.LittleEndian.Uint16(b[size-2:]); c != 0xffff {
		it.count = int(c)
	}
	it.pos = size
	return nil
}

// elem is one element of a blob: a string, aliasing the blob, or an
// integer. s is nil exactly for integers: a string, even an empty one, is a
// slice of the blob. (Four words at most: the struct then travels in
// registers; an isStr field would put it in memory on the hot path.)
type elem struct {
	s []byte
	v int64
}

func (x elem) isStr() bool { return x.s != nil }

// next returns the next element. ok is false at the end of the blob, which
// is then checked against its declared count.
func (it *blobElems) next() (x elem, ok bool, err error) {
	switch it.kind {
	case blobListpack:
		x, ok, err = it.lpNext()
	case blobZiplist:
		x, ok, err = it.zlNext()
	case blobIntset:
		if it.pos == len(it.b) {
			return elem{}, false, nil
		}
		p := it.b[it.pos:]
		switch it.isz {
		case 2:
			x.v = int64(int16(binary.LittleEndian.Uint16(p)))
		case 4:
			x.v = int64(int32(binary.LittleEndian.Uint32(p)))
		default:
			x.v = int64(binary.LittleEndian.Uint64(p))
		}
		it.pos += it.isz
		it.seen++
		return x, true, nil
	case blobZipmap:
		x.s, ok, err = it.zmNext()
	}
	if err != nil {
		return elem{}, false, err
	}
	if ok {
		it.seen++
	} else if it.count >= 0 && it.seen != it.count {
		return elem{}, false, corrupt("encoded structure declares %d elements, holds %d", it.count, it.seen)
	}
	return x, ok, nil
}

// need returns the next element, which must be there: at the end of the
// blob it fails with corrupt(msg).
func (it *blobElems) need(msg string) (elem, error) {
	x, ok, err := it.next()
	if err == nil && !ok {
		err = corrupt("%s", msg)
	}
	return x, err
}

// peek returns what next would return, without consuming it.
func (it *blobElems) peek() (elem, bool, error) {
	save := *it
	x, ok, err := it.next()
	*it = save
	return x, ok, err
}

func (it *blobElems) lpNext() (x elem, ok bool, err error) {
	b, p := it.b, it.pos
	if p >= len(b) {
		return elem{}, false, corrupt("listpack runs past its end")
	}
	c := b[p]
	var hdr, n int // header bytes, payload bytes
	isStr := false
	switch {
	case c == 0xff:
		if p != len(b)-1 {
			return elem{}, false, corrupt("listpack end marker at %d of %d", p, len(b))
		}
		return elem{}, false, nil
	case c&0x80 == 0:
		x.v, hdr = int64(c&0x7f), 1
	case c&0xc0 == 0x80:
		hdr, n, isStr = 1, int(c&0x3f), true
	case c&0xe0 == 0xc0:
		if p+2 > len(b) {
			return elem{}, false, corrupt("listpack entry past end")
		}
		u := uint64(c&0x1f)<<8 | uint64(b[p+1])
		x.v, hdr = int64(u<<51)>>51, 2
	case c&0xf0 == 0xe0:
		if p+2 > len(b) {
			return elem{}, false, corrupt("listpack entry past end")
		}
		hdr, n, isStr = 2, int(c&0x0f)<<8|int(b[p+1]), true
	case c == 0xf0:
		if p+5 > len(b) {
			return elem{}, false, corrupt("listpack entry past end")
		}
		hdr, n, isStr = 5, int(binary.LittleEndian.Uint32(b[p+1:])), true
	case c >= 0xf1 && c <= 0xf4:
		size := [...]int{2, 3, 4, 8}[c-0xf1]
		if p+1+size > len(b) {
			return elem{}, false, corrupt("listpack entry past end")
		}
		x.v = leInt(b[p+1 : p+1+size])
		hdr = 1 + size
	default:
		return elem{}, false, corrupt("listpack entry encoding 0x%02x", c)
	}
	l := hdr + n
	if n < 0 || p+l > len(b)-1 {
		return elem{}, false, corrupt("listpack entry of %d bytes at %d past end %d", l, p, len(b))
	}
	if isStr {
		x.s = b[p+hdr : p+l]
	}
	// backlen: 1 to 5 bytes
	bl := 1
	switch {
	case l > 268435454:
		bl = 5
	case l > 2097150:
		bl = 4
	case l > 16382:
		bl = 3
	case l > 127:
		bl = 2
	}
	if p+l+bl > len(b)-1 {
		return elem{}, false, corrupt("listpack entry backlen past end")
	}
	it.pos = p + l + bl
	return x, true, nil
}

func (it *blobElems) zlNext() (x elem, ok bool, err error) {
	b, p := it.b, it.pos
	if p >= len(b) {
		return elem{}, false, corrupt("ziplist runs past its end")
	}
	if b[p] == 0xff {
		if p != len(b)-1 {
			return elem{}, false, corrupt("ziplist end marker at %d of %d", p, len(b))
		}
		return elem{}, false, nil
	}
	// prevlen
	if b[p] == 0xfe {
		p += 5
	} else {
		p++
	}
	if p >= len(b)-1 {
		return elem{}, false, corrupt("ziplist entry past end")
	}
	c := b[p]
	var hdr, n int
	switch c >> 6 {
	case 0:
		hdr, n = 1, int(c&0x3f)
	case 1:
		if p+2 > len(b) {
			return elem{}, false, corrupt("ziplist entry past end")
		}
		hdr, n = 2, int(c&0x3f)<<8|int(b[p+1])
	case 2:
		if p+5 > len(b) {
			return elem{}, false, corrupt("ziplist entry past end")
		}
		hdr, n = 5, int(binary.BigEndian.Uint32(b[p+1:]))
	default:
		hdr = 1
		switch c {
		case 0xc0:
			n = 2
		case 0xd0:
			n = 4
		case 0xe0:
			n = 8
		case 0xf0:
			n = 3
		case 0xfe:
			n = 1
		default:
			if c < 0xf1 || c > 0xfd {
				return elem{}, false, corrupt("ziplist entry encoding 0x%02x", c)
			}
			x.v = int64(c&0x0f) - 1
		}
		if p+hdr+n > len(b)-1 {
			return elem{}, false, corrupt("ziplist entry past end")
		}
		if n > 0 {
			x.v = leInt(b[p+1 : p+1+n])
		}
		it.pos = p + hdr + n
		return x, true, nil
	}
	if n < 0 || p+hdr+n > len(b)-1 {
		return elem{}, false, corrupt("ziplist string of %d bytes past end", n)
	}
	it.pos = p + hdr + n
	return elem{s: b[p+hdr : p+hdr+n]}, true, nil
}

// leInt decodes a little-endian signed integer of 1, 2, 3, 4 or 8 bytes,
// as listpacks and ziplists store them.
func leInt(q []byte) int64 {
	switch len(q) {
	case 1:
		return int64(int8(q[0]))
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(q)))
	case 3:
		return int64(int32(uint32(q[0])<<8|uint32(q[1])<<16|uint32(q[2])<<24)) >> 8
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(q)))
	}
	return int64(binary.LittleEndian.Uint64(q))
}

// zmNext returns the next zipmap string: keys and values alternate.
func (it *blobElems) zmNext() ([]byte, bool, error) {
	b, p := it.b, it.pos
	if p >= len(b) {
		return nil, false, corrupt("zipmap runs past its end")
	}
	if b[p] == 0xff {
		if it.zmVal {
			return nil, false, corrupt("zipmap ends after a key")
		}
		if p != len(b)-1 {
			return nil, false, corrupt("zipmap end marker at %d of %d", p, len(b))
		}
		return nil, false, nil
	}
	var n int
	switch c := b[p]; {
	case c < 254:
		n, p = int(c), p+1
	case c == 254:
		if p+5 > len(b) {
			return nil, false, corrupt("zipmap length past end")
		}
		n, p = int(binary.LittleEndian.Uint32(b[p+1:])), p+5
	default:
		return nil, false, corrupt("zipmap length byte 0x%02x", c)
	}
	free := 0
	if it.zmVal {
		if p >= len(b) {
			return nil, false, corrupt("zipmap free byte past end")
		}
		free = int(b[p])
		p++
	}
	if n < 0 || p+n+free > len(b)-1 {
		return nil, false, corrupt("zipmap entry of %d bytes past end", n)
	}
	s := b[p : p+n]
	it.pos = p + n + free
	it.zmVal = !it.zmVal
	return s, true, nil
}
