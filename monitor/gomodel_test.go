package monitor

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redtap/redtap/rdb"
)

// goModel is the in-test model of keys that a subscriber rebuilds from the
// typed views alone (never from Args): strings, hashes, lists, sets, sorted
// sets, streams without groups, and their expiries. It has no clock: keys
// leave it when the master says so (DEL on expiry).
type goModel struct {
	dbs map[int]map[string]*mval
	// What OpRenameFrom, OpMoveFrom, OpCopyFrom and LMOVE's pop hand to
	// the event after them.
	carry     *mval
	carryElem []byte
	errs      []string
}

type mval struct {
	typ    rdb.Type
	str    []byte
	list   [][]byte
	set    map[string]bool
	hash   map[string]string
	zset   map[string]float64
	stream *mstream
	exp    int64 // Unix ms, 0 for none
}

type mstream struct {
	entries []mentry
	last    rdb.StreamID
	added   uint64
	maxDel  rdb.StreamID
}

type mentry struct {
	id     rdb.StreamID
	fields [][]byte
}

func newGoModel() *goModel { return &goModel{dbs: map[int]map[string]*mval{}} }

func (m *goModel) errorf(format string, args ...any) {
	if len(m.errs) < 20 {
		m.errs = append(m.errs, fmt.Sprintf(format, args...))
	}
}

func (m *goModel) db(n int) map[string]*mval {
	d := m.dbs[n]
	if d == nil {
		d = map[string]*mval{}
		m.dbs[n] = d
	}
	return d
}

func (m *goModel) reset() { m.dbs = map[int]map[string]*mval{} }

func (v *mval) clone() *mval {
	c := *v
	c.str = bytes.Clone(v.str)
	c.list = cloneArgs(v.list)
	if v.set != nil {
		c.set = map[string]bool{}
		for k := range v.set {
			c.set[k] = true
		}
	}
	if v.hash != nil {
		c.hash = map[string]string{}
		for k, x := range v.hash {
			c.hash[k] = x
		}
	}
	if v.zset != nil {
		c.zset = map[string]float64{}
		for k, x := range v.zset {
			c.zset[k] = x
		}
	}
	if v.stream != nil {
		s := *v.stream
		s.entries = slices.Clone(v.stream.entries)
		c.stream = &s
	}
	return &c
}

func (v *mval) empty() bool {
	switch v.typ {
	case rdb.TypeList:
		return len(v.list) == 0
	case rdb.TypeSet:
		return len(v.set) == 0
	case rdb.TypeHash:
		return len(v.hash) == 0
	case rdb.TypeZSet:
		return len(v.zset) == 0
	}
	return false
}

// entry loads a snapshot key (chunk by chunk).
func (m *goModel) entry(e *rdb.Entry) {
	d := m.db(e.DB)
	k := string(e.Key)
	v := d[k]
	if e.Chunk == 0 || v == nil {
		v = &mval{typ: e.Type, set: map[string]bool{}, hash: map[string]string{}, zset: map[string]float64{}}
		if e.Type == rdb.TypeStream {
			v.stream = &mstream{}
		}
		d[k] = v
	}
	if e.Expire >= 0 {
		v.exp = e.Expire
	}
	switch e.Type {
	case rdb.TypeString:
		v.str = bytes.Clone(e.Str)
	case rdb.TypeList:
		v.list = append(v.list, cloneArgs(e.Elems)...)
	case rdb.TypeSet:
		for _, x := range e.Elems {
			v.set[string(x)] = true
		}
	case rdb.TypeHash:
		for _, f := range e.Fields {
			v.hash[string(f.Name)] = string(f.Value)
		}
	case rdb.TypeZSet:
		for _, z := range e.Members {
			v.zset[string(z.Name)] = z.Score
		}
	case rdb.TypeStream:
		for _, se := range e.Stream.Entries {
			v.stream.entries = append(v.stream.entries, mentry{se.ID, cloneArgs(se.Fields)})
		}
		if meta := e.Stream.Meta; meta != nil {
			v.stream.last, v.stream.added, v.stream.maxDel = meta.LastID, meta.EntriesAdded, meta.MaxDeletedID
			if len(meta.Groups) > 0 {
				m.errorf("stream %s with groups in the Go model", k)
			}
		}
	default:
		m.errorf("key %s of type %v in the Go model", k, e.Type)
	}
}

