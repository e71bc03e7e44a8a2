package assembler

import (
	"bytes"
	"math"
	"slices"
	"strconv"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// value is the full state of one held key (see the package documentation:
// the assembler holds whole keys and shows windows of them).
type value struct {
	typ rdb.Type // 0: unknown (a stale placeholder)

	z    *zset
	s    *stream
	list [][]byte
	hash map[string][]byte
	set  map[string]struct{}
	str  []byte

	n     int   // entries held
	bytes int64 // bytes held (an estimate, see entryOverhead)
	mtime int64 // Unix ms of the last write (age of list, hash, set and string entries)

	// stale: the held state may differ from the master's (an operation
	// it could not follow); it stays so until the key is replaced whole
	// or a snapshot comes.
	stale bool
	// cut: a list, hash, set or string lost entries to the global bound.
	cut bool
}

// Per-entry overheads in the byte count (an estimate of what Go holds).
const (
	entryOverhead = 32
	keyOverhead   = 96
)

func newValue(t rdb.Type, now int64) *value {
	v := &value{typ: t, mtime: now}
	switch t {
	case rdb.TypeZSet:
		v.z = newZSet()
	case rdb.TypeStream:
		v.s = &stream{}
	case rdb.TypeHash:
		v.hash = make(map[string][]byte)
	case rdb.TypeSet:
		v.set = make(map[string]struct{})
	}
	return v
}

// clone returns a deep copy (COPY). Caches are not shared.
func (v *value) clone() *value {
	c := &value{typ: v.typ, n: v.n, bytes: v.bytes, mtime: v.mtime, stale: v.stale, cut: v.cut}
	switch v.typ {
	case rdb.TypeZSet:
		c.z = newZSet()
		c.z.truncated, c.z.floorS, c.z.floorN = v.z.truncated, v.z.floorS, v.z.floorN
		c.z.sorted = make([]*zmember, len(v.z.sorted))
		for i, m := range v.z.sorted {
			cm := *m
			c.z.sorted[i] = &cm
			c.z.byName[m.name] = &cm
		}
	case rdb.TypeStream:
		c.s = &stream{truncated: v.s.truncated, floor: v.s.floor, entries: slices.Clone(v.s.entries)}
	case rdb.TypeList:
		c.list = slices.Clone(v.list)
	case rdb.TypeHash:
		c.hash = make(map[string][]byte, len(v.hash))
		for k, x := range v.hash {
			c.hash[k] = x
		}
	case rdb.TypeSet:
		c.set = make(map[string]struct{}, len(v.set))
		for k := range v.set {
			c.set[k] = struct{}{}
		}
	case rdb.TypeString:
		c.str = slices.Clone(v.str)
	}
	return c
}

// load adds one snapshot chunk.
func (v *value) load(en *rdb.Entry) bool {
	switch en.Type {
	case rdb.TypeZSet:
		for _, m := range en.Members {
			v.zsetScore(string(m.Name), m.Score)
		}
	case rdb.TypeStream:
		if en.Stream != nil {
			for _, se := range en.Stream.Entries {
				v.streamAdd(se.ID, se.Fields)
			}
		}
	case rdb.TypeList:
		for _, el := range en.Elems {
			v.list = append(v.list, bytes.Clone(el))
			v.n++
			v.bytes += int64(len(el)) + entryOverhead
		}
	case rdb.TypeSet:
		for _, el := range en.Elems {
			v.sadd(el)
		}
	case rdb.TypeHash:
		for _, f := range en.Fields {
			v.hset(f.Name, f.Value)
		}
	case rdb.TypeString:
		v.setStr(bytes.Clone(en.Str))
	default:
		return false
	}
	return true
}

// empty reports whether the key no longer exists (Redis deletes empty
// aggregates). A truncated or cut key is never empty: it may hold
// entries below its floor.
func (v *value) empty() bool {
	switch v.typ {
	case rdb.TypeZSet:
		return len(v.z.sorted) == 0 && !v.z.truncated
	case rdb.TypeStream:
		return false // an empty stream exists
	case rdb.TypeList:
		return len(v.list) == 0 && !v.cut
	case rdb.TypeHash:
		return len(v.hash) == 0 && !v.cut
	case rdb.TypeSet:
		return len(v.set) == 0 && !v.cut
	}
	return false
}

// apply applies a KindChange event of the value's type. It returns false
// when the held state cannot follow it exactly.
func (v *value) apply(e *monitor.Event) bool {
	if v.typ != e.Op.Type() {
		return false
	}
	switch v.typ {
	case rdb.TypeZSet:
		return v.applyZSet(e)
	case rdb.TypeStream:
		return v.applyStream(e)
	case rdb.TypeList:
		if v.cut {
			return false
		}
		return v.applyList(e)
	case rdb.TypeHash:
		return v.applyHash(e)
	case rdb.TypeSet:
		return v.applySet(e)
	case rdb.TypeString:
		if v.cut {
			return false
		}
		return v.applyString(e)
	}
	return false
}

// Strings.

func (v *value) setStr(s []byte) {
	v.bytes += int64(len(s)) - int64(len(v.str))
	v.str = s
	v.n = 1
}

func (v *value) applyString(e *monitor.Event) bool {
	switch e.Op {
	case monitor.OpAppend:
		s := append(slices.Clip(v.str), e.Value...)
		v.setStr(s)
	case monitor.OpIncrBy:
		var cur int64
		if len(v.str) > 0 {
			c, err := strconv.ParseInt(string(v.str), 10, 64)
			if err != nil {
				return false
			}
			cur = c
		}
		if e.N > 0 && cur > math.MaxInt64-e.N || e.N < 0 && cur < math.MinInt64-e.N {
			return false
		}
		v.setStr(strconv.AppendInt(nil, cur+e.N, 10))
	case monitor.OpSetRange:
		if len(e.Value) == 0 {
			return true
		}
		end := e.N + int64(len(e.Value))
		if end > 512<<20 {
			return false
		}
		s := slices.Clone(v.str)
		if int64(len(s)) < end {
			s = append(s, make([]byte, int(end)-len(s))...)
		}
		copy(s[e.N:], e.Value)
		v.setStr(s)
	case monitor.OpSetBit:
		byteI := e.N >> 3
		if byteI >= 512<<20 {
			return false
		}
		s := slices.Clone(v.str)
		if int64(len(s)) <= byteI {
			s = append(s, make([]byte, int(byteI)+1-len(s))...)
		}
		bit := byte(1) << (7 - uint(e.N&7))
		if e.M == 1 {
			s[byteI] |= bit
		} else {
			s[byteI] &^= bit
		}
		v.setStr(s)
	default:
		return false
	}
	return true
}

// Hashes.

func (v *value) hset(f, x []byte) {
	if old, ok := v.hash[string(f)]; ok {
		v.bytes += int64(len(x)) - int64(len(old))
	} else {
		v.n++
		v.bytes += int64(len(f)+len(x)) + entryOverhead
	}
	v.hash[string(f)] = bytes.Clone(x)
}

func (v *value) hdel(f string) {
	if old, ok := v.hash[f]; ok {
		delete(v.hash, f)
		v.n--
		v.bytes -= int64(len(f)+len(old)) + entryOverhead
	}
}

func (v *value) applyHash(e *monitor.Event) bool {
	switch e.Op {
	case monitor.OpHSet:
		for i := 0; i+1 < len(e.Elems); i += 2 {
			if e.Opts&monitor.OptNX != 0 {
				if _, ok := v.hash[string(e.Elems[i])]; ok {
					continue
				}
				if v.cut {
					return false
				}
			}
			v.hset(e.Elems[i], e.Elems[i+1])
		}
	case monitor.OpHDel:
		for _, f := range e.Elems {
			v.hdel(string(f))
		}
	case monitor.OpHIncrBy:
		var cur int64
		if old, ok := v.hash[string(e.Field)]; ok {
			c, err := strconv.ParseInt(string(old), 10, 64)
			if err != nil {
				return false
			}
			cur = c
		} else if v.cut {
			return false
		}
		if e.N > 0 && cur > math.MaxInt64-e.N || e.N < 0 && cur < math.MinInt64-e.N {
			return false
		}
		v.hset(e.Field, strconv.AppendInt(nil, cur+e.N, 10))
	default:
		return false
	}
	return true
}

// Sets.

func (v *value) sadd(m []byte) {
	if _, ok := v.set[string(m)]; !ok {
		v.set[string(m)] = struct{}{}
		v.n++
		v.bytes += int64(len(m)) + entryOverhead
	}
}

func (v *value) applySet(e *monitor.Event) bool {
	switch e.Op {
	case monitor.OpSAdd:
		for _, m := range e.Elems {
			v.sadd(m)
		}
	case monitor.OpSRem:
		for _, m := range e.Elems {
			if _, ok := v.set[string(m)]; ok {
				delete(v.set, string(m))
				v.n--
				v.bytes -= int64(len(m)) + entryOverhead
			}
		}
	default:
		return false
	}
	return true
}

// Lists.

func (v *value) listSet(l [][]byte) {
	var b int64
	for _, x := range l {
		b += int64(len(x)) + entryOverhead
	}
	v.list, v.n, v.bytes = l, len(l), b
}

// listIndex resolves a Redis list index (negative from the tail).
func listIndex(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

// rangeIndex resolves a Redis range of indexes start..stop, both included
// and negative from the end (LTRIM's, ZREMRANGEBYRANK's), over n elements
// to the slice bounds [i:j]; ok is false when the range is empty.
func rangeIndex(start, stop int64, n int) (i, j int, ok bool) {
	nn := int64(n)
	if start < 0 {
		start += nn
	}
	if stop < 0 {
		stop += nn
	}
	start = max(start, 0)
	if start > stop || start >= nn {
		return 0, 0, false
	}
	stop = min(stop, nn-1)
	return int(start), int(stop + 1), true
}

// applyList applies a list operation; popped is what a pop removed (the
// element an LMOVE hands to its push).
func (v *value) applyList(e *monitor.Event) bool {
	l := v.list
	switch e.Op {
	case monitor.OpLPush, monitor.OpRPush:
		// The pushes of LMOVE carry no element: the caller handles them.
		nl := make([][]byte, 0, len(l)+len(e.Elems))
		if e.Op == monitor.OpLPush {
			for i := len(e.Elems) - 1; i >= 0; i-- {
				nl = append(nl, bytes.Clone(e.Elems[i]))
			}
			nl = append(nl, l...)
		} else {
			nl = append(nl, l...)
			for _, x := range e.Elems {
				nl = append(nl, bytes.Clone(x))
			}
		}
		v.listSet(nl)
	case monitor.OpLPop:
		n := int(min(e.N, int64(len(l))))
		v.listSet(slices.Clone(l[n:]))
	case monitor.OpRPop:
		n := int(min(e.N, int64(len(l))))
		v.listSet(slices.Clone(l[:len(l)-n]))
	case monitor.OpLSet:
		i, ok := listIndex(e.N, len(l))
		if !ok {
			return false
		}
		nl := slices.Clone(l)
		nl[i] = bytes.Clone(e.Value)
		v.listSet(nl)
	case monitor.OpLTrim:
		i, j, ok := rangeIndex(e.N, e.M, len(l))
		if !ok {
			v.listSet(nil)
			break
		}
		v.listSet(slices.Clone(l[i:j]))
	case monitor.OpLInsert:
		i := slices.IndexFunc(l, func(x []byte) bool { return bytes.Equal(x, e.Field) })
		if i < 0 {
			return true
		}
		if e.Opts&monitor.OptBefore == 0 {
			i++
		}
		v.listSet(slices.Insert(slices.Clone(l), i, bytes.Clone(e.Value)))
	case monitor.OpLRem:
		nl := make([][]byte, 0, len(l))
		switch {
		case e.N >= 0:
			left := e.N
			for _, x := range l {
				if bytes.Equal(x, e.Value) && (e.N == 0 || left > 0) {
					left--
					continue
				}
				nl = append(nl, x)
			}
		default:
			left := -e.N
			for i := len(l) - 1; i >= 0; i-- {
				if bytes.Equal(l[i], e.Value) && left > 0 {
					left--
					continue
				}
				nl = append(nl, l[i])
			}
			slices.Reverse(nl)
		}
		v.listSet(nl)
	default:
		return false
	}
	return true
}

// evict drops one entry, the oldest by the rule of the package
// documentation, for the global bound.
func (v *value) evict(fromHead bool) {
	switch v.typ {
	case rdb.TypeZSet:
		v.evictZSet()
		return
	case rdb.TypeStream:
		v.evictStream()
		return
	case rdb.TypeList:
		// The old end: the tail when the newest are at the head.
		if fromHead {
			v.listSet(v.list[:len(v.list)-1])
		} else {
			v.listSet(v.list[1:])
		}
	case rdb.TypeHash:
		f := maxKey(v.hash)
		v.hdel(f)
	case rdb.TypeSet:
		m := maxKey(v.set)
		delete(v.set, m)
		v.n--
		v.bytes -= int64(len(m)) + entryOverhead
	case rdb.TypeString:
		v.str, v.bytes, v.n = nil, 0, 0
	}
	v.cut, v.stale = true, true
}

func maxKey[V any](m map[string]V) string {
	first, best := true, ""
	for k := range m {
		if first || k > best {
			first, best = false, k
		}
	}
	return best
}

// age is the time, in Unix ms, of the entry evict would drop; +Inf when
// nothing can be evicted.
func (v *value) age() float64 {
	if v.n == 0 {
		return math.Inf(1)
	}
	switch v.typ {
	case rdb.TypeZSet:
		return v.z.sorted[0].score
	case rdb.TypeStream:
		return float64(v.s.entries[0].id.Ms)
	}
	return float64(v.mtime)
}
