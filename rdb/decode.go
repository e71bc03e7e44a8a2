package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
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
	if d.rec.ent.Key != nil {
		e.Key = append([]byte(nil), d.rec.ent.Key...)
	}
	return e
}

func (p *keyOpcodes) reset() {
	p.expire, p.idle, p.freq, p.seen = -1, -1, -1, false
}

func (d *Decoder) next() (Record, error) {
	d.arena.reset()
	if !d.file.started {
		return d.readHeader()
	}
	if d.key.cur != nil {
		return d.nextChunk()
	}
	if d.file.done {
		return nil, io.EOF
	}
	d.rec.ent.Key = nil
	for {
		off := d.r.off
		t, err := d.r.readByte()
		if err != nil {
			return nil, d.fail("opcode", off, err)
		}
		if !d.pre.seen {
			d.pre.start = off
		}
		switch t {
		case opExpireTimeMs:
			v, err := d.r.uint64LE()
			if err != nil {
				return nil, d.fail("expire time", off, err)
			}
			d.pre.expire, d.pre.seen = int64(v), true
		case opExpireTime:
			b, err := d.r.next(4)
			if err != nil {
				return nil, d.fail("expire time", off, err)
			}
			d.pre.expire, d.pre.seen = int64(int32(binary.LittleEndian.Uint32(b)))*1000, true
		case opIdle:
			v, err := d.readLen("idle time")
			if err != nil {
				return nil, err
			}
			d.pre.idle, d.pre.seen = int64(v), true
		case opFreq:
			b, err := d.r.readByte()
			if err != nil {
				return nil, d.fail("lfu frequency", off, err)
			}
			d.pre.freq, d.pre.seen = int(b), true
		case opSelectDB:
			v, err := d.readLen("db number")
			if err != nil {
				return nil, err
			}
			if v > math.MaxInt32 {
				return nil, d.fail("db number", off, corrupt("db %d", v))
			}
			d.file.db = int(v)
			d.rec.sel = SelectDB{off: off, DB: d.file.db}
			return &d.rec.sel, nil
		case opResizeDB:
			k, err := d.readLen("resizedb keys")
			if err != nil {
				return nil, err
			}
			x, err := d.readLen("resizedb expires")
			if err != nil {
				return nil, err
			}
			d.rec.rsz = ResizeDB{off: off, Keys: k, Expires: x}
			return &d.rec.rsz, nil
		case opSlotInfo:
			var v [3]uint64
			for i := range v {
				if v[i], err = d.readLen("slot info"); err != nil {
					return nil, err
				}
			}
			d.rec.slot = SlotInfo{off: off, Slot: v[0], Keys: v[1], Expires: v[2]}
			return &d.rec.slot, nil
		case opAux:
			k, err := d.readString("aux key")
			if err != nil {
				return nil, err
			}
			v, err := d.readString("aux value")
			if err != nil {
				return nil, err
			}
			d.rec.aux = Aux{off: off, Key: k, Value: v}
			return &d.rec.aux, nil
		case opFunction2, opFunctionPreGA:
			if err := d.readFunction(off, t == opFunctionPreGA); err != nil {
				return nil, err
			}
			return &d.rec.fn, nil
		case opModuleAux:
			if err := d.readModuleAux(off); err != nil {
				return nil, err
			}
			return &d.rec.maux, nil
		case opKeyMetaOrSlotImport:
			if !d.file.valkey {
				return nil, d.fail("opcode", off, fmt.Errorf("%w: key metadata (opcode 243, Redis 8.6) is not supported", ErrUnsupportedType))
			}
			if err := d.readSlotImport(off); err != nil {
				return nil, err
			}
			return &d.rec.simp, nil
		case opEOF:
			if d.pre.seen {
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
	d.file.started = true
	b, err := d.r.next(9)
	if err != nil {
		return nil, d.fail("header", 0, err)
	}
	var digits []byte
	switch {
	case bytes.HasPrefix(b, []byte("REDIS")):
		d.file.magic, digits = "REDIS", b[5:9]
	case bytes.HasPrefix(b, []byte("VALKEY")):
		d.file.magic, digits, d.file.valkey = "VALKEY", b[6:9], true
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
	if d.file.valkey {
		max = maxValkeyVersion
		if v < valkeyVersion {
			return nil, d.fail("header", 0, fmt.Errorf("%w: %q", ErrUnsupportedVersion, b))
		}
	}
	if v < 1 || v > max && !d.cfg.futureVersions {
		return nil, d.fail("header", 0, fmt.Errorf("%w: %q (newest known: %d)", ErrUnsupportedVersion, b, max))
	}
	d.file.version = v
	d.rec.hdr = Header{Magic: d.file.magic, Version: v}
	return &d.rec.hdr, nil
}

func (d *Decoder) readEnd(off int64) (Record, error) {
	d.file.done = true
	d.rec.end = End{off: off}
	if d.file.version >= 5 {
		want := d.r.crc
		got, err := d.r.uint64LE()
		if err != nil {
			return nil, d.fail("checksum", d.r.off, err)
		}
		d.rec.end.Checksum = got
		if got != 0 {
			if got != want {
				return nil, d.fail("checksum", off+1, fmt.Errorf("%w: stored %016x, computed %016x", ErrChecksum, got, want))
			}
			d.rec.end.Verified = true
		}
	}
	d.rec.end.Size = d.r.off
	return &d.rec.end, nil
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
	d.rec.simp = SlotImport{off: off, Job: job, Ranges: d.rec.simp.Ranges[:0]}
	for i := uint64(0); i < n; i++ {
		from, err := d.readLen("slot range")
		if err != nil {
			return err
		}
		to, err := d.readLen("slot range")
		if err != nil {
			return err
		}
		d.rec.simp.Ranges = append(d.rec.simp.Ranges, [2]uint64{from, to})
	}
	return nil
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
		d.rec.fn = Function{off: off, Code: code}
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
	d.rec.fn = Function{off: off, Code: code, PreGA: true}
	return nil
}
