package assembler

import (
	"bytes"
	"math"
	"sort"

	"github.com/redtap/redtap/monitor"
)

// zmember is one member of a held sorted set. id and enc are computed
// lazily and cached: id never changes for a name, enc is dropped when the
// score changes.
type zmember struct {
	name  string
	score float64
	id    string
	idOK  bool
	enc   []byte // the window entry's JSON
	// encDedup: enc was made with DedupID (its id is the JSON id)
	encDedup bool
}

// less is Redis's order: score, then member bytes.
func zless(as float64, an string, bs float64, bn string) bool {
	return as < bs || as == bs && an < bn
}

// zset is the full state of a sorted set: every member by name and in
// Redis's order. When truncated, only the members above floor are held
// (see the package documentation on the global bound).
type zset struct {
	byName    map[string]*zmember
	sorted    []*zmember // ascending (score, name)
	truncated bool
	floorS    float64 // the highest (score, name) evicted
	floorN    string
}

func newZSet() *zset { return &zset{byName: make(map[string]*zmember)} }

// aboveFloor reports whether (s, n) sorts above the eviction floor.
func (z *zset) aboveFloor(s float64, n string) bool {
	return !z.truncated || zless(z.floorS, z.floorN, s, n)
}

func (z *zset) pos(s float64, n string) int {
	return sort.Search(len(z.sorted), func(i int) bool {
		m := z.sorted[i]
		return !zless(m.score, m.name, s, n)
	})
}

func zmemberBytes(name string) int64 { return int64(len(name)) + 48 }

// set gives name the score s (adding it), keeping the order; members that
// fall to or below the floor of a truncated set are dropped.
func (v *value) zsetScore(name string, s float64) {
	z := v.z
	var id string
	var idOK bool
	if m := z.byName[name]; m != nil {
		if m.score == s {
			return
		}
		id, idOK = m.id, m.idOK
		v.zdel(m)
	}
	if !z.aboveFloor(s, name) {
		return
	}
	m := &zmember{name: name, score: s, id: id, idOK: idOK}
	z.byName[name] = m
	i := z.pos(s, name)
	z.sorted = append(z.sorted, nil)
	copy(z.sorted[i+1:], z.sorted[i:])
	z.sorted[i] = m
	v.n++
	v.bytes += zmemberBytes(name)
}

func (v *value) zdel(m *zmember) {
	z := v.z
	i := z.pos(m.score, m.name)
	if i < len(z.sorted) && z.sorted[i] == m {
		copy(z.sorted[i:], z.sorted[i+1:])
		z.sorted[len(z.sorted)-1] = nil
		z.sorted = z.sorted[:len(z.sorted)-1]
	}
	delete(z.byName, m.name)
	v.n--
	v.bytes -= zmemberBytes(m.name)
}

// zdelRange removes sorted[i:j].
func (v *value) zdelRange(i, j int) {
	z := v.z
	if i < 0 {
		i = 0
	}
	if j > len(z.sorted) {
		j = len(z.sorted)
	}
	if i >= j {
		return
	}
	for _, m := range z.sorted[i:j] {
		delete(z.byName, m.name)
		v.n--
		v.bytes -= zmemberBytes(m.name)
	}
	n := copy(z.sorted[i:], z.sorted[j:])
	clear(z.sorted[i+n:])
	z.sorted = z.sorted[:i+n]
}

