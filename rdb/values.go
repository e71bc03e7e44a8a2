package rdb

import (
	"encoding/binary"
	"fmt"
	"math"
)

// typeOf maps a value-type byte to its logical type.
func typeOf(enc Encoding) (Type, bool) {
	switch enc {
	case EncString:
		return TypeString, true
	case EncList, EncListZiplist, EncListQuicklist, EncListQuicklist2:
		return TypeList, true
	case EncSet, EncSetIntset, EncSetListpack:
		return TypeSet, true
	case EncZSet, EncZSet2, EncZSetZiplist, EncZSetListpack:
		return TypeZSet, true
	case EncHash, EncHashZipmap, EncHashZiplist, EncHashListpack, EncHashMetadataPreGA,
		EncHashListpackExPreGA, EncHashMetadata, EncHashListpackEx, EncValkeyHash2:
		return TypeHash, true
	case EncStreamListpacks, EncStreamListpacks2, EncStreamListpacks3:
		return TypeStream, true
	case EncModulePreGA, EncModule2:
		return TypeModule, true
	}
	return 0, false
}

// valueIter delivers a key's elements chunk by chunk.
type valueIter interface {
	fill(d *Decoder, e *Entry) (done bool, err error)
}

// readKey reads a key record's key and starts its value. It returns a nil
// record and nil error when a filter rejected (and skipped) the key.
func (d *Decoder) readKey(off int64, enc Encoding) (Record, error) {
	typ, ok := typeOf(enc)
	if !ok || enc == EncValkeyHash2 { // 150 is a report value, not a file byte
		return nil, d.fail("value type", off, fmt.Errorf("%w: value type %d", ErrUnsupportedType, enc))
	}
	if enc == EncHashMetadataPreGA && d.valkey {
		enc = EncValkeyHash2
	}
	k, err := d.readString("key")
	if err != nil {
		return nil, err
	}
	d.keyb = append(d.keyb[:0], k...)
	e := &d.ent
	*e = Entry{
		off: d.keyStart, DB: d.db, Key: d.keyb, Type: typ, Encoding: enc,
		Expire: d.expire, Idle: d.idle, Freq: d.freq, Chunk: -1, Len: -1,
		Elems: e.Elems[:0], Fields: e.Fields[:0], Members: e.Members[:0],
	}
	d.resetKey()
	for _, f := range d.cfg.filters {
		if !f(e.DB, e.Key, typ) {
			if err := d.skipValue(enc); err != nil {
				return nil, err
			}
			e.Key = nil
			return nil, nil
		}
	}
	switch enc {
	case EncString:
		s, err := d.readString("string value")
		if err != nil {
			return nil, err
		}
		e.Str, e.Chunk, e.Last = s, 0, true
		return e, nil
	case EncModulePreGA:
		return nil, d.fail("module value", d.r.off, fmt.Errorf("%w: pre-GA module value (type 6) cannot be parsed without its module", ErrUnsupportedType))
	case EncModule2:
		if err := d.readModule(&d.mod, false); err != nil {
			return nil, err
		}
		e.Module, e.Chunk, e.Last = &d.mod, 0, true
		return e, nil
	case EncList, EncSet, EncZSet, EncZSet2, EncHash, EncHashMetadata, EncHashMetadataPreGA, EncValkeyHash2:
		it := &d.itCount
		*it = countIter{enc: enc}
		if enc == EncHashMetadata {
			if it.minExpire, err = d.readMillis("hash min expire"); err != nil {
				return nil, err
			}
		}
		if it.left, err = d.readLen("element count"); err != nil {
			return nil, err
		}
		e.Len = int64(min(it.left, math.MaxInt64))
		d.cur = it
	case EncListQuicklist, EncListQuicklist2:
		it := &d.itQuick
		*it = quickIter{plainCapable: enc == EncListQuicklist2}
		if it.nodes, err = d.readLen("quicklist node count"); err != nil {
			return nil, err
		}
		d.cur = it
	case EncStreamListpacks, EncStreamListpacks2, EncStreamListpacks3:
		it := &d.itStream
		*it = streamIter{enc: enc}
		if it.nodes, err = d.readLen("stream listpack count"); err != nil {
			return nil, err
		}
		d.strm.Entries, d.strm.Meta = d.strm.Entries[:0], nil
		e.Stream = &d.strm
		d.cur = it
	default: // single-blob encodings
		it := &d.itBlob
		*it = blobIter{enc: enc}
		if enc == EncHashListpackEx {
			if _, err := d.readMillis("hash min expire"); err != nil {
				return nil, err
			}
		}
		boff := d.r.off
		b, err := d.readBlob("encoded value")
		if err != nil {
			return nil, err
		}
		kind := uint8(blobListpack)
		switch enc {
		case EncHashZipmap:
			kind = blobZipmap
		case EncListZiplist, EncZSetZiplist, EncHashZiplist:
			kind = blobZiplist
		case EncSetIntset:
			kind = blobIntset
		}
		if err := it.el.init(kind, b); err != nil {
			return nil, d.fail("encoded value", boff, err)
		}
		it.off = boff
		if it.el.count >= 0 {
			switch enc {
			case EncHashZipmap, EncHashZiplist, EncHashListpack, EncZSetZiplist, EncZSetListpack:
				e.Len = int64(it.el.count / 2)
			case EncHashListpackEx, EncHashListpackExPreGA:
				e.Len = int64(it.el.count / 3)
			default:
				e.Len = int64(it.el.count)
			}
		}
		d.cur = it
	}
	return d.nextChunk()
}

