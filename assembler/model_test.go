package assembler

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mval is the test's model of a key: the simplest thing that follows
// Redis, independent of the assembler's.
type mval struct {
	typ  string
	z    map[string]float64
	list []string
	hash map[string]string
	set  map[string]bool
	str  string
	xs   []mstream
}

type mstream struct {
	ms    int
	field string
}

func (v *mval) clone() *mval {
	c := *v
	c.z = maps(v.z)
	c.hash = maps(v.hash)
	c.set = maps(v.set)
	c.list = slices.Clone(v.list)
	c.xs = slices.Clone(v.xs)
	return &c
}

func maps[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	c := make(map[string]V, len(m))
	for k, x := range m {
		c[k] = x
	}
	return c
}

func (v *mval) empty() bool {
	switch v.typ {
	case "zset":
		return len(v.z) == 0
	case "list":
		return len(v.list) == 0
	case "hash":
		return len(v.hash) == 0
	case "set":
		return len(v.set) == 0
	}
	return false
}

// modelWindow is what a key's window should hold: id -> "score|value".
func modelWindow(v *mval, w Window) map[string]string {
	out := map[string]string{}
	switch v.typ {
	case "zset":
		type zm struct {
			n string
			s float64
		}
		var ms []zm
		for n, s := range v.z {
			ms = append(ms, zm{n, s})
		}
		sort.Slice(ms, func(i, j int) bool { return zless(ms[j].s, ms[j].n, ms[i].s, ms[i].n) }) // descending
		for _, m := range ms {
			if len(out) == w.Limit {
				break
			}
			id := m.n
			if w.DedupID {
				var rec struct{ ID string }
				if json.Unmarshal([]byte(m.n), &rec) == nil && rec.ID != "" {
					id = rec.ID
				}
				if _, dup := out[id]; dup {
					continue
				}
			}
			out[id] = fmt.Sprintf("%g|%s", m.s, m.n)
		}
	case "list":
		from, to := max(len(v.list)-w.Limit, 0), len(v.list)
		if w.FromHead {
			from, to = 0, min(w.Limit, len(v.list))
		}
		for i := from; i < to; i++ {
			out[strconv.Itoa(i)] = "|" + v.list[i]
		}
	case "hash":
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range v.hash {
				if !yield(k) {
					return
				}
			}
		})
		for _, f := range names[:min(w.Limit, len(names))] {
			out[f] = "|" + v.hash[f]
		}
	case "set":
		var names []string
		for k := range v.set {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, m := range names[:min(w.Limit, len(names))] {
			out[m] = "|" + m
		}
	case "string":
		out[""] = "|" + v.str
	case "stream":
		for _, e := range v.xs[max(len(v.xs)-w.Limit, 0):] {
			out[strconv.Itoa(e.ms)+"-0"] = fmt.Sprintf(`%d|{"f":%q}`, e.ms, e.field)
		}
	}
	return out
}

// viewWindow is the same from a viewer.
func viewWindow(t testing.TB, w *vwin) map[string]string {
	out := map[string]string{}
	for id, raw := range w.entries {
		var we wireEntry
		require.NoError(t, json.Unmarshal(raw, &we))
		s := ""
		if we.Score != nil {
			s = fmt.Sprintf("%g", *we.Score)
		}
		var str string
		if json.Unmarshal(we.Value, &str) == nil {
			out[id] = s + "|" + str
		} else {
			out[id] = s + "|" + string(we.Value)
		}
	}
	return out
}

// gen makes random commands that a master would accept and propagate,
// applying them to the model.
type gen struct {
	r    *rand.Rand
	m    map[string]*mval // "db/key"
	xseq int
}

func (g *gen) get(key, typ string) *mval {
	v := g.m["0/"+key]
	if v == nil {
		v = &mval{typ: typ, z: map[string]float64{}, hash: map[string]string{}, set: map[string]bool{}}
		g.m["0/"+key] = v
	}
	return v
}

