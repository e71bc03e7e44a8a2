package assembler

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// checkInvariants verifies the assembler's bookkeeping: the totals are the
// sums over the keys, sorted sets are ordered and indexed, streams
// ordered.
func checkInvariants(t testing.TB, a *Assembler) {
	t.Helper()
	entries, nbytes := 0, int64(0)
	for k, s := range a.slots {
		if k != s.slotKey {
			t.Fatalf("slot %v under %v", s.slotKey, k)
		}
		v := s.val
		if v == nil {
			continue
		}
		entries += v.n
		nbytes += v.bytes + keyBytes(s)
		switch v.typ {
		case rdb.TypeZSet:
			if len(v.z.sorted) != len(v.z.byName) || len(v.z.sorted) != v.n {
				t.Fatalf("%q: %d sorted, %d by name, n %d", s.key, len(v.z.sorted), len(v.z.byName), v.n)
			}
			for i, m := range v.z.sorted {
				if v.z.byName[m.name] != m {
					t.Fatalf("%q: %q not indexed", s.key, m.name)
				}
				if i > 0 && !zless(v.z.sorted[i-1].score, v.z.sorted[i-1].name, m.score, m.name) {
					t.Fatalf("%q: out of order at %d", s.key, i)
				}
			}
		case rdb.TypeStream:
			for i := 1; i < len(v.s.entries); i++ {
				if v.s.entries[i-1].id.Compare(v.s.entries[i].id) >= 0 {
					t.Fatalf("%q: stream out of order", s.key)
				}
			}
		case rdb.TypeList:
			if len(v.list) != v.n {
				t.Fatalf("%q: list n", s.key)
			}
		}
	}
	if entries != a.entries || nbytes != a.bytes {
		t.Fatalf("totals %d/%d, sums %d/%d", a.entries, a.bytes, entries, nbytes)
	}
	if a.entries > a.cfg.MaxEntries {
		t.Fatalf("%d entries past the bound %d", a.entries, a.cfg.MaxEntries)
	}
}

// FuzzApply feeds random commands (one per line, arguments separated by
// NUL bytes) through monitor.AppendEvents to an assembler holding a small
// snapshot under tight bounds: nothing panics, the bookkeeping holds, and
// every message is valid JSON.
//
// The seed corpus (testdata/fuzz/FuzzApply) has a command of every typed
// view.
func FuzzApply(f *testing.F) {
	f.Add([]byte("ZADD\x00z\x00GT\x00CH\x003\x00a\nZREMRANGEBYRANK\x00z\x000\x00-2"))
	f.Add([]byte("RENAME\x00z\x00l\nLMOVE\x00l\x00z\x00LEFT\x00RIGHT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newClock()
		a, err := New(Config{
			Windows:    []Window{{Match: "d*", Limit: 2, DedupID: true, MaxAge: time.Hour}, {Match: "[a-x]*", Limit: 3}},
			MaxEntries: 24, MaxBytes: 4096, Interval: AtOnce, Clock: c.Now, MaxPending: 1, History: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		sink := &recSink{}
		if _, err := a.Subscribe(sink, []string{"*"}, -1); err != nil {
			t.Fatal(err)
		}
		fd := &feeder{t: t, a: a}
		fd.snapshot(
			zsetEntry("z", "a", 1, "b", 2, "c", 3, "d", 4),
			zsetEntry("d", `{"id":1}`, int(c.ms()), `{"id":1,"x":2}`, int(c.ms()+1)),
			&rdb.Entry{Key: []byte("l"), Type: rdb.TypeList, Elems: [][]byte{[]byte("a"), []byte("b")}, Last: true},
			&rdb.Entry{Key: []byte("h"), Type: rdb.TypeHash, Fields: []rdb.Field{{Name: []byte("f"), Value: []byte("1")}}, Last: true},
			&rdb.Entry{Key: []byte("s"), Type: rdb.TypeSet, Elems: [][]byte{[]byte("m")}, Last: true},
			&rdb.Entry{Key: []byte("t"), Type: rdb.TypeString, Str: []byte("7"), Last: true},
			&rdb.Entry{Key: []byte("x"), Type: rdb.TypeStream, Stream: &rdb.Stream{Entries: []rdb.StreamEntry{{ID: rdb.StreamID{Ms: 1}, Fields: [][]byte{[]byte("f"), []byte("v")}}}}, Last: true},
		)
		for i, line := range bytes.Split(data, []byte{'\n'}) {
			if i == 32 {
				break
			}
			args := bytes.Split(line, []byte{0})
			db := 0
			if len(line) > 0 && len(line)%2 == 1 {
				db = int(line[0] % 3)
			}
			fd.batch(monitor.AppendEvents(nil, db, args), i%3 == 2)
			sink.full = i%4 == 3
			c.Add(time.Minute)
			a.Tick()
			checkInvariants(t, a)
		}
		for _, m := range sink.msgs {
			if !json.Valid(m.Data) {
				t.Fatalf("invalid JSON %q", m.Data)
			}
		}
	})
}