func (d *Decoder) nextChunk() (Record, error) {
	e := &d.ent
	e.Chunk++
	e.Elems, e.Fields, e.Members = e.Elems[:0], e.Fields[:0], e.Members[:0]
	if e.Stream != nil {
		e.Stream.Entries = e.Stream.Entries[:0]
		d.slab = d.slab[:0]
	}
	done, err := d.cur.fill(d, e)
	if err != nil {
		return nil, err
	}
	e.Last = done
	if done {
		d.cur = nil
	}
	return e, nil
}

// maxFieldExpire is the largest hash field expiry Redis accepts (2^48-1 ms).
const maxFieldExpire = 1<<48 - 1

// countIter reads collections stored as a count and then plain strings.
type countIter struct {
	enc       Encoding
	left      uint64
	minExpire int64
}

func (it *countIter) fill(d *Decoder, e *Entry) (bool, error) {
	for n := 0; n < d.cfg.chunkSize && it.left > 0; n++ {
		switch it.enc {
		case EncList, EncSet:
			s, err := d.readString("element")
			if err != nil {
				return false, err
			}
			e.Elems = append(e.Elems, s)
		case EncZSet, EncZSet2:
			m, err := d.readString("zset member")
			if err != nil {
				return false, err
			}
			var sc float64
			if it.enc == EncZSet {
				sc, err = d.readDoubleString()
			} else {
				sc, err = d.readFloat64("zset score")
			}
			if err != nil {
				return false, err
			}
			e.Members = append(e.Members, Member{Name: m, Score: sc})
		default: // hashes
			var exp int64
			if it.enc == EncHashMetadata || it.enc == EncHashMetadataPreGA {
				toff := d.r.off
				ttl, err := d.readLen("hash field ttl")
				if err != nil {
					return false, err
				}
				at := ttl
				if it.enc == EncHashMetadata && ttl != 0 {
					// relative to the hash's minimum expiry, plus one
					at = ttl + uint64(it.minExpire) - 1
				}
				// Redis's limit for field expiries (EB_EXPIRE_TIME_MAX);
				// it also catches a relative TTL that wrapped around.
				if at > maxFieldExpire || it.enc == EncHashMetadata && ttl != 0 && (at < ttl || it.minExpire < 0) {
					return false, d.fail("hash field ttl", toff, corrupt("field expiry %d out of range", at))
				}
				exp = int64(at)
			}
			f, err := d.readString("hash field")
			if err != nil {
				return false, err
			}
			v, err := d.readString("hash value")
			if err != nil {
				return false, err
			}
			if it.enc == EncValkeyHash2 {
				if exp, err = d.readMillis("hash field expire"); err != nil {
					return false, err
				}
				if exp < 0 {
					exp = 0
				}
			}
			e.Fields = append(e.Fields, Field{Name: f, Value: v, Expire: exp})
		}
		it.left--
	}
	return it.left == 0, nil
}

