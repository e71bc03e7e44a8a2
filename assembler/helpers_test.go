package assembler

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/stretchr/testify/require"
)

// fakeClock is the injected clock of the tests.
type fakeClock struct{ t time.Time }

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_733_130_000_000)} }

func (c *fakeClock) Now() time.Time      { return c.t }
func (c *fakeClock) Add(d time.Duration) { c.t = c.t.Add(d) }
func (c *fakeClock) ms() int64           { return c.t.UnixMilli() }

// recSink records what it is sent; while full it refuses.
type recSink struct {
	msgs []Message
	full bool
}

func (s *recSink) Send(m Message) bool {
	if s.full {
		return false
	}
	s.msgs = append(s.msgs, m)
	return true
}

func (s *recSink) take() []Message {
	m := s.msgs
	s.msgs = nil
	return m
}

// feeder builds monitor batches with growing offsets.
type feeder struct {
	t     testing.TB
	a     *Assembler
	off   int64
	stage bool // Stage instead of Apply
}

func (f *feeder) batch(evs []monitor.Event, tx bool) {
	f.off += 10
	for i := range evs {
		evs[i].Offset = f.off
	}
	b := &monitor.Batch{Events: evs, Offset: f.off, Tx: tx}
	if f.stage {
		f.a.Stage(b)
		return
	}
	f.a.Apply(b)
}

// cmd applies one command in database 0.
func (f *feeder) cmd(args ...string) { f.cmdDB(0, args...) }

func (f *feeder) cmdDB(db int, args ...string) {
	f.batch(monitor.AppendEvents(nil, db, bargs(args)), false)
}

// tx applies commands as one MULTI/EXEC batch.
func (f *feeder) tx(cmds ...[]string) {
	var evs []monitor.Event
	for _, c := range cmds {
		evs = monitor.AppendEvents(evs, 0, bargs(c))
	}
	f.batch(evs, true)
}

func bargs(args []string) [][]byte {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return b
}

// snapshot applies a Reset, the entries, and SnapshotDone.
func (f *feeder) snapshot(entries ...*rdb.Entry) {
	f.off += 100
	f.a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindReset, Offset: f.off}}, Offset: f.off})
	for _, en := range entries {
		f.a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindSnapshotKey, Key: en.Key, DB: en.DB, Type: en.Type, Entry: en, Offset: f.off}}, Offset: f.off})
	}
	f.a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindSnapshotDone, Offset: f.off}}, Offset: f.off})
}

func zsetEntry(key string, kv ...any) *rdb.Entry {
	en := &rdb.Entry{Key: []byte(key), Type: rdb.TypeZSet, Last: true, Expire: -1}
	for i := 0; i+1 < len(kv); i += 2 {
		en.Members = append(en.Members, rdb.Member{Name: []byte(kv[i].(string)), Score: float64(kv[i+1].(int))})
	}
	return en
}

// view is a browser: it applies messages by the JSON rules.
type view struct {
	offset  int64
	lastID  int64
	windows map[string]*vwin // "db/key"
}

type vwin struct {
	typ     string
	stale   bool
	entries map[string]json.RawMessage
}

type wireEntry struct {
	ID    string          `json:"id"`
	Score *float64        `json:"score"`
	Value json.RawMessage `json:"value"`
}

func newView() *view { return &view{windows: map[string]*vwin{}, lastID: -1} }

