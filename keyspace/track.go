package keyspace

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// tracker keeps what the notifications depend on beside the arguments
// (Config.TrackKeys): which keys exist, their type, the members of hashes,
// sets and sorted sets (with scores) and the lengths of lists, not the
// values. It is exact from a full snapshot on, until a command it cannot
// follow: then it marks the key unknown (no inference for it until it is
// deleted or overwritten), or, for a command whose keys cannot be told,
// stops inferring altogether until the next full sync.
type tracker struct {
	valid    bool // a whole snapshot has been loaded since the last reset
	sawReset bool // a full sync began: its snapshot is being loaded
	renamed  bool // the source event of the RENAME, MOVE being applied was seen
	keys     map[string]*kstate
	kb       []byte
}

type kstate struct {
	typ     rdb.Type
	unknown bool               // exists, contents not followed
	n       int64              // list length
	mem     map[string]float64 // hash fields, set members, zset members and scores
}

func (s *kstate) size() int64 {
	if s.typ == rdb.TypeList {
		return s.n
	}
	return int64(len(s.mem))
}

func newTracker() *tracker { return &tracker{keys: make(map[string]*kstate)} }

func (t *tracker) id(db int, key []byte) string {
	t.kb = append(t.kb[:0], byte(db), byte(db>>8), byte(db>>16), byte(db>>24))
	t.kb = append(t.kb, key...)
	return string(t.kb)
}

func (t *tracker) get(db int, key []byte) *kstate {
	t.kb = append(t.kb[:0], byte(db), byte(db>>8), byte(db>>16), byte(db>>24))
	t.kb = append(t.kb, key...)
	return t.keys[string(t.kb)] // no allocation for a map index
}

// coll returns the state of a collection key of type typ, created when
// missing (a command that writes it creates it).
func (t *tracker) coll(db int, key []byte, typ rdb.Type) *kstate {
	s := t.get(db, key)
	if s == nil || s.typ != typ {
		s = &kstate{typ: typ}
		if typ != rdb.TypeList {
			s.mem = make(map[string]float64)
		}
		t.keys[t.id(db, key)] = s
	}
	return s
}

func (t *tracker) del(db int, key []byte) { delete(t.keys, t.id(db, key)) }

// reset forgets everything: a full sync follows.
func (t *tracker) reset(fullSync bool) {
	clear(t.keys)
	t.valid = false
	t.sawReset = fullSync
}

// snapshotDone ends a snapshot: the tracker is exact when it saw all of it.
func (t *tracker) snapshotDone() {
	t.valid = t.sawReset
	t.sawReset = false
}

// snapshot loads one snapshot key (chunk).
func (t *tracker) snapshot(e *rdb.Entry) {
	switch e.Type {
	case rdb.TypeList:
		t.coll(e.DB, e.Key, rdb.TypeList).n += int64(len(e.Elems))
	case rdb.TypeSet:
		s := t.coll(e.DB, e.Key, rdb.TypeSet)
		for _, m := range e.Elems {
			s.mem[string(m)] = 0
		}
	case rdb.TypeHash:
		s := t.coll(e.DB, e.Key, rdb.TypeHash)
		for _, f := range e.Fields {
			s.mem[string(f.Name)] = 0
		}
	case rdb.TypeZSet:
		s := t.coll(e.DB, e.Key, rdb.TypeZSet)
		for _, m := range e.Members {
			s.mem[string(m.Name)] = m.Score
		}
	default:
		t.keys[t.id(e.DB, e.Key)] = &kstate{typ: e.Type}
	}
}

// appendBatch appends the notifications of the commands in evs (a batch's
// events), adjusted by what the tracker knows, and applies them.
func (t *tracker) appendBatch(dst []Notification, evs []monitor.Event) []Notification {
	var one [1]monitor.Event
	for len(evs) > 0 {
		n := 1
		for n < len(evs) && sameCommand(&evs[0], &evs[n]) {
			n++
		}
		cmd := evs[:n]
		evs = evs[n:]
		if cmd[0].Kind == monitor.KindDBChange {
			t.dbChange(&cmd[0])
			continue
		}
		if cmd[0].Kind != monitor.KindChange {
			continue
		}
		order := []int{}
		for i := range cmd {
			order = append(order, i)
		}
		if len(cmd) == 2 && (cmd[0].Op == monitor.OpLPop || cmd[0].Op == monitor.OpRPop) &&
			(cmd[1].Op == monitor.OpLPush || cmd[1].Op == monitor.OpRPush) {
			order[0], order[1] = 1, 0 // LMOVE: the push first, as the master
		}
		for _, i := range order {
			e := &cmd[i]
			one[0] = *e
			from := len(dst)
			dst = appendCommand(dst, one[:])
			if !t.valid {
				continue
			}
			keep, emptied := t.apply(e)
			if !keep {
				dst = dst[:from]
			}
			if emptied {
				dst = append(dst, Notification{DB: e.DB, Event: "del", Key: e.Key})
			}
		}
	}
	return dst
}

