package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Opcodes (rdb.h).
const (
	opKeyMetaOrSlotImport = 243
	opSlotInfo            = 244
	opFunction2           = 245
	opFunctionPreGA       = 246
	opModuleAux           = 247
	opIdle                = 248
	opFreq                = 249
	opAux                 = 250
	opResizeDB            = 251
	opExpireTimeMs        = 252
	opExpireTime          = 253
	opSelectDB            = 254
	opEOF                 = 255
)

const (
	maxRedisVersion  = 13
	valkeyVersion    = 80
	maxValkeyVersion = 80
)

var errNilReader = errors.New("rdb: nil reader")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func (d *Decoder) fail(op string, off int64, err error) error {
	var re *Error
	if errors.As(err, &re) {
		return err
	}
	e := &Error{Offset: off, Op: op, Err: err}
	if d.ent.Key != nil {
		e.Key = append([]byte(nil), d.ent.Key...)
	}
	return e
}

func (d *Decoder) resetKey() {
	d.expire, d.idle, d.freq, d.havePre = -1, -1, -1, false
}

func (d *Decoder) next() (Record, error) {
	d.arena.reset()
	if !d.started {
		return d.readHeader()
	}
	if d.cur != nil {
		return d.nextChunk()
	}
	if d.done {
		return nil, io.EOF
	}
	d.ent.Key = nil
	for {
		off := d.r.off
		t, err := d.r.readByte()
		if err != nil {
			return nil, d.fail("opcode", off, err)
		}
		if !d.havePre {
			d.keyStart = off
		}
		switch t {
		case opExpireTimeMs:
			v, err := d.r.uint64LE()
			if err != nil {
				return nil, d.fail("expire time", off, err)
			}
			d.expire, d.havePre = int64(v), true
		case opExpireTime:
			b, err := d.r.next(4)
			if err != nil {
				return nil, d.fail("expire time", off, err)
			}
			d.expire, d.havePre = int64(int32(binary.LittleEndian.Uint32(b)))*1000, true
		case opIdle:
			v, err := d.readLen("idle time")
			if err != nil {
				return nil, err
			}
			d.idle, d.havePre = int64(v), true
		case opFreq:
			b, err := d.r.readByte()
			if err != nil {
				return nil, d.fail("lfu frequency", off, err)
			}
			d.freq, d.havePre = int(b), true
		case opSelectDB:
			v, err := d.readLen("db number")
			if err != nil {
				return nil, err
			}
			if v > math.MaxInt32 {
				return nil, d.fail("db number", off, corrupt("db %d", v))
			}
			d.db = int(v)
			d.sel = SelectDB{off: off, DB: d.db}
			return &d.sel, nil
		case opResizeDB:
			k, err := d.readLen("resizedb keys")
			if err != nil {
				return nil, err
			}
			x, err := d.readLen("resizedb expires")
			if err != nil {
				return nil, err
			}
			d.rsz = ResizeDB{off: off, Keys: k, Expires: x}
			return &d.rsz, nil
		case opSlotInfo:
			var v [3]uint64
			for i := range v {
				if v[i], err = d.readLen("slot info"); err != nil {
					return nil, err
				}
			}
			d.slot = SlotInfo{off: off, Slot: v[0], Keys: v[1], Expires: v[2]}
			return &d.slot, nil
		case opAux:
			k, err := d.readString("aux key")
			if err != nil {
				return nil, err
			}
			v, err := d.readString("aux value")
			if err != nil {
				return nil, err
			}
			d.aux = Aux{off: off, Key: k, Value: v}
			return &d.aux, nil
		case opFunction2, opFunctionPreGA:
			if err := d.readFunction(off, t == opFunctionPreGA); err != nil {
				return nil, err
			}
			return &d.fn, nil
		case opModuleAux:
			if err := d.readModuleAux(off); err != nil {
				return nil, err
			}
			return &d.maux, nil
		case opKeyMetaOrSlotImport:
			if !d.valkey {
				return nil, d.fail("opcode", off, fmt.Errorf("%w: key metadata (opcode 243, Redis 8.6) is not supported", ErrUnsupportedType))
			}
			if err := d.readSlotImport(off); err != nil {
				return nil, err
			}
			return &d.simp, nil
		case opEOF:
			if d.havePre {
				return nil, d.fail("opcode", off, corrupt("end of file after a key's expire/idle/freq opcode"))
			}
			return d.readEnd(off)
		default:
			rec, err := d.readKey(off, Encoding(t))
			if rec == nil && err == nil {
				continue // filtered out
			}
			return rec, err
		}
	}
}