// get returns the key's value, creating one of type typ when missing and
// typ is not 0.
func (m *goModel) get(e *Event, typ rdb.Type) *mval {
	d := m.db(e.DB)
	v := d[string(e.Key)]
	if v == nil && typ != 0 {
		v = &mval{typ: typ, set: map[string]bool{}, hash: map[string]string{}, zset: map[string]float64{}}
		if typ == rdb.TypeStream {
			v.stream = &mstream{}
		}
		d[string(e.Key)] = v
	}
	if v != nil && typ != 0 && v.typ != typ {
		m.errorf("%s on %s key %s", e.Op, v.typ, e.Key)
	}
	return v
}

// drop deletes the key if it is an empty container.
func (m *goModel) drop(e *Event, v *mval) {
	if v.empty() {
		delete(m.db(e.DB), string(e.Key))
	}
}

// apply applies one change from its typed view.
func (m *goModel) apply(e *Event) {
	if e.Kind == KindDBChange {
		switch e.Op {
		case OpFlushDB:
			delete(m.dbs, e.DB)
		case OpFlushAll:
			m.reset()
		case OpSwapDB:
			a, b := m.dbs[e.DB], m.dbs[e.OtherDB]
			m.dbs[e.DB], m.dbs[e.OtherDB] = b, a
		default:
			m.errorf("db-wide %s (%v)", e.Op, e.Err)
		}
		return
	}
	d := m.db(e.DB)
	k := string(e.Key)
	switch e.Op {
	case OpDel:
		delete(d, k)
	case OpExpireAt:
		if v := d[k]; v != nil {
			v.exp = e.N
		}
	case OpPersist:
		if v := d[k]; v != nil {
			v.exp = 0
		}
	case OpRenameFrom, OpMoveFrom:
		m.carry = d[k]
		delete(d, k)
	case OpCopyFrom:
		m.carry = nil
		if v := d[k]; v != nil {
			m.carry = v.clone()
		}
	case OpRenameTo, OpMoveTo, OpCopyTo:
		if m.carry != nil {
			if _, exists := d[k]; exists && e.Op == OpCopyTo && e.Opts&OptReplace == 0 {
				m.errorf("COPY onto %s without REPLACE", k)
			}
			d[k] = m.carry
		}
		m.carry = nil

	case OpSet:
		old := d[k]
		if e.Opts&OptNX != 0 && old != nil || e.Opts&OptXX != 0 && old == nil {
			return
		}
		v := &mval{typ: rdb.TypeString, str: bytes.Clone(e.Value), exp: e.N}
		if e.M != 0 {
			m.errorf("SET with a relative TTL from a Redis 7 master: %q", e.Args)
		}
		if e.N == 0 && e.Opts&OptKeepTTL != 0 && old != nil {
			v.exp = old.exp
		}
		d[k] = v
	case OpAppend:
		v := m.get(e, rdb.TypeString)
		v.str = append(v.str, e.Value...)
	case OpIncrBy:
		v := m.get(e, rdb.TypeString)
		n, _ := strconv.ParseInt(string(v.str), 10, 64)
		v.str = strconv.AppendInt(nil, n+e.N, 10)
	case OpSetRange:
		if len(e.Value) == 0 {
			return
		}
		v := m.get(e, rdb.TypeString)
		end := int(e.N) + len(e.Value)
		for len(v.str) < end {
			v.str = append(v.str, 0)
		}
		copy(v.str[e.N:], e.Value)
	case OpSetBit:
		v := m.get(e, rdb.TypeString)
		i := int(e.N / 8)
		for len(v.str) <= i {
			v.str = append(v.str, 0)
		}
		bit := byte(1) << (7 - e.N%8)
		if e.M == 1 {
			v.str[i] |= bit
		} else {
			v.str[i] &^= bit
		}

	case OpHSet:
		v := m.get(e, rdb.TypeHash)
		for i := 0; i+1 < len(e.Elems); i += 2 {
			if e.Opts&OptNX != 0 {
				if _, ok := v.hash[string(e.Elems[i])]; ok {
					continue
				}
			}
			v.hash[string(e.Elems[i])] = string(e.Elems[i+1])
		}
	case OpHDel:
		if v := m.get(e, 0); v != nil {
			for _, f := range e.Elems {
				delete(v.hash, string(f))
			}
			m.drop(e, v)
		}
	case OpHIncrBy:
		v := m.get(e, rdb.TypeHash)
		n, _ := strconv.ParseInt(v.hash[string(e.Field)], 10, 64)
		v.hash[string(e.Field)] = strconv.FormatInt(n+e.N, 10)

	case OpSAdd:
		v := m.get(e, rdb.TypeSet)
		for _, x := range e.Elems {
			v.set[string(x)] = true
		}
	case OpSRem:
		if v := m.get(e, 0); v != nil {
			for _, x := range e.Elems {
				delete(v.set, string(x))
			}
			m.drop(e, v)
		}

	case OpZAdd:
		v := m.get(e, rdb.TypeZSet)
		for i := 0; i+1 < len(e.Elems); i += 2 {
			score, err := ParseScore(e.Elems[i])
			if err != nil {
				m.errorf("ZADD score %q", e.Elems[i])
				continue
			}
			mem := string(e.Elems[i+1])
			old, exists := v.zset[mem]
			if e.Opts&OptNX != 0 && exists || e.Opts&OptXX != 0 && !exists {
				continue
			}
			if e.Opts&OptIncr != 0 && exists {
				score += old
			}
			if exists && (e.Opts&OptGT != 0 && score <= old || e.Opts&OptLT != 0 && score >= old) {
				continue
			}
			v.zset[mem] = score
		}
		m.drop(e, v)
	case OpZIncrBy:
		v := m.get(e, rdb.TypeZSet)
		v.zset[string(e.Value)] += e.Float
	case OpZRem:
		if v := m.get(e, 0); v != nil {
			for _, x := range e.Elems {
				delete(v.zset, string(x))
			}
			m.drop(e, v)
		}
	case OpZPopMin, OpZPopMax, OpZRemRangeByRank, OpZRemRangeByScore, OpZRemRangeByLex:
		v := m.get(e, 0)
		if v == nil {
			return
		}
		ranked := v.ranked()
		var del []string
		switch e.Op {
		case OpZPopMin:
			del = ranked[:min(int(e.N), len(ranked))]
		case OpZPopMax:
			n := min(int(e.N), len(ranked))
			del = ranked[len(ranked)-n:]
		case OpZRemRangeByRank:
			from, to, ok := rangeOf(e.N, e.M, len(ranked))
			if ok {
				del = ranked[from : to+1]
			}
		case OpZRemRangeByScore:
			lo, hi := scoreRange(e.Elems[0]), scoreRange(e.Elems[1])
			for _, mem := range ranked {
				if lo.below(v.zset[mem]) && hi.above(v.zset[mem]) {
					del = append(del, mem)
				}
			}
		case OpZRemRangeByLex:
			for _, mem := range ranked {
				if lexAbove(e.Elems[0], mem) && lexBelow(e.Elems[1], mem) {
					del = append(del, mem)
				}
			}
		}
		for _, mem := range del {
			delete(v.zset, mem)
		}
		m.drop(e, v)

	case OpLPush, OpRPush:
		v := m.get(e, rdb.TypeList)
		elems := e.Elems
		if e.Other != nil { // LMOVE's destination
			elems = [][]byte{m.carryElem}
			m.carryElem = nil
		}
		for _, x := range elems {
			if e.Op == OpLPush {
				v.list = append([][]byte{bytes.Clone(x)}, v.list...)
			} else {
				v.list = append(v.list, bytes.Clone(x))
			}
		}
	case OpLPop, OpRPop:
		v := m.get(e, 0)
		if v == nil {
			m.errorf("%s on a missing list %s", e.Op, k)
			return
		}
		n := min(int(e.N), len(v.list))
		var popped [][]byte
		if e.Op == OpLPop {
			popped, v.list = v.list[:n], v.list[n:]
		} else {
			popped, v.list = v.list[len(v.list)-n:], v.list[:len(v.list)-n]
		}
		if e.Other != nil && len(popped) == 1 {
			m.carryElem = popped[0]
		}
		m.drop(e, v)
	case OpLSet:
		v := m.get(e, rdb.TypeList)
		i := int(e.N)
		if i < 0 {
			i += len(v.list)
		}
		if i < 0 || i >= len(v.list) {
			m.errorf("LSET %s %d out of range", k, e.N)
			return
		}
		v.list[i] = bytes.Clone(e.Value)
	case OpLTrim:
		v := m.get(e, 0)
		if v == nil {
			return
		}
		from, to, ok := rangeOf(e.N, e.M, len(v.list))
		if !ok {
			v.list = nil
		} else {
			v.list = v.list[from : to+1]
		}
		m.drop(e, v)
	case OpLInsert:
		v := m.get(e, 0)
		if v == nil {
			return
		}
		for i, x := range v.list {
			if bytes.Equal(x, e.Field) {
				if e.Opts&OptBefore == 0 {
					i++
				}
				v.list = slices.Insert(v.list, i, bytes.Clone(e.Value))
				break
			}
		}
	case OpLRem:
		v := m.get(e, 0)
		if v == nil {
			return
		}
		n := e.N
		if n >= 0 {
			for i := 0; i < len(v.list) && (e.N == 0 || n > 0); {
				if bytes.Equal(v.list[i], e.Value) {
					v.list = slices.Delete(v.list, i, i+1)
					n--
					continue
				}
				i++
			}
		} else {
			for i := len(v.list) - 1; i >= 0 && n < 0; i-- {
				if bytes.Equal(v.list[i], e.Value) {
					v.list = slices.Delete(v.list, i, i+1)
					n++
				}
			}
		}
		m.drop(e, v)

	case OpXAdd:
		if e.Opts&OptNoMkStream != 0 && m.get(e, 0) == nil {
			return
		}
		v := m.get(e, rdb.TypeStream)
		id, ok := parseStreamID(e.Value)
		if !ok {
			m.errorf("XADD id %q", e.Value)
			return
		}
		fields := cloneArgs(e.Elems)
		v.stream.entries = append(v.stream.entries, mentry{id, fields})
		v.stream.last = id
		v.stream.added++
		m.trim(e, v)
	case OpXTrim:
		if v := m.get(e, 0); v != nil {
			m.trim(e, v)
		}
	case OpXDel:
		v := m.get(e, 0)
		if v == nil {
			return
		}
		for _, x := range e.Elems {
			id, ok := parseStreamID(x)
			if !ok {
				m.errorf("XDEL id %q", x)
				continue
			}
			for i, se := range v.stream.entries {
				if se.id == id {
					v.stream.entries = slices.Delete(v.stream.entries, i, i+1)
					if id.Compare(v.stream.maxDel) > 0 {
						v.stream.maxDel = id
					}
					break
				}
			}
		}
	default:
		m.errorf("no model for %s (%q)", e.Op, e.Args)
	}
}

