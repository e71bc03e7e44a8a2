package assembler

import (
	"bytes"
	"sort"
	"strconv"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// sentry is one held stream entry; enc caches its window JSON.
type sentry struct {
	id     rdb.StreamID
	fields [][]byte
	size   int64
	enc    []byte
}

// stream is the full state of a stream's entries (consumer groups are not
// shown and not held). When truncated, only the entries after floor are
// held.
type stream struct {
	entries   []*sentry // ascending id
	truncated bool
	floor     rdb.StreamID
}

func (v *value) streamAdd(id rdb.StreamID, fields [][]byte) {
	s := v.s
	if s.truncated && id.Compare(s.floor) <= 0 {
		return
	}
	e := &sentry{id: id, fields: make([][]byte, len(fields))}
	e.size = entryOverhead
	for i, f := range fields {
		e.fields[i] = bytes.Clone(f)
		e.size += int64(len(f))
	}
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].id.Compare(id) >= 0 })
	if i < len(s.entries) && s.entries[i].id == id {
		return // the master refuses a duplicate id
	}
	s.entries = append(s.entries, nil)
	copy(s.entries[i+1:], s.entries[i:])
	s.entries[i] = e
	v.n++
	v.bytes += e.size
}

// sdelRange removes entries[i:j].
func (v *value) sdelRange(i, j int) {
	s := v.s
	if i >= j {
		return
	}
	for _, e := range s.entries[i:j] {
		v.n--
		v.bytes -= e.size
	}
	n := copy(s.entries[i:], s.entries[j:])
	clear(s.entries[i+n:])
	s.entries = s.entries[:i+n]
}

// parseStreamID parses "ms-seq" or "ms" (seq 0), as a master propagates
// them.
func parseStreamID(b []byte) (rdb.StreamID, bool) {
	ms, seq := b, []byte(nil)
	if i := bytes.IndexByte(b, '-'); i >= 0 {
		ms, seq = b[:i], b[i+1:]
	}
	m, err := strconv.ParseUint(string(ms), 10, 64)
	if err != nil {
		return rdb.StreamID{}, false
	}
	var s uint64
	if seq != nil {
		if s, err = strconv.ParseUint(string(seq), 10, 64); err != nil {
			return rdb.StreamID{}, false
		}
	}
	return rdb.StreamID{Ms: m, Seq: s}, true
}

func (v *value) applyStream(e *monitor.Event) bool {
	s := v.s
	switch e.Op {
	case monitor.OpXAdd:
		id, ok := parseStreamID(e.Value)
		if !ok {
			return false
		}
		v.streamAdd(id, e.Elems)
		return v.streamTrim(e)
	case monitor.OpXDel:
		for _, b := range e.Elems {
			id, ok := parseStreamID(b)
			if !ok {
				return false
			}
			i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].id.Compare(id) >= 0 })
			if i < len(s.entries) && s.entries[i].id == id {
				v.sdelRange(i, i+1)
			}
		}
	case monitor.OpXTrim:
		return v.streamTrim(e)
	case monitor.OpXGroup:
		// Consumer groups are not shown.
	default:
		return false
	}
	return true
}

// streamTrim applies the trim of XADD or XTRIM. A master propagates it
// exact ("=", with the threshold it reached); an approximate trim cannot
// be followed. Both kinds keep the newest entries, so they are exact on a
// truncated stream too.
func (v *value) streamTrim(e *monitor.Event) bool {
	s := v.s
	switch {
	case e.Opts&(monitor.OptMaxLen|monitor.OptMinID) == 0:
		return true
	case e.Opts&monitor.OptApprox != 0:
		return false
	case e.Opts&monitor.OptMaxLen != 0:
		if int64(len(s.entries)) > e.N {
			v.sdelRange(0, len(s.entries)-int(e.N))
		}
	default:
		id, ok := parseStreamID(e.Field)
		if !ok {
			return false
		}
		i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].id.Compare(id) >= 0 })
		v.sdelRange(0, i)
	}
	return true
}

func (v *value) evictStream() {
	s := v.s
	f := s.entries[0].id
	v.sdelRange(0, 1)
	s.truncated, s.floor = true, f
}
