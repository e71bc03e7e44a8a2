package rdb

import (
	"encoding/binary"
	"fmt"
	"math"
)

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
				err := it.finish(d, e)
				return err == nil, err
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
		x, ok, err := it.el.peek()
		if err != nil {
			return false, d.fail("stream listpack", it.off, err)
		}
		if !ok {
			it.inNode = false
			break
		}
		if x.isStr() || x.v&1 == 0 { // a live entry (or a bad one, for the next call)
			break
		}
		if _, err := it.entry(d, e); err != nil {
			return false, d.fail("stream listpack", it.off, err)
		}
	}
	if !it.inNode && it.nodes == 0 {
		err := it.finish(d, e)
		return err == nil, err
	}
	return false, nil
}

// finish reads the metadata and consumer groups after the last node.
func (it *streamIter) finish(d *Decoder, e *Entry) error {
	if err := d.readStreamMeta(it.enc, &d.rec.meta); err != nil {
		return err
	}
	e.Stream.Meta = &d.rec.meta
	e.Len = int64(min(d.rec.meta.Length, math.MaxInt64))
	return nil
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
		x, err := it.el.need("listpack ends inside the master entry")
		if err != nil {
			return d.fail("stream listpack", it.off, err)
		}
		start := len(it.mbuf)
		if x.isStr() {
			it.mbuf = append(it.mbuf, x.s...)
		} else {
			it.mbuf = fmt.Appendf(it.mbuf, "%d", x.v)
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
	x, err := it.el.need("stream listpack ends early")
	if err != nil {
		return 0, err
	}
	if x.isStr() {
		return 0, corrupt("stream listpack integer field holds string %q", x.s)
	}
	return x.v, nil
}

// entry decodes one stream entry, appending it unless it is deleted.
func (it *streamIter) entry(d *Decoder, e *Entry) (bool, error) {
	x, ok, err := it.el.next()
	if err != nil || !ok {
		return false, err
	}
	if x.isStr() {
		return false, corrupt("stream entry flags hold string %q", x.s)
	}
	flags := x.v
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
	start := len(d.key.slab)
	for i := int64(0); i < nf; i++ {
		if same {
			if !deleted {
				d.key.slab = append(d.key.slab, d.arena.copy(it.mfields[i]))
			}
		} else {
			name, err := it.el.need("stream entry ends early")
			if err != nil {
				return false, err
			}
			if !deleted {
				d.key.slab = append(d.key.slab, d.copyElem(name))
			}
		}
		value, err := it.el.need("stream entry ends early")
		if err != nil {
			return false, err
		}
		if !deleted {
			d.key.slab = append(d.key.slab, d.copyElem(value))
		}
	}
	if _, err := it.int(); err != nil { // lp-count
		return false, err
	}
	if !deleted {
		f := d.key.slab[start:len(d.key.slab):len(d.key.slab)]
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

// readStreamMeta reads what follows a stream's nodes: its length, ids and
// consumer groups.
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
		g, err := d.readStreamGroup(enc)
		if err != nil {
			return err
		}
		groups = append(groups, g)
	}
	m.Groups = groups
	return nil
}

// readStreamGroup reads a consumer group: its name, last delivered id,
// pending entries and consumers.
func (d *Decoder) readStreamGroup(enc Encoding) (StreamGroup, error) {
	g := StreamGroup{EntriesRead: -1}
	var err error
	if g.Name, err = d.readString("stream group name"); err != nil {
		return g, err
	}
	if g.LastID, err = d.readStreamID("stream group last id"); err != nil {
		return g, err
	}
	if enc >= EncStreamListpacks2 {
		er, err := d.readLen("stream group entries read")
		if err != nil {
			return g, err
		}
		g.EntriesRead = int64(er)
	}
	np, err := d.readLen("stream pel size")
	if err != nil {
		return g, err
	}
	for ; np > 0; np-- {
		var p StreamPending
		if p.ID, err = d.readRawID("stream pel id"); err != nil {
			return g, err
		}
		if p.DeliveryTime, err = d.readMillis("stream pel delivery time"); err != nil {
			return g, err
		}
		if p.DeliveryCount, err = d.readLen("stream pel delivery count"); err != nil {
			return g, err
		}
		g.PEL = append(g.PEL, p)
	}
	nc, err := d.readLen("stream consumer count")
	if err != nil {
		return g, err
	}
	for ; nc > 0; nc-- {
		c, err := d.readStreamConsumer(enc)
		if err != nil {
			return g, err
		}
		g.Consumers = append(g.Consumers, c)
	}
	return g, nil
}

// readStreamConsumer reads a consumer: its name, seen and active times and
// the ids of its pending entries.
func (d *Decoder) readStreamConsumer(enc Encoding) (StreamConsumer, error) {
	c := StreamConsumer{ActiveTime: -1}
	var err error
	if c.Name, err = d.readString("stream consumer name"); err != nil {
		return c, err
	}
	if c.SeenTime, err = d.readMillis("stream consumer seen time"); err != nil {
		return c, err
	}
	if enc >= EncStreamListpacks3 {
		if c.ActiveTime, err = d.readMillis("stream consumer active time"); err != nil {
			return c, err
		}
	}
	cp, err := d.readLen("stream consumer pel size")
	if err != nil {
		return c, err
	}
	for ; cp > 0; cp-- {
		id, err := d.readRawID("stream consumer pel id")
		if err != nil {
			return c, err
		}
		c.PEL = append(c.PEL, id)
	}
	return c, nil
}