// blobIter reads collections stored as one encoded blob.
type blobIter struct {
	enc Encoding
	el  blobElems
	off int64
}

// elem returns an element as bytes in the arena.
func (d *Decoder) elem(s []byte, v int64, isStr bool) []byte {
	if isStr {
		return d.arena.copy(s)
	}
	return d.arena.appendInt(v)
}

func (it *blobIter) take(d *Decoder, what string, need bool) ([]byte, int64, bool, bool, error) {
	s, v, isStr, ok, err := it.el.next()
	if err == nil && !ok && need {
		err = corrupt("encoded value ends inside a %s", what)
	}
	if err != nil {
		return nil, 0, false, false, d.fail("encoded value", it.off, err)
	}
	return s, v, isStr, ok, nil
}

func (it *blobIter) fill(d *Decoder, e *Entry) (bool, error) {
	for n := 0; n < d.cfg.chunkSize; n++ {
		s, v, isStr, ok, err := it.take(d, "", false)
		if err != nil {
			return false, err
		}
		if !ok {
			return true, nil
		}
		first := d.elem(s, v, isStr)
		switch e.Type {
		case TypeList, TypeSet:
			e.Elems = append(e.Elems, first)
		case TypeZSet:
			s, v, isStr, _, err := it.take(d, "zset member", true)
			if err != nil {
				return false, err
			}
			sc := float64(v)
			if isStr {
				if sc, err = parseScore(s); err != nil {
					return false, d.fail("zset score", it.off, err)
				}
			}
			e.Members = append(e.Members, Member{Name: first, Score: sc})
		default:
			s, v, isStr, _, err := it.take(d, "hash field", true)
			if err != nil {
				return false, err
			}
			f := Field{Name: first, Value: d.elem(s, v, isStr)}
			if it.enc == EncHashListpackEx || it.enc == EncHashListpackExPreGA {
				s, v, isStr, _, err := it.take(d, "hash field", true)
				if err != nil {
					return false, err
				}
				if isStr {
					return false, d.fail("encoded value", it.off, corrupt("hash field ttl %q is not an integer", s))
				}
				f.Expire = v
			}
			e.Fields = append(e.Fields, f)
		}
	}
	// Peek whether the blob is exhausted so that Last is exact.
	if it.el.kind != blobIntset || it.el.pos < len(it.el.b) {
		save := it.el
		_, _, _, ok, err := it.take(d, "", false)
		if err != nil {
			return false, err
		}
		if ok {
			it.el = save
			return false, nil
		}
		return true, nil
	}
	return true, nil
}

// quickIter reads quicklists: a count of nodes, each a ziplist (type 14) or
// a container tag and a listpack or plain element (type 18).
type quickIter struct {
	plainCapable bool
	nodes        uint64
	inNode       bool
	el           blobElems
	off          int64
}