func (t *tracker) dbChange(e *monitor.Event) {
	switch e.Op {
	case monitor.OpFlushAll:
		clear(t.keys)
	case monitor.OpFlushDB:
		for k := range t.keys {
			if dbOf(k) == e.DB {
				delete(t.keys, k)
			}
		}
	case monitor.OpSwapDB:
		moved := make(map[string]*kstate, len(t.keys))
		for k, s := range t.keys {
			switch dbOf(k) {
			case e.DB:
				moved[t.id(e.OtherDB, []byte(k[4:]))] = s
			case e.OtherDB:
				moved[t.id(e.DB, []byte(k[4:]))] = s
			default:
				moved[k] = s
			}
		}
		t.keys = moved
	default:
		t.valid = false // a command whose keys cannot be told
		clear(t.keys)
	}
}

func dbOf(k string) int { return int(k[0]) | int(k[1])<<8 | int(k[2])<<16 | int(k[3])<<24 }

// apply applies one key's event. keep is false when the master would not
// have published the event's notifications (DEL of a missing key, SMOVE of
// a member the destination has); emptied when the command left a
// collection empty (the master deletes it and publishes "del").
func (t *tracker) apply(e *monitor.Event) (keep, emptied bool) {
	s := t.get(e.DB, e.Key)
	switch e.Op {
	case monitor.OpDel:
		t.del(e.DB, e.Key)
		return s != nil, false
	case monitor.OpExpireAt, monitor.OpPersist, monitor.OpCopyFrom:
		return true, false
	case monitor.OpRenameFrom:
		if !bytes.Equal(e.Key, e.Other) {
			t.del(e.DB, e.Key)
			if s == nil {
				s = &kstate{unknown: true}
			}
			t.keys[t.id(e.DB, e.Other)] = s
		}
		t.renamed = true
		return true, false
	case monitor.OpMoveFrom:
		t.del(e.DB, e.Key)
		if s == nil {
			s = &kstate{unknown: true}
		}
		t.keys[t.id(e.OtherDB, e.Key)] = s
		t.renamed = true
		return true, false
	case monitor.OpRenameTo, monitor.OpMoveTo:
		if !t.renamed { // the source's event did not pass the filter
			t.keys[t.id(e.DB, e.Key)] = &kstate{unknown: true}
		}
		t.renamed = false
		return true, false
	case monitor.OpCopyTo:
		src := t.get(e.OtherDB, e.Other)
		c := &kstate{unknown: true}
		if src != nil {
			c = &kstate{typ: src.typ, unknown: src.unknown, n: src.n}
			if src.mem != nil {
				c.mem = make(map[string]float64, len(src.mem))
				for k, v := range src.mem {
					c.mem[k] = v
				}
			}
		}
		t.keys[t.id(e.DB, e.Key)] = c
		return true, false
	case monitor.OpSet, monitor.OpAppend, monitor.OpIncrBy, monitor.OpSetRange, monitor.OpSetBit:
		if s == nil || s.typ != rdb.TypeString {
			t.keys[t.id(e.DB, e.Key)] = &kstate{typ: rdb.TypeString}
		}
		return true, false
	case monitor.OpXAdd, monitor.OpXDel, monitor.OpXTrim, monitor.OpXGroup:
		// XADD and XGROUP CREATE ... MKSTREAM create the stream; the
		// others need it.
		if s == nil {
			t.keys[t.id(e.DB, e.Key)] = &kstate{typ: rdb.TypeStream}
		}
		return true, false
	}
	if s != nil && s.unknown {
		return true, false
	}
	switch e.Op {
	case monitor.OpHSet:
		s = t.coll(e.DB, e.Key, rdb.TypeHash)
		for i := 0; i+1 < len(e.Elems); i += 2 {
			s.mem[string(e.Elems[i])] = 0
		}
	case monitor.OpHIncrBy:
		t.coll(e.DB, e.Key, rdb.TypeHash).mem[string(e.Field)] = 0
	case monitor.OpHDel, monitor.OpSRem, monitor.OpZRem:
		if s == nil {
			return true, false
		}
		for _, m := range e.Elems {
			delete(s.mem, string(m))
		}
	case monitor.OpSAdd:
		s = t.coll(e.DB, e.Key, rdb.TypeSet)
		if e.KeyIndex == 2 && len(e.Elems) == 1 { // SMOVE's destination
			if _, ok := s.mem[string(e.Elems[0])]; ok {
				return false, false
			}
		}
		for _, m := range e.Elems {
			s.mem[string(m)] = 0
		}
	case monitor.OpZAdd:
		s = t.coll(e.DB, e.Key, rdb.TypeZSet)
		zadd(s, e)
	case monitor.OpZIncrBy:
		s = t.coll(e.DB, e.Key, rdb.TypeZSet)
		s.mem[string(e.Value)] += e.Float
	case monitor.OpZPopMin, monitor.OpZPopMax:
		if s == nil {
			return true, false
		}
		zpop(s, e.N, e.Op == monitor.OpZPopMax)
	case monitor.OpLPush, monitor.OpRPush:
		s = t.coll(e.DB, e.Key, rdb.TypeList)
		if e.Elems == nil {
			s.n++ // LMOVE's destination
		} else {
			s.n += int64(len(e.Elems))
		}
	case monitor.OpLPop, monitor.OpRPop:
		if s == nil {
			return true, false
		}
		s.n -= min(max(e.N, 1), s.n)
	case monitor.OpLInsert:
		if s != nil {
			s.n++ // propagated only when the pivot was found
		}
	case monitor.OpLTrim:
		if s == nil {
			return true, false
		}
		start, stop := e.N, e.M
		if start < 0 {
			start += s.n
		}
		if stop < 0 {
			stop += s.n
		}
		start = max(start, 0)
		if start > stop || start >= s.n {
			s.n = 0
		} else {
			s.n = min(stop, s.n-1) - start + 1
		}
	case monitor.OpLSet:
	case monitor.OpZRemRangeByRank:
		if s == nil {
			return true, false
		}
		n := int64(len(s.mem))
		start, stop := e.N, e.M
		if start < 0 {
			start += n
		}
		if stop < 0 {
			stop += n
		}
		start = max(start, 0)
		if start <= stop && start < n {
			ms := sorted(s)
			for _, m := range ms[start : min(stop, n-1)+1] {
				delete(s.mem, m)
			}
		}
	case monitor.OpZRemRangeByScore:
		if s == nil {
			return true, false
		}
		if !zremByScore(s, e.Elems) {
			t.keys[t.id(e.DB, e.Key)] = &kstate{unknown: true}
			return true, false
		}
	default:
		// LREM, ZREMRANGEBYLEX and the commands without a typed view: not
		// followed.
		if s != nil || e.Op == monitor.OpOther {
			t.keys[t.id(e.DB, e.Key)] = &kstate{unknown: true}
		}
		return true, false
	}
	if s != nil && s.size() == 0 {
		t.del(e.DB, e.Key)
		return true, true
	}
	return true, false
}

