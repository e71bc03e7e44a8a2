package rdb

// Lists, sets, sorted sets and hashes: the element iterators for values
// stored as a count and plain strings, as one encoded blob, and as a
// quicklist of blobs.

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

// copyElem returns an element as bytes in the arena.
func (d *Decoder) copyElem(x elem) []byte {
	if x.isStr() {
		return d.arena.copy(x.s)
	}
	return d.arena.appendInt(x.v)
}

// need returns the next element, which must be there: it completes the
// pair or triple that the one before began.
func (it *blobIter) need(d *Decoder, msg string) (elem, error) {
	x, err := it.el.need(msg)
	if err != nil {
		return elem{}, d.fail("encoded value", it.off, err)
	}
	return x, nil
}

func (it *blobIter) fill(d *Decoder, e *Entry) (bool, error) {
	for n := 0; n < d.cfg.chunkSize; n++ {
		x, ok, err := it.el.next()
		if err != nil {
			return false, d.fail("encoded value", it.off, err)
		}
		if !ok {
			return true, nil
		}
		first := d.copyElem(x)
		switch e.Type {
		case TypeList, TypeSet:
			e.Elems = append(e.Elems, first)
		case TypeZSet:
			x, err := it.need(d, "encoded value ends inside a zset member")
			if err != nil {
				return false, err
			}
			sc := float64(x.v)
			if x.isStr() {
				if sc, err = parseScore(x.s); err != nil {
					return false, d.fail("zset score", it.off, err)
				}
			}
			e.Members = append(e.Members, Member{Name: first, Score: sc})
		default:
			x, err := it.need(d, "encoded value ends inside a hash field")
			if err != nil {
				return false, err
			}
			f := Field{Name: first, Value: d.copyElem(x)}
			if it.enc == EncHashListpackEx || it.enc == EncHashListpackExPreGA {
				ttl, err := it.need(d, "encoded value ends inside a hash field")
				if err != nil {
					return false, err
				}
				if ttl.isStr() {
					return false, d.fail("encoded value", it.off, corrupt("hash field ttl %q is not an integer", ttl.s))
				}
				f.Expire = ttl.v
			}
			e.Fields = append(e.Fields, f)
		}
	}
	// A full chunk: peek whether the blob is exhausted so that Last is
	// exact.
	_, more, err := it.el.peek()
	if err != nil {
		return false, d.fail("encoded value", it.off, err)
	}
	return !more, nil
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
		x, ok, err := it.el.next()
		if err != nil {
			return false, d.fail("quicklist node", it.off, err)
		}
		if !ok {
			it.inNode = false
			continue
		}
		e.Elems = append(e.Elems, d.copyElem(x))
		n++
	}
	// A full chunk: peek whether the current node is exhausted so that
	// Last is exact when this was the last node.
	if it.inNode {
		_, more, err := it.el.peek()
		if err != nil {
			return false, d.fail("quicklist node", it.off, err)
		}
		it.inNode = more
	}
	return !it.inNode && it.nodes == 0, nil
}