func (it *quickIter) fill(d *Decoder, e *Entry) (bool, error) {
	n := 0
	for n < d.cfg.chunkSize {
		if !it.inNode {
			if it.nodes == 0 {
				return true, nil
			}
			it.nodes--
			kind := uint8(blobZiplist)
			if it.plainCapable {
				c, err := d.readLen("quicklist container")
				if err != nil {
					return false, err
				}
				switch c {
				case 1: // plain node: one element
					s, err := d.readString("quicklist plain node")
					if err != nil {
						return false, err
					}
					e.Elems = append(e.Elems, s)
					n++
					continue
				case 2:
					kind = blobListpack
				default:
					return false, d.fail("quicklist container", d.r.off, corrupt("container %d", c))
				}
			}
			it.off = d.r.off
			b, err := d.readBlob("quicklist node")
			if err != nil {
				return false, err
			}
			if err := it.el.init(kind, b); err != nil {
				return false, d.fail("quicklist node", it.off, err)
			}
			it.inNode = true
		}
		s, v, isStr, ok, err := it.el.next()
		if err != nil {
			return false, d.fail("quicklist node", it.off, err)
		}
		if !ok {
			it.inNode = false
			continue
		}
		e.Elems = append(e.Elems, d.elem(s, v, isStr))
		n++
	}
	// A full chunk: peek whether the current node is exhausted so that
	// Last is exact when this was the last node.
	if it.inNode {
		save := it.el
		_, _, _, ok, err := it.el.next()
		if err != nil {
			return false, d.fail("quicklist node", it.off, err)
		}
		if ok {
			it.el = save
		} else {
			it.inNode = false
		}
	}
	return !it.inNode && it.nodes == 0, nil
}

// skipValue consumes a value without decoding it.
func (d *Decoder) skipValue(enc Encoding) error {
	switch enc {
	case EncString:
		return d.skipString("string value")
	case EncModulePreGA:
		return d.fail("module value", d.r.off, fmt.Errorf("%w: pre-GA module value (type 6) cannot be skipped", ErrUnsupportedType))
	case EncModule2:
		return d.readModule(&d.mod, true)
	case EncStreamListpacks, EncStreamListpacks2, EncStreamListpacks3:
		n, err := d.readLen("stream listpack count")
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			if err := d.skipString("stream node key"); err != nil {
				return err
			}
			if err := d.skipString("stream listpack"); err != nil {
				return err
			}
		}
		var meta StreamMeta
		return d.readStreamMeta(enc, &meta)
	case EncList, EncSet, EncZSet, EncZSet2, EncHash, EncHashMetadata, EncHashMetadataPreGA,
		EncValkeyHash2, EncListQuicklist, EncListQuicklist2:
		if enc == EncHashMetadata {
			if _, err := d.readMillis("hash min expire"); err != nil {
				return err
			}
		}
		n, err := d.readLen("element count")
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			switch enc {
			case EncHashMetadata, EncHashMetadataPreGA:
				if _, err := d.readLen("hash field ttl"); err != nil {
					return err
				}
			case EncListQuicklist2:
				if _, err := d.readLen("quicklist container"); err != nil {
					return err
				}
			}
			if err := d.skipString("element"); err != nil {
				return err
			}
			switch enc {
			case EncZSet:
				off := d.r.off
				l, err := d.r.readByte()
				if err != nil {
					return d.fail("zset score", off, err)
				}
				if l < 253 {
					if err := d.r.skip(int64(l)); err != nil {
						return d.fail("zset score", off, err)
					}
				}
			case EncZSet2:
				if _, err := d.readMillis("zset score"); err != nil {
					return err
				}
			case EncHash, EncHashMetadata, EncHashMetadataPreGA, EncValkeyHash2:
				if err := d.skipString("hash value"); err != nil {
					return err
				}
				if enc == EncValkeyHash2 {
					if _, err := d.readMillis("hash field expire"); err != nil {
						return err
					}
				}
			}
		}
		return nil
	case EncHashListpackEx:
		if _, err := d.readMillis("hash min expire"); err != nil {
			return err
		}
	}
	return d.skipString("encoded value")
}

// readModule reads a module value (type 7) or module aux body: the 64-bit
// module id, then opcodes up to the EOF opcode, captured raw.
func (d *Decoder) readModule(m *Module, skip bool) error {
	id, err := d.readLen("module id")
	if err != nil {
		return err
	}
	d.r.capt, d.r.capture = !skip, d.r.capture[:0]
	defer func() { d.r.capt = false }()
	if err := d.walkModuleOpcodes(); err != nil {
		return err
	}
	*m = Module{ID: id, Name: moduleName(id), Version: id & 1023, Raw: d.r.capture}
	return nil
}