// applyZSet applies a sorted-set operation. It returns false when the
// held state cannot follow it exactly (the key is then stale).
func (v *value) applyZSet(e *monitor.Event) bool {
	z := v.z
	if (e.Op == monitor.OpZRemRangeByScore || e.Op == monitor.OpZRemRangeByLex) &&
		(len(e.Elems) != 2 || len(e.Elems[0]) == 0 || len(e.Elems[1]) == 0) {
		return false // not as the monitor builds it
	}
	switch e.Op {
	case monitor.OpZAdd:
		o := e.Opts
		for i := 0; i+1 < len(e.Elems); i += 2 {
			s, err := monitor.ParseScore(e.Elems[i])
			if err != nil {
				return false
			}
			name := string(e.Elems[i+1])
			m := z.byName[name]
			if m == nil {
				if o&monitor.OptXX != 0 {
					if z.truncated && z.aboveFloor(s, name) {
						return false // it may exist below the floor
					}
					continue
				}
				if o&monitor.OptIncr != 0 && z.truncated {
					return false // the base may be below the floor
				}
				if z.truncated && z.aboveFloor(s, name) && o&(monitor.OptNX|monitor.OptLT) != 0 {
					return false // an existing member below the floor would stay
				}
				// Absent, or below the floor where any outcome stays
				// below it (GT: a member below the floor has a lower
				// score, so it moves to s).
				v.zsetScore(name, s)
				continue
			}
			if o&monitor.OptNX != 0 {
				continue
			}
			ns := s
			if o&monitor.OptIncr != 0 {
				ns = m.score + s
				if math.IsNaN(ns) {
					return false
				}
			}
			if o&monitor.OptGT != 0 && !(ns > m.score) || o&monitor.OptLT != 0 && !(ns < m.score) {
				continue
			}
			v.zsetScore(name, ns)
		}
	case monitor.OpZIncrBy:
		name := string(e.Value)
		m := z.byName[name]
		if m == nil {
			if z.truncated {
				return false
			}
			v.zsetScore(name, e.Float)
			break
		}
		ns := m.score + e.Float
		if math.IsNaN(ns) {
			return false
		}
		v.zsetScore(name, ns)
	case monitor.OpZRem:
		for _, el := range e.Elems {
			if m := z.byName[string(el)]; m != nil {
				v.zdel(m)
			}
		}
	case monitor.OpZPopMin:
		if z.truncated {
			return false
		}
		v.zdelRange(0, int(min(e.N, int64(len(z.sorted)))))
	case monitor.OpZPopMax:
		// The highest members are held even when truncated; popping more
		// than are held only takes members below the floor too.
		n := len(z.sorted)
		v.zdelRange(n-int(min(e.N, int64(n))), n)
	case monitor.OpZRemRangeByRank:
		return v.zremRank(e.N, e.M)
	case monitor.OpZRemRangeByScore:
		lo, loEx, err1 := parseScoreBound(e.Elems[0])
		hi, hiEx, err2 := parseScoreBound(e.Elems[1])
		if err1 != nil || err2 != nil {
			return false
		}
		i := sort.Search(len(z.sorted), func(i int) bool {
			s := z.sorted[i].score
			return s > lo || !loEx && s == lo
		})
		j := sort.Search(len(z.sorted), func(j int) bool {
			s := z.sorted[j].score
			return s > hi || hiEx && s == hi
		})
		v.zdelRange(i, j)
	case monitor.OpZRemRangeByLex:
		// Redis defines it only when all scores are equal; then the order
		// is the members' bytes and the range is exact.
		if z.truncated {
			return false
		}
		if len(z.sorted) == 0 {
			break
		}
		if z.sorted[0].score != z.sorted[len(z.sorted)-1].score {
			return false
		}
		lo, hi := e.Elems[0], e.Elems[1]
		i := sort.Search(len(z.sorted), func(i int) bool { return lexGteMin(z.sorted[i].name, lo) })
		j := i
		for j < len(z.sorted) && lexLteMax(z.sorted[j].name, hi) {
			j++
		}
		v.zdelRange(i, j)
	default:
		return false
	}
	return true
}

// zremRank is ZREMRANGEBYRANK start stop. On a truncated set the ranks
// counted from the bottom are unknown, so only ranges that the top of the
// set decides are exact: both ends negative (counted from the top), or
// start 0 with a negative stop (keep the top -stop-1).
func (v *value) zremRank(start, stop int64) bool {
	z := v.z
	n := int64(len(z.sorted))
	if z.truncated {
		switch {
		case start < 0 && stop < 0:
			// Positions from the top: -1 is the highest.
			if start > stop {
				return true
			}
			i, j := n+start, n+stop+1 // may fall below the held part
			v.zdelRange(int(max(i, 0)), int(max(j, 0)))
			return true
		case start == 0 && stop < 0:
			j := n + stop + 1
			v.zdelRange(0, int(max(j, 0)))
			return true
		}
		return false
	}
	if i, j, ok := rangeIndex(start, stop, len(z.sorted)); ok {
		v.zdelRange(i, j)
	}
	return true
}

func parseScoreBound(b []byte) (float64, bool, error) {
	ex := len(b) > 0 && b[0] == '('
	if ex {
		b = b[1:]
	}
	f, err := monitor.ParseScore(b)
	return f, ex, err
}

func lexGteMin(s string, min []byte) bool {
	switch min[0] {
	case '-':
		return true
	case '+':
		return false
	case '[':
		return bytes.Compare([]byte(s), min[1:]) >= 0
	}
	return bytes.Compare([]byte(s), min[1:]) > 0
}

func lexLteMax(s string, max []byte) bool {
	switch max[0] {
	case '-':
		return false
	case '+':
		return true
	case '[':
		return bytes.Compare([]byte(s), max[1:]) <= 0
	}
	return bytes.Compare([]byte(s), max[1:]) < 0
}

// evictZSet drops the lowest held member and raises the floor to it.
func (v *value) evictZSet() {
	z := v.z
	m := z.sorted[0]
	v.zdelRange(0, 1)
	z.truncated, z.floorS, z.floorN = true, m.score, m.name
}