func (m *goModel) trim(e *Event, v *mval) {
	s := v.stream
	switch {
	case e.Opts&OptMaxLen != 0:
		if n := int(e.N); len(s.entries) > n {
			s.entries = s.entries[len(s.entries)-n:]
		}
	case e.Opts&OptMinID != 0:
		min, ok := parseStreamID(e.Field)
		if !ok {
			m.errorf("MINID %q", e.Field)
			return
		}
		for len(s.entries) > 0 && s.entries[0].id.Compare(min) < 0 {
			s.entries = s.entries[1:]
		}
	}
}

func parseStreamID(b []byte) (rdb.StreamID, bool) {
	ms, seq, ok := strings.Cut(string(b), "-")
	if !ok {
		return rdb.StreamID{}, false
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	c, err2 := strconv.ParseUint(seq, 10, 64)
	return rdb.StreamID{Ms: a, Seq: c}, err1 == nil && err2 == nil
}

// ranked returns a sorted set's members by score, then member.
func (v *mval) ranked() []string {
	out := make([]string, 0, len(v.zset))
	for mem := range v.zset {
		out = append(out, mem)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := v.zset[out[i]], v.zset[out[j]]
		return a < b || a == b && out[i] < out[j]
	})
	return out
}

// rangeOf resolves Redis's inclusive start/stop indexes (negative from the
// end) over n elements.
func rangeOf(start, stop int64, n int) (int, int, bool) {
	if start < 0 {
		start += int64(n)
	}
	if stop < 0 {
		stop += int64(n)
	}
	start = max(start, 0)
	if start > stop || start >= int64(n) {
		return 0, 0, false
	}
	stop = min(stop, int64(n)-1)
	return int(start), int(stop), true
}