func (d *Decoder) readHeader() (Record, error) {
	d.started = true
	b, err := d.r.next(9)
	if err != nil {
		return nil, d.fail("header", 0, err)
	}
	var digits []byte
	switch {
	case bytes.HasPrefix(b, []byte("REDIS")):
		d.magic, digits = "REDIS", b[5:9]
	case bytes.HasPrefix(b, []byte("VALKEY")):
		d.magic, digits, d.valkey = "VALKEY", b[6:9], true
	default:
		return nil, d.fail("header", 0, fmt.Errorf("%w: bad magic %q", ErrUnsupportedVersion, b))
	}
	v := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, d.fail("header", 0, fmt.Errorf("%w: bad version %q", ErrUnsupportedVersion, b))
		}
		v = v*10 + int(c-'0')
	}
	max := maxRedisVersion
	if d.valkey {
		max = maxValkeyVersion
		if v < valkeyVersion {
			return nil, d.fail("header", 0, fmt.Errorf("%w: %q", ErrUnsupportedVersion, b))
		}
	}
	if v < 1 || v > max && !d.cfg.futureVersions {
		return nil, d.fail("header", 0, fmt.Errorf("%w: %q (newest known: %d)", ErrUnsupportedVersion, b, max))
	}
	d.version = v
	d.hdr = Header{Magic: d.magic, Version: v}
	return &d.hdr, nil
}

func (d *Decoder) readEnd(off int64) (Record, error) {
	d.done = true
	d.end = End{off: off}
	if d.version >= 5 {
		want := d.r.crc
		got, err := d.r.uint64LE()
		if err != nil {
			return nil, d.fail("checksum", d.r.off, err)
		}
		d.end.Checksum = got
		if got != 0 {
			if got != want {
				return nil, d.fail("checksum", off+1, fmt.Errorf("%w: stored %016x, computed %016x", ErrChecksum, got, want))
			}
			d.end.Verified = true
		}
	}
	d.end.Size = d.r.off
	return &d.end, nil
}

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

// stringHeader reads a string's prefix. It returns the integer for
// int-encoded strings (isInt), or the raw length n, or for LZF the
// compressed and plain lengths.
func (d *Decoder) stringHeader(op string) (n uint64, clen uint64, lzf bool, iv int64, isInt bool, err error) {
	off := d.r.off
	v, enc, err := d.readLenEnc()
	if err != nil {
		return 0, 0, false, 0, false, d.fail(op, off, err)
	}
	if !enc {
		if v > uint64(d.cfg.maxStringLen) {
			return 0, 0, false, 0, false, d.fail(op, off, fmt.Errorf("%w: string of %d bytes (limit %d)", ErrTooLarge, v, d.cfg.maxStringLen))
		}
		return v, 0, false, 0, false, nil
	}
	switch v {
	case 0, 1, 2:
		size := 1 << v
		p, err := d.r.next(size)
		if err != nil {
			return 0, 0, false, 0, false, d.fail(op, off, err)
		}
		switch size {
		case 1:
			iv = int64(int8(p[0]))
		case 2:
			iv = int64(int16(binary.LittleEndian.Uint16(p)))
		default:
			iv = int64(int32(binary.LittleEndian.Uint32(p)))
		}
		return 0, 0, false, iv, true, nil
	case 3:
		cl, err := d.readLen("lzf compressed length")
		if err != nil {
			return 0, 0, false, 0, false, err
		}
		ul, err := d.readLen("lzf length")
		if err != nil {
			return 0, 0, false, 0, false, err
		}
		if ul > uint64(d.cfg.maxStringLen) || cl > uint64(d.cfg.maxStringLen) {
			return 0, 0, false, 0, false, d.fail(op, off, fmt.Errorf("%w: compressed string of %d bytes (limit %d)", ErrTooLarge, ul, d.cfg.maxStringLen))
		}
		// One LZF back reference of 3 bytes yields at most 264 bytes.
		if cl == 0 || ul > cl*88+1 {
			return 0, 0, false, 0, false, d.fail(op, off, corrupt("lzf lengths %d compressed, %d plain", cl, ul))
		}
		return ul, cl, true, 0, false, nil
	}
	return 0, 0, false, 0, false, d.fail(op, off, corrupt("unknown string encoding %d", v))
}

// readString reads a string into the arena (valid until the next call to
// Next).
func (d *Decoder) readString(op string) ([]byte, error) {
	off := d.r.off
	n, cl, lzf, iv, isInt, err := d.stringHeader(op)
	if err != nil {
		return nil, err
	}
	if isInt {
		return d.arena.appendInt(iv), nil
	}
	if lzf {
		in, err := d.r.next(int(cl))
		if err != nil {
			return nil, d.fail(op, off, err)
		}
		out := d.arena.alloc(int(n))
		if err := lzfDecompress(in, out); err != nil {
			return nil, d.fail(op, off, corrupt("%v", err))
		}
		return out, nil
	}
	if n > 1<<20 {
		s, err := d.r.appendN(nil, int(n))
		if err != nil {
			return nil, d.fail(op, off, err)
		}
		return s, nil
	}
	p, err := d.r.next(int(n))
	if err != nil {
		return nil, d.fail(op, off, err)
	}
	s := d.arena.alloc(len(p))
	copy(s, p)
	return s, nil
}