func (d *Decoder) walkModuleOpcodes() error {
	for {
		off := d.r.off
		op, err := d.readLen("module opcode")
		if err != nil {
			return err
		}
		switch op {
		case 0: // EOF
			return nil
		case 1, 2: // signed, unsigned integer
			if _, err := d.readLen("module integer"); err != nil {
				return err
			}
		case 3: // float
			if _, err := d.r.next(4); err != nil {
				return d.fail("module float", off, err)
			}
		case 4: // double
			if _, err := d.r.next(8); err != nil {
				return d.fail("module double", off, err)
			}
		case 5: // string
			if err := d.skipString("module string"); err != nil {
				return err
			}
		default:
			return d.fail("module opcode", off, corrupt("unknown module opcode %d", op))
		}
	}
}

func (d *Decoder) readModuleAux(off int64) error {
	id, err := d.readLen("module id")
	if err != nil {
		return err
	}
	whenOp, err := d.readLen("module aux when opcode")
	if err != nil {
		return err
	}
	if whenOp != 2 {
		return d.fail("module aux", off, corrupt("when opcode %d, want 2", whenOp))
	}
	when, err := d.readLen("module aux when")
	if err != nil {
		return err
	}
	d.r.capt, d.r.capture = true, d.r.capture[:0]
	err = d.walkModuleOpcodes()
	d.r.capt = false
	if err != nil {
		return err
	}
	d.maux = ModuleAux{off: off, Module: Module{ID: id, Name: moduleName(id), Version: id & 1023, When: when, Raw: d.r.capture}}
	return nil
}

const moduleCharset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// moduleName decodes the 9-character module type name from a module id.
func moduleName(id uint64) string {
	var name [9]byte
	id >>= 10
	for j := 8; j >= 0; j-- {
		name[j] = moduleCharset[id&63]
		id >>= 6
	}
	return string(name[:])
}

// streamIter reads streams: listpack nodes keyed by their master id, then
// the metadata and consumer groups.
type streamIter struct {
	enc     Encoding
	nodes   uint64
	inNode  bool
	el      blobElems
	off     int64
	master  StreamID
	mfields [][]byte // master entry fields, copied per node
	mbuf    []byte
}

func (it *streamIter) fill(d *Decoder, e *Entry) (bool, error) {
	n := 0
	for n < d.cfg.chunkSize {
		if !it.inNode {
			if it.nodes == 0 {
				if err := d.readStreamMeta(it.enc, &d.meta); err != nil {
					return false, err
				}
				e.Stream.Meta = &d.meta
				e.Len = int64(min(d.meta.Length, math.MaxInt64))
				return true, nil
			}
			it.nodes--
			if err := it.startNode(d); err != nil {
				return false, err
			}
			continue
		}
		before := len(e.Stream.Entries)
		ok, err := it.entry(d, e)
		if err != nil {
			return false, d.fail("stream listpack", it.off, err)
		}
		if !ok {
			it.inNode = false
			continue
		}
		n += len(e.Stream.Entries) - before // deleted entries take no room
	}
	// A full chunk: pass the deleted entries that follow and, when the
	// last node is exhausted, finish the key here so that Last is exact.
	for it.inNode {
		save := it.el
		_, v, isStr, ok, err := it.el.next()
		if err != nil {
			return false, d.fail("stream listpack", it.off, err)
		}
		if !ok {
			it.inNode = false
			break
		}
		it.el = save
		if isStr || v&1 == 0 { // a live entry (or a bad one, for the next call)
			break
		}
		if _, err := it.entry(d, e); err != nil {
			return false, d.fail("stream listpack", it.off, err)
		}
	}
	if !it.inNode && it.nodes == 0 {
		if err := d.readStreamMeta(it.enc, &d.meta); err != nil {
			return false, err
		}
		e.Stream.Meta = &d.meta
		e.Len = int64(min(d.meta.Length, math.MaxInt64))
		return true, nil
	}
	return false, nil
}