func (v *view) apply(t testing.TB, m Message) {
	t.Helper()
	if m.Event == "updates" {
		require.GreaterOrEqual(t, m.ID, v.lastID, "IDs grow")
	} else {
		require.Greater(t, m.ID, v.lastID, "IDs grow")
	}
	v.lastID = m.ID
	switch m.Event {
	case "updates":
		var u struct {
			Offset  int64 `json:"offset"`
			Windows []struct {
				DB      int               `json:"db"`
				Key     string            `json:"key"`
				Type    string            `json:"type"`
				Stale   bool              `json:"stale"`
				Entries []json.RawMessage `json:"entries"`
			} `json:"windows"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &u), "%s", m.Data)
		v.offset = u.Offset
		v.windows = map[string]*vwin{}
		for _, w := range u.Windows {
			vw := &vwin{typ: w.Type, stale: w.Stale, entries: map[string]json.RawMessage{}}
			for _, e := range w.Entries {
				var we wireEntry
				require.NoError(t, json.Unmarshal(e, &we))
				vw.entries[we.ID] = e
			}
			if len(vw.entries) > 0 || vw.stale {
				v.windows[fmt.Sprintf("%d/%s", w.DB, w.Key)] = vw
			}
		}
	case "dUpdates":
		var d struct {
			Offset int64 `json:"offset"`
			Deltas []struct {
				DB    int               `json:"db"`
				Key   string            `json:"key"`
				Type  string            `json:"type"`
				Clear *bool             `json:"clear"`
				Stale bool              `json:"stale"`
				Del   []string          `json:"del"`
				Set   []json.RawMessage `json:"set"`
			} `json:"deltas"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &d), "%s", m.Data)
		require.NotEmpty(t, d.Deltas)
		v.offset = d.Offset
		for _, dl := range d.Deltas {
			require.NotNil(t, dl.Clear)
			k := fmt.Sprintf("%d/%s", dl.DB, dl.Key)
			w := v.windows[k]
			if w == nil || *dl.Clear {
				w = &vwin{entries: map[string]json.RawMessage{}}
				v.windows[k] = w
			}
			w.typ, w.stale = dl.Type, dl.Stale
			for _, id := range dl.Del {
				delete(w.entries, id)
			}
			for _, e := range dl.Set {
				var we wireEntry
				require.NoError(t, json.Unmarshal(e, &we))
				w.entries[we.ID] = e
			}
			if len(w.entries) == 0 && !w.stale {
				delete(v.windows, k) // as good as none
			}
		}
	default:
		t.Fatalf("event %q", m.Event)
	}
}

func (v *view) applyAll(t testing.TB, ms []Message) {
	t.Helper()
	for _, m := range ms {
		v.apply(t, m)
	}
}

// values lists a window's entry values in score (then id) order, as
// "id=value" for entries with a string value.
func (v *view) values(key string) []string {
	w := v.windows["0/"+key]
	if w == nil {
		return nil
	}
	type row struct {
		s  float64
		id string
		v  string
	}
	var rows []row
	for id, raw := range w.entries {
		var we wireEntry
		_ = json.Unmarshal(raw, &we)
		r := row{id: id}
		if we.Score != nil {
			r.s = *we.Score
		}
		var s string
		if json.Unmarshal(we.Value, &s) == nil {
			r.v = s
		} else {
			r.v = string(we.Value)
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].s != rows[j].s {
			return rows[i].s < rows[j].s
		}
		return rows[i].id < rows[j].id
	})
	out := []string{}
	for _, r := range rows {
		if r.id == r.v {
			out = append(out, r.v)
		} else {
			out = append(out, r.id+"="+r.v)
		}
	}
	return out
}

func (v *view) keys() string {
	var ks []string
	for k, w := range v.windows {
		s := k
		if w.stale {
			s += "(stale)"
		}
		ks = append(ks, s)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// rig is an assembler with a clock, a feeder and one viewer.
type rig struct {
	t    *testing.T
	a    *Assembler
	c    *fakeClock
	f    *feeder
	sink *recSink
	sub  *Subscription
	v    *view
}

func newRig(t *testing.T, cfg Config, patterns ...string) *rig {
	t.Helper()
	c := newClock()
	cfg.Clock = c.Now
	a, err := New(cfg)
	require.NoError(t, err)
	r := &rig{t: t, a: a, c: c, f: &feeder{t: t, a: a}, sink: &recSink{}, v: newView()}
	r.sub, err = a.Subscribe(r.sink, patterns, -1)
	require.NoError(t, err)
	return r
}

// sync applies what the viewer got.
func (r *rig) sync() {
	r.t.Helper()
	r.v.applyAll(r.t, r.sink.take())
}

// tick advances the clock by the interval, ticks and syncs.
func (r *rig) tick() {
	r.t.Helper()
	r.c.Add(time.Second)
	r.a.Tick()
	r.sync()
}

func mathInf(sign int) float64 { return math.Inf(sign) }

// slowReset is the Reset batch of the monitor's Reset policy.
func slowReset() *monitor.Batch {
	return &monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindReset, Err: monitor.ErrSlowSubscriber}}}
}