func (g *gen) tidy(key string) {
	if v := g.m["0/"+key]; v != nil && v.empty() {
		delete(g.m, "0/"+key)
	}
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) member(key string) string {
	if key == "d0" {
		return fmt.Sprintf(`{"id":"%c","n":%d}`, 'A'+g.r.IntN(3), g.r.IntN(4))
	}
	return string(rune('a' + g.r.IntN(8)))
}

// next returns one command, applied to the model.
func (g *gen) next() []string {
	r := g.r
	switch r.IntN(7) {
	case 0, 1: // sorted sets
		key := g.pick("z0", "z1", "d0")
		v := g.get(key, "zset")
		defer g.tidy(key)
		switch r.IntN(9) {
		case 0, 1, 2:
			var opts []string
			nx, xx, gt, lt, incr := false, false, false, false, false
			switch r.IntN(6) {
			case 1:
				nx = true
				opts = append(opts, "NX")
			case 2:
				xx = true
				opts = append(opts, "XX")
			}
			if !nx {
				switch r.IntN(4) {
				case 1:
					gt = true
					opts = append(opts, "GT")
				case 2:
					lt = true
					opts = append(opts, "LT")
				}
			}
			if r.IntN(3) == 0 {
				opts = append(opts, "CH")
			}
			pairs := 1 + r.IntN(3)
			if r.IntN(4) == 0 {
				incr, pairs = true, 1
				opts = append(opts, "INCR")
			}
			cmd := append([]string{"ZADD", key}, opts...)
			for range pairs {
				s, m := r.IntN(20)-5, g.member(key)
				cmd = append(cmd, strconv.Itoa(s), m)
				old, ok := v.z[m]
				if !ok {
					if !xx {
						v.z[m] = float64(s)
					}
					continue
				}
				if nx {
					continue
				}
				nv := float64(s)
				if incr {
					nv += old
				}
				if gt && !(nv > old) || lt && !(nv < old) {
					continue
				}
				v.z[m] = nv
			}
			return cmd
		case 3:
			m, d := g.member(key), r.IntN(7)-3
			v.z[m] += float64(d)
			return []string{"ZINCRBY", key, strconv.Itoa(d), m}
		case 4:
			m := g.member(key)
			delete(v.z, m)
			return []string{"ZREM", key, m}
		case 5:
			n, max := r.IntN(3), r.IntN(2) == 0
			ms := zsorted(v.z)
			if max {
				slices.Reverse(ms)
			}
			for _, m := range ms[:min(n, len(ms))] {
				delete(v.z, m)
			}
			if max {
				return []string{"ZPOPMAX", key, strconv.Itoa(n)}
			}
			return []string{"ZPOPMIN", key, strconv.Itoa(n)}
		case 6:
			lo, hi := r.IntN(20)-5, r.IntN(20)-5
			for m, s := range v.z {
				if s > float64(lo) && s <= float64(hi) {
					delete(v.z, m)
				}
			}
			return []string{"ZREMRANGEBYSCORE", key, "(" + strconv.Itoa(lo), strconv.Itoa(hi)}
		case 7:
			a, b := r.IntN(8)-4, r.IntN(8)-4
			ms := zsorted(v.z)
			if s, e, ok := modelRange(a, b, len(ms)); ok {
				for _, m := range ms[s:e] {
					delete(v.z, m)
				}
			}
			return []string{"ZREMRANGEBYRANK", key, strconv.Itoa(a), strconv.Itoa(b)}
		default:
			if key == "d0" || len(v.z) == 0 {
				return []string{"ZREM", key, "nothing"}
			}
			other := "z1"
			if key == "z1" {
				other = "z0"
			}
			if r.IntN(2) == 0 {
				g.m["0/"+other] = v.clone()
				return []string{"COPY", key, other, "REPLACE"}
			}
			g.m["0/"+other] = v
			delete(g.m, "0/"+key)
			return []string{"RENAME", key, other}
		}
	case 2: // lists
		key := g.pick("l0", "l1", "f0")
		v := g.get(key, "list")
		defer g.tidy(key)
		el := string(rune('a' + r.IntN(5)))
		switch r.IntN(8) {
		case 0, 1:
			n := 1 + r.IntN(3)
			cmd := []string{g.pick("LPUSH", "RPUSH"), key}
			for range n {
				e := string(rune('a' + r.IntN(5)))
				cmd = append(cmd, e)
				if cmd[0] == "LPUSH" {
					v.list = append([]string{e}, v.list...)
				} else {
					v.list = append(v.list, e)
				}
			}
			return cmd
		case 2:
			n := r.IntN(3)
			if r.IntN(2) == 0 {
				v.list = v.list[min(n, len(v.list)):]
				return []string{"LPOP", key, strconv.Itoa(n)}
			}
			v.list = v.list[:len(v.list)-min(n, len(v.list))]
			return []string{"RPOP", key, strconv.Itoa(n)}
		case 3:
			if len(v.list) == 0 {
				return nil
			}
			i := r.IntN(len(v.list))
			v.list[i] = el
			return []string{"LSET", key, strconv.Itoa(i - len(v.list)*r.IntN(2)), el}
		case 4:
			a, b := r.IntN(6)-3, r.IntN(6)-3
			if s, e, ok := modelRange(a, b, len(v.list)); ok {
				v.list = slices.Clone(v.list[s:e])
			} else {
				v.list = nil
			}
			return []string{"LTRIM", key, strconv.Itoa(a), strconv.Itoa(b)}
		case 5:
			pivot := string(rune('a' + r.IntN(5)))
			i := slices.Index(v.list, pivot)
			before := r.IntN(2) == 0
			if i >= 0 {
				if !before {
					i++
				}
				v.list = slices.Insert(v.list, i, el)
			}
			w := "AFTER"
			if before {
				w = "BEFORE"
			}
			return []string{"LINSERT", key, w, pivot, el}
		case 6:
			n := r.IntN(5) - 2
			var nl []string
			if n >= 0 {
				left := n
				for _, x := range v.list {
					if x == el && (n == 0 || left > 0) {
						left--
						continue
					}
					nl = append(nl, x)
				}
			} else {
				left := -n
				for i := len(v.list) - 1; i >= 0; i-- {
					if v.list[i] == el && left > 0 {
						left--
						continue
					}
					nl = append([]string{v.list[i]}, nl...)
				}
			}
			v.list = nl
			return []string{"LREM", key, strconv.Itoa(n), el}
		default:
			if len(v.list) == 0 {
				return nil
			}
			dst := g.pick("l0", "l1", "f0")
			from, to := g.pick("LEFT", "RIGHT"), g.pick("LEFT", "RIGHT")
			var x string
			if from == "LEFT" {
				x, v.list = v.list[0], v.list[1:]
			} else {
				x, v.list = v.list[len(v.list)-1], v.list[:len(v.list)-1]
			}
			d := g.get(dst, "list")
			if to == "LEFT" {
				d.list = append([]string{x}, d.list...)
			} else {
				d.list = append(d.list, x)
			}
			g.tidy(dst)
			return []string{"LMOVE", key, dst, from, to}
		}
	case 3: // hash
		v := g.get("h0", "hash")
		defer g.tidy("h0")
		f := string(rune('a' + r.IntN(6)))
		switch r.IntN(3) {
		case 0:
			x := strconv.Itoa(r.IntN(100))
			v.hash[f] = x
			return []string{"HSET", "h0", f, x}
		case 1:
			delete(v.hash, f)
			return []string{"HDEL", "h0", f}
		default:
			n, _ := strconv.Atoi(v.hash[f])
			d := r.IntN(10) - 5
			v.hash[f] = strconv.Itoa(n + d)
			return []string{"HINCRBY", "h0", f, strconv.Itoa(d)}
		}
	case 4: // sets
		key := g.pick("s0", "s1")
		v := g.get(key, "set")
		defer g.tidy(key)
		m := string(rune('a' + r.IntN(6)))
		switch r.IntN(3) {
		case 0:
			v.set[m] = true
			return []string{"SADD", key, m}
		case 1:
			delete(v.set, m)
			return []string{"SREM", key, m}
		default:
			if !v.set[m] {
				return []string{"SREM", key, m}
			}
			dst := "s1"
			if key == "s1" {
				dst = "s0"
			}
			delete(v.set, m)
			g.get(dst, "set").set[m] = true
			return []string{"SMOVE", key, dst, m}
		}
	case 5: // stream
		op := r.IntN(4)
		if g.m["0/x0"] == nil && op >= 2 {
			return nil
		}
		v := g.get("x0", "stream")
		switch op {
		case 0, 1:
			g.xseq++
			f := string(rune('a' + r.IntN(6)))
			v.xs = append(v.xs, mstream{g.xseq, f})
			if r.IntN(3) == 0 {
				n := r.IntN(6)
				v.xs = v.xs[max(len(v.xs)-n, 0):]
				return []string{"XADD", "x0", "MAXLEN", "=", strconv.Itoa(n), strconv.Itoa(g.xseq) + "-0", "f", f}
			}
			return []string{"XADD", "x0", strconv.Itoa(g.xseq) + "-0", "f", f}
		case 2:
			if len(v.xs) == 0 {
				return []string{"XDEL", "x0", "1-0"}
			}
			i := r.IntN(len(v.xs))
			id := v.xs[i].ms
			v.xs = slices.Delete(v.xs, i, i+1)
			return []string{"XDEL", "x0", strconv.Itoa(id) + "-0"}
		default:
			id := max(g.xseq-r.IntN(5), 0)
			v.xs = slices.DeleteFunc(v.xs, func(e mstream) bool { return e.ms < id })
			return []string{"XTRIM", "x0", "MINID", strconv.Itoa(id)}
		}
	default: // strings and keyspace
		switch r.IntN(6) {
		case 0:
			x := strconv.Itoa(r.IntN(50))
			g.m["0/t0"] = &mval{typ: "string", str: x}
			return []string{"SET", "t0", x}
		case 1:
			if v := g.m["0/t0"]; v != nil {
				if _, err := strconv.Atoi(v.str); err != nil {
					return nil
				}
			}
			v := g.get("t0", "string")
			n, _ := strconv.Atoi(v.str)
			v.str = strconv.Itoa(n + 3)
			return []string{"INCRBY", "t0", "3"}
		case 2:
			v := g.get("t0", "string")
			v.str += "x"
			return []string{"APPEND", "t0", "x"}
		case 3:
			key := g.pick("z0", "l0", "h0", "s0", "t0", "d0")
			delete(g.m, "0/"+key)
			return []string{"DEL", key}
		case 4:
			if g.r.IntN(10) == 0 {
				for k := range g.m {
					if strings.HasPrefix(k, "0/") {
						delete(g.m, k)
					}
				}
				return []string{"FLUSHDB"}
			}
			return []string{"PEXPIREAT", "t0", "99999999999999"}
		default:
			// Swap databases 0 and 1 twice over a step: the model keys
			// move with them.
			nm := map[string]*mval{}
			for k, v := range g.m {
				db, key, _ := strings.Cut(k, "/")
				if db == "0" {
					db = "1"
				} else {
					db = "0"
				}
				nm[db+"/"+key] = v
			}
			g.m = nm
			return []string{"SWAPDB", "0", "1"}
		}
	}
}