func (it *streamIter) startNode(d *Decoder) error {
	koff := d.r.off
	k, err := d.readString("stream node key")
	if err != nil {
		return err
	}
	if len(k) != 16 {
		return d.fail("stream node key", koff, corrupt("node key of %d bytes, want 16", len(k)))
	}
	it.master = StreamID{binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])}
	it.off = d.r.off
	b, err := d.readBlob("stream listpack")
	if err != nil {
		return err
	}
	if err := it.el.init(blobListpack, b); err != nil {
		return d.fail("stream listpack", it.off, err)
	}
	// master entry: count, deleted, num-fields, fields..., 0
	var hdr [3]int64
	for i := range hdr {
		if hdr[i], err = it.int(); err != nil {
			return d.fail("stream listpack", it.off, err)
		}
	}
	if hdr[2] < 0 || hdr[2] > int64(len(b)) {
		return d.fail("stream listpack", it.off, corrupt("master entry with %d fields", hdr[2]))
	}
	it.mfields, it.mbuf = it.mfields[:0], it.mbuf[:0]
	var spans [][2]int
	for i := int64(0); i < hdr[2]; i++ {
		s, v, isStr, ok, err := it.el.next()
		if err == nil && !ok {
			err = corrupt("listpack ends inside the master entry")
		}
		if err != nil {
			return d.fail("stream listpack", it.off, err)
		}
		start := len(it.mbuf)
		if isStr {
			it.mbuf = append(it.mbuf, s...)
		} else {
			it.mbuf = fmt.Appendf(it.mbuf, "%d", v)
		}
		spans = append(spans, [2]int{start, len(it.mbuf)})
	}
	for _, sp := range spans {
		it.mfields = append(it.mfields, it.mbuf[sp[0]:sp[1]])
	}
	if z, err := it.int(); err != nil || z != 0 {
		if err == nil {
			err = corrupt("master entry terminator %d, want 0", z)
		}
		return d.fail("stream listpack", it.off, err)
	}
	it.inNode = true
	return nil
}

func (it *streamIter) int() (int64, error) {
	s, v, isStr, ok, err := it.el.next()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, corrupt("stream listpack ends early")
	}
	if isStr {
		return 0, corrupt("stream listpack integer field holds string %q", s)
	}
	return v, nil
}

// entry decodes one stream entry, appending it unless it is deleted.
func (it *streamIter) entry(d *Decoder, e *Entry) (bool, error) {
	s, v, isStr, ok, err := it.el.next()
	if err != nil || !ok {
		return false, err
	}
	if isStr {
		return false, corrupt("stream entry flags hold string %q", s)
	}
	flags := v
	msd, err := it.int()
	if err != nil {
		return false, err
	}
	seqd, err := it.int()
	if err != nil {
		return false, err
	}
	id := StreamID{it.master.Ms + uint64(msd), it.master.Seq + uint64(seqd)}
	var nf int64
	same := flags&2 != 0
	if same {
		nf = int64(len(it.mfields))
	} else if nf, err = it.int(); err != nil {
		return false, err
	}
	if nf < 0 || nf > int64(len(it.el.b)) {
		return false, corrupt("stream entry with %d fields", nf)
	}
	deleted := flags&1 != 0
	// Fields of all entries of a chunk share one slab; a slab that grows
	// leaves earlier entries on the old array, which stays valid.
	start := len(d.slab)
	for i := int64(0); i < nf; i++ {
		if same {
			if !deleted {
				d.slab = append(d.slab, d.arena.copy(it.mfields[i]))
			}
		} else {
			s, v, isStr, ok, err := it.el.next()
			if err == nil && !ok {
				err = corrupt("stream entry ends early")
			}
			if err != nil {
				return false, err
			}
			if !deleted {
				d.slab = append(d.slab, d.elem(s, v, isStr))
			}
		}
		s, v, isStr, ok, err := it.el.next()
		if err == nil && !ok {
			err = corrupt("stream entry ends early")
		}
		if err != nil {
			return false, err
		}
		if !deleted {
			d.slab = append(d.slab, d.elem(s, v, isStr))
		}
	}
	if _, err := it.int(); err != nil { // lp-count
		return false, err
	}
	if !deleted {
		f := d.slab[start:len(d.slab):len(d.slab)]
		e.Stream.Entries = append(e.Stream.Entries, StreamEntry{ID: id, Fields: f})
	}
	return true, nil
}

