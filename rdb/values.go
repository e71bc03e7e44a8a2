package rdb

import (
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
	if enc == EncHashMetadataPreGA && d.file.valkey {
		enc = EncValkeyHash2
	}
	k, err := d.readString("key")
	if err != nil {
		return nil, err
	}
	d.key.name = append(d.key.name[:0], k...)
	e := &d.rec.ent
	*e = Entry{
		off: d.pre.start, DB: d.file.db, Key: d.key.name, Type: typ, Encoding: enc,
		Expire: d.pre.expire, Idle: d.pre.idle, Freq: d.pre.freq, Chunk: -1, Len: -1,
		Elems: e.Elems[:0], Fields: e.Fields[:0], Members: e.Members[:0],
	}
	d.pre.reset()
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
		if err := d.readModule(&d.rec.mod, false); err != nil {
			return nil, err
		}
		e.Module, e.Chunk, e.Last = &d.rec.mod, 0, true
		return e, nil
	case EncList, EncSet, EncZSet, EncZSet2, EncHash, EncHashMetadata, EncHashMetadataPreGA, EncValkeyHash2:
		it := &d.key.count
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
		d.key.cur = it
	case EncListQuicklist, EncListQuicklist2:
		it := &d.key.quick
		*it = quickIter{plainCapable: enc == EncListQuicklist2}
		if it.nodes, err = d.readLen("quicklist node count"); err != nil {
			return nil, err
		}
		d.key.cur = it
	case EncStreamListpacks, EncStreamListpacks2, EncStreamListpacks3:
		it := &d.key.stream
		*it = streamIter{enc: enc}
		if it.nodes, err = d.readLen("stream listpack count"); err != nil {
			return nil, err
		}
		d.rec.strm.Entries, d.rec.strm.Meta = d.rec.strm.Entries[:0], nil
		e.Stream = &d.rec.strm
		d.key.cur = it
	default: // single-blob encodings
		it := &d.key.blob
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
		d.key.cur = it
	}
	return d.nextChunk()
}

func (d *Decoder) nextChunk() (Record, error) {
	e := &d.rec.ent
	e.Chunk++
	e.Elems, e.Fields, e.Members = e.Elems[:0], e.Fields[:0], e.Members[:0]
	if e.Stream != nil {
		e.Stream.Entries = e.Stream.Entries[:0]
		d.key.slab = d.key.slab[:0]
	}
	done, err := d.key.cur.fill(d, e)
	if err != nil {
		return nil, err
	}
	e.Last = done
	if done {
		d.key.cur = nil
	}
	return e, nil
}

// skipValue consumes a value without decoding it.
func (d *Decoder) skipValue(enc Encoding) error {
	switch enc {
	case EncString:
		return d.skipString("string value")
	case EncModulePreGA:
		return d.fail("module value", d.r.off, fmt.Errorf("%w: pre-GA module value (type 6) cannot be skipped", ErrUnsupportedType))
	case EncModule2:
		return d.readModule(&d.rec.mod, true)
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