func zsorted(z map[string]float64) []string {
	ms := make([]string, 0, len(z))
	for m := range z {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return zless(z[ms[i]], ms[i], z[ms[j]], ms[j]) })
	return ms
}

var modelWindows = []Window{
	{Match: "d*", Limit: 2, DedupID: true},
	{Match: "f*", Limit: 3, FromHead: true},
	{Match: "*", Limit: 3},
}

func specOf(key string) Window {
	for _, w := range modelWindows {
		if ok, _ := globMatch(w.Match, key); ok {
			return w
		}
	}
	panic(key)
}

func globMatch(p, k string) (bool, error) {
	return p == "*" || strings.HasPrefix(k, strings.TrimSuffix(p, "*")), nil
}

// TestModel applies random commands to the assembler and to the model, and
// checks at every tick that each viewer (one from the start, one joining
// later, one whose sink is sometimes full) sees the model's windows.
func TestModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			r := newRig(t, Config{Windows: modelWindows, MaxPending: 2})
			g := &gen{r: rand.New(rand.NewPCG(seed, 7)), m: map[string]*mval{}}
			r.f.snapshot()
			r.sync()
			slow := &recSink{}
			slowV := newView()
			slowSub, err := r.a.Subscribe(slow, nil, -1)
			require.NoError(t, err)
			var late *recSink
			var lateV *view
			for step := range 200 {
				for range g.r.IntN(6) {
					cmd := g.next()
					if cmd == nil {
						continue
					}
					r.f.cmd(cmd...)
				}
				if step == 50 {
					late, lateV = &recSink{}, newView()
					_, err := r.a.Subscribe(late, nil, -1)
					require.NoError(t, err)
				}
				slow.full = step%10 < 4 && step%20 < 10 || step%20 == 13 // streaks past MaxPending, and single refusals
				r.c.Add(time.Duration(g.r.IntN(3)) * 500 * time.Millisecond)
				due := r.c.t.Sub(r.a.shown.at) >= DefaultInterval
				r.a.Tick()
				r.sync()
				check := func(name string, v *view) {
					want := map[string]map[string]string{}
					for k, mv := range g.m {
						_, key, _ := strings.Cut(k, "/")
						if w := modelWindow(mv, specOf(key)); len(w) > 0 {
							want[k] = w
						}
					}
					got := map[string]map[string]string{}
					for k, w := range v.windows {
						require.False(t, w.stale, "%s: %s stale", name, k)
						got[k] = viewWindow(t, w)
					}
					require.Equal(t, want, got, "%s at step %d", name, step)
				}
				if due {
					check("first", r.v)
					if late != nil {
						lateV.applyAll(t, late.take())
						check("late", lateV)
					}
					if !slow.full {
						slowV.applyAll(t, slow.take())
						if !slowSub.behind {
							check("slow", slowV)
						}
					}
				}
			}
			st := r.a.Stats()
			require.Zero(t, st.Stale)
			t.Logf("keys %d entries %d messages %d fresh %d", st.Keys, st.Entries, st.Messages, st.FreshUpdates)
		})
	}
}