// zadd applies ZADD's pairs with its options.
func zadd(s *kstate, e *monitor.Event) {
	for i := 0; i+1 < len(e.Elems); i += 2 {
		score, err := monitor.ParseScore(e.Elems[i])
		if err != nil {
			continue
		}
		m := string(e.Elems[i+1])
		old, ok := s.mem[m]
		switch {
		case ok && e.Opts&monitor.OptNX != 0, !ok && e.Opts&monitor.OptXX != 0:
			continue
		}
		if e.Opts&monitor.OptIncr != 0 {
			score += old
		}
		if ok && (e.Opts&monitor.OptGT != 0 && score <= old || e.Opts&monitor.OptLT != 0 && score >= old) {
			continue
		}
		s.mem[m] = score
	}
}

// sorted returns the members of a sorted set in the order of their scores,
// ties by member.
func sorted(s *kstate) []string {
	ms := make([]string, 0, len(s.mem))
	for m := range s.mem {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b string) int {
		if c := cmp.Compare(s.mem[a], s.mem[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return ms
}

// zremByScore removes the members in the score range [min, max] as
// ZREMRANGEBYSCORE gives it ("(" for exclusive, "-inf", "+inf"); false
// when the range does not parse.
func zremByScore(s *kstate, r [][]byte) bool {
	if len(r) != 2 {
		return false
	}
	lo, loEx, err1 := scoreBound(r[0])
	hi, hiEx, err2 := scoreBound(r[1])
	if err1 != nil || err2 != nil {
		return false
	}
	for m, v := range s.mem {
		if (v > lo || !loEx && v == lo) && (v < hi || !hiEx && v == hi) {
			delete(s.mem, m)
		}
	}
	return true
}

func scoreBound(b []byte) (float64, bool, error) {
	ex := len(b) > 0 && b[0] == '('
	if ex {
		b = b[1:]
	}
	v, err := monitor.ParseScore(b)
	return v, ex, err
}

func zpop(s *kstate, n int64, maxFirst bool) {
	ms := sorted(s)
	if maxFirst {
		slices.Reverse(ms)
	}
	for _, m := range ms[:min(max(n, 1), int64(len(ms)))] {
		delete(s.mem, m)
	}
}