type bound struct {
	v    float64
	excl bool
}

func scoreRange(b []byte) bound {
	excl := len(b) > 0 && b[0] == '('
	if excl {
		b = b[1:]
	}
	f, _ := ParseScore(b)
	return bound{f, excl}
}

func (b bound) below(x float64) bool { return x > b.v || !b.excl && x == b.v }
func (b bound) above(x float64) bool { return x < b.v || !b.excl && x == b.v }

func lexAbove(min []byte, mem string) bool {
	switch min[0] {
	case '-':
		return true
	case '+':
		return false
	case '[':
		return mem >= string(min[1:])
	}
	return mem > string(min[1:])
}

func lexBelow(max []byte, mem string) bool {
	switch max[0] {
	case '+':
		return true
	case '-':
		return false
	case '[':
		return mem <= string(max[1:])
	}
	return mem < string(max[1:])
}

// commands returns the commands that rebuild the model on an empty server,
// per database.
func (m *goModel) commands() map[int][][][]byte {
	out := map[int][][][]byte{}
	b := func(s string) []byte { return []byte(s) }
	for db, keys := range m.dbs {
		for k, v := range keys {
			key := b(k)
			var cmds [][][]byte
			switch v.typ {
			case rdb.TypeString:
				cmds = append(cmds, [][]byte{b("SET"), key, v.str})
			case rdb.TypeList:
				cmds = append(cmds, append([][]byte{b("RPUSH"), key}, v.list...))
			case rdb.TypeSet:
				c := [][]byte{b("SADD"), key}
				for x := range v.set {
					c = append(c, b(x))
				}
				cmds = append(cmds, c)
			case rdb.TypeHash:
				c := [][]byte{b("HSET"), key}
				for f, x := range v.hash {
					c = append(c, b(f), b(x))
				}
				cmds = append(cmds, c)
			case rdb.TypeZSet:
				c := [][]byte{b("ZADD"), key}
				for mem, s := range v.zset {
					c = append(c, strconv.AppendFloat(nil, s, 'g', -1, 64), b(mem))
				}
				cmds = append(cmds, c)
			case rdb.TypeStream:
				s := v.stream
				for _, se := range s.entries {
					cmds = append(cmds, append([][]byte{b("XADD"), key, b(se.id.String())}, se.fields...))
				}
				if len(s.entries) == 0 {
					cmds = append(cmds, [][]byte{b("XGROUP"), b("CREATE"), key, b("tmp"), b("$"), b("MKSTREAM")},
						[][]byte{b("XGROUP"), b("DESTROY"), key, b("tmp")})
				}
				cmds = append(cmds, [][]byte{b("XSETID"), key, b(s.last.String()), b("ENTRIESADDED"),
					b(strconv.FormatUint(s.added, 10)), b("MAXDELETEDID"), b(s.maxDel.String())})
			}
			if v.exp != 0 {
				cmds = append(cmds, [][]byte{b("PEXPIREAT"), key, b(strconv.FormatInt(v.exp, 10))})
			}
			out[db] = append(out[db], cmds...)
		}
	}
	return out
}