// TestModelBounded runs the model under a global bound so small that keys
// are cut all the time: every key not flagged stale shows the newest
// entries of the model's key (as many as the bound left it, at most
// Limit); none is ever wrong without the flag.
func TestModelBounded(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			r := newRig(t, Config{Windows: modelWindows, MaxEntries: 12, Interval: AtOnce})
			g := &gen{r: rand.New(rand.NewPCG(seed, 11)), m: map[string]*mval{}}
			r.f.snapshot()
			stale := 0
			for step := range 600 {
				cmd := g.next()
				if cmd == nil {
					continue
				}
				r.c.Add(time.Second)
				r.f.cmd(cmd...)
				r.sync()
				checkInvariants(t, r.a)
				for k, w := range r.v.windows {
					if w.stale {
						stale++
						continue
					}
					mv := g.m[k]
					require.NotNil(t, mv, "step %d: %s shown, not in the model", step, k)
					got := viewWindow(t, w)
					_, key, _ := strings.Cut(k, "/")
					sp := specOf(key)
					require.LessOrEqual(t, len(got), sp.Limit)
					sp.Limit = len(got)
					require.Equal(t, modelWindow(mv, sp), got, "step %d: %s after %q", step, k, cmd)
				}
			}
			st := r.a.Stats()
			require.NotZero(t, st.Evictions)
			t.Logf("evictions %d, stale windows seen %d", st.Evictions, stale)
		})
	}
}

// modelRange resolves Redis's range of indexes a..b (both included,
// negative from the end: LTRIM's, ZREMRANGEBYRANK's) over n elements to
// the slice bounds [s:e]; ok is false when it is empty. The model works it
// out on its own rather than with the assembler's rangeIndex.
func modelRange(a, b, n int) (s, e int, ok bool) {
	s, e = a, b
	if s < 0 {
		s += n
	}
	if e < 0 {
		e += n
	}
	s = max(s, 0)
	if s > e || s >= n {
		return 0, 0, false
	}
	return s, min(e+1, n), true
}