// readBlob reads a string holding an encoded structure (listpack, ziplist
// ...) into d.blob, which lives until the next blob.
func (d *Decoder) readBlob(op string) ([]byte, error) {
	off := d.r.off
	n, cl, lzf, iv, isInt, err := d.stringHeader(op)
	if err != nil {
		return nil, err
	}
	if isInt {
		d.blob = strconv.AppendInt(d.blob[:0], iv, 10)
		return d.blob, nil
	}
	if lzf {
		in, err := d.r.next(int(cl)) // aliases the reader's buffer when it fits
		if err != nil {
			return nil, d.fail(op, off, err)
		}
		if cap(d.blob) < int(n) {
			d.blob = make([]byte, n)
		}
		d.blob = d.blob[:n]
		if err := lzfDecompress(in, d.blob); err != nil {
			return nil, d.fail(op, off, corrupt("%v", err))
		}
		return d.blob, nil
	}
	if d.blob, err = d.r.appendN(d.blob[:0], int(n)); err != nil {
		return nil, d.fail(op, off, err)
	}
	return d.blob, nil
}

// skipString consumes a string without decoding it.
func (d *Decoder) skipString(op string) error {
	off := d.r.off
	n, cl, lzf, _, isInt, err := d.stringHeader(op)
	if err != nil || isInt {
		return err
	}
	if lzf {
		n = cl
	}
	if err := d.r.skip(int64(n)); err != nil {
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

func (d *Decoder) readSlotImport(off int64) error {
	job, err := d.readString("slot import job")
	if err != nil {
		return err
	}
	n, err := d.readLen("slot import ranges")
	if err != nil {
		return err
	}
	d.simp = SlotImport{off: off, Job: job, Ranges: d.simp.Ranges[:0]}
	for i := uint64(0); i < n; i++ {
		from, err := d.readLen("slot range")
		if err != nil {
			return err
		}
		to, err := d.readLen("slot range")
		if err != nil {
			return err
		}
		d.simp.Ranges = append(d.simp.Ranges, [2]uint64{from, to})
	}
	return nil
}

// arena hands out byte slices that stay valid until reset. Blocks are kept
// for reuse; oversized ones are dropped on reset.
type arena struct {
	blocks [][]byte
	cur    int
	pos    int
}

const arenaBlock = 64 << 10

func (a *arena) reset() {
	a.cur, a.pos = 0, 0
	for i, b := range a.blocks {
		if len(b) > arenaBlock {
			a.blocks = a.blocks[:i]
			break
		}
	}
}

func (a *arena) alloc(n int) []byte {
	for a.cur < len(a.blocks) {
		b := a.blocks[a.cur]
		if a.pos+n <= len(b) {
			s := b[a.pos : a.pos+n : a.pos+n]
			a.pos += n
			return s
		}
		if a.cur+1 == len(a.blocks) {
			break
		}
		a.cur++
		a.pos = 0
	}
	size := max(arenaBlock, n)
	a.blocks = append(a.blocks, make([]byte, size))
	a.cur = len(a.blocks) - 1
	a.pos = n
	return a.blocks[a.cur][:n:n]
}

func (a *arena) copy(p []byte) []byte {
	s := a.alloc(len(p))
	copy(s, p)
	return s
}

func (a *arena) appendInt(v int64) []byte {
	var tmp [20]byte
	return a.copy(strconv.AppendInt(tmp[:0], v, 10))
}

// readFunction reads a function library. The 7.0 release candidates
// (opcode 246) stored name, engine, an optional description and the code
// apart; they are folded into the "#!engine name=lib" form of opcode 245.
func (d *Decoder) readFunction(off int64, preGA bool) error {
	if !preGA {
		code, err := d.readString("function code")
		if err != nil {
			return err
		}
		d.fn = Function{off: off, Code: code}
		return nil
	}
	name, err := d.readString("function library name")
	if err != nil {
		return err
	}
	engine, err := d.readString("function engine name")
	if err != nil {
		return err
	}
	hasDesc, err := d.readLen("function description flag")
	if err != nil {
		return err
	}
	if hasDesc != 0 {
		if _, err := d.readString("function description"); err != nil {
			return err
		}
	}
	blob, err := d.readString("function code")
	if err != nil {
		return err
	}
	code := d.arena.alloc(0)
	code = fmt.Appendf(code, "#!%s name=%s\n%s", engine, name, blob)
	d.fn = Function{off: off, Code: code, PreGA: true}
	return nil
}