func (d *Decoder) readStreamID(op string) (StreamID, error) {
	ms, err := d.readLen(op)
	if err != nil {
		return StreamID{}, err
	}
	seq, err := d.readLen(op)
	return StreamID{ms, seq}, err
}

func (d *Decoder) readRawID(op string) (StreamID, error) {
	off := d.r.off
	b, err := d.r.next(16)
	if err != nil {
		return StreamID{}, d.fail(op, off, err)
	}
	return StreamID{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}, nil
}

func (d *Decoder) readStreamMeta(enc Encoding, m *StreamMeta) error {
	groups := m.Groups[:0]
	*m = StreamMeta{}
	var err error
	if m.Length, err = d.readLen("stream length"); err != nil {
		return err
	}
	if m.LastID, err = d.readStreamID("stream last id"); err != nil {
		return err
	}
	if enc >= EncStreamListpacks2 {
		if m.FirstID, err = d.readStreamID("stream first id"); err != nil {
			return err
		}
		if m.MaxDeletedID, err = d.readStreamID("stream max deleted id"); err != nil {
			return err
		}
		if m.EntriesAdded, err = d.readLen("stream entries added"); err != nil {
			return err
		}
	}
	ng, err := d.readLen("stream group count")
	if err != nil {
		return err
	}
	for ; ng > 0; ng-- {
		var g StreamGroup
		if g.Name, err = d.readString("stream group name"); err != nil {
			return err
		}
		if g.LastID, err = d.readStreamID("stream group last id"); err != nil {
			return err
		}
		g.EntriesRead = -1
		if enc >= EncStreamListpacks2 {
			er, err := d.readLen("stream group entries read")
			if err != nil {
				return err
			}
			g.EntriesRead = int64(er)
		}
		np, err := d.readLen("stream pel size")
		if err != nil {
			return err
		}
		for ; np > 0; np-- {
			var p StreamPending
			if p.ID, err = d.readRawID("stream pel id"); err != nil {
				return err
			}
			if p.DeliveryTime, err = d.readMillis("stream pel delivery time"); err != nil {
				return err
			}
			if p.DeliveryCount, err = d.readLen("stream pel delivery count"); err != nil {
				return err
			}
			g.PEL = append(g.PEL, p)
		}
		nc, err := d.readLen("stream consumer count")
		if err != nil {
			return err
		}
		for ; nc > 0; nc-- {
			c := StreamConsumer{ActiveTime: -1}
			if c.Name, err = d.readString("stream consumer name"); err != nil {
				return err
			}
			if c.SeenTime, err = d.readMillis("stream consumer seen time"); err != nil {
				return err
			}
			if enc >= EncStreamListpacks3 {
				if c.ActiveTime, err = d.readMillis("stream consumer active time"); err != nil {
					return err
				}
			}
			cp, err := d.readLen("stream consumer pel size")
			if err != nil {
				return err
			}
			for ; cp > 0; cp-- {
				id, err := d.readRawID("stream consumer pel id")
				if err != nil {
					return err
				}
				c.PEL = append(c.PEL, id)
			}
			g.Consumers = append(g.Consumers, c)
		}
		groups = append(groups, g)
	}
	m.Groups = groups
	return nil
}
