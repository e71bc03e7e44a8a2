package monitor

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// memSource delivers prepared events like a replica does: each event's
// slices are scratch copies that the next call overwrites, so a monitor
// that keeps them instead of copying sees garbage. After the last event it
// returns io.EOF, or with block set waits for ctx.
type memSource struct {
	events []replica.Event
	block  bool

	mu      sync.Mutex
	reads   int                // events returned
	scratch []replica.Event    // the copy handed out last
	commits []replica.Position // with committer: what Commit got
}

func (s *memSource) Next(ctx context.Context) (replica.Event, error) {
	s.mu.Lock()
	for _, ev := range s.scratch {
		scribble(ev)
	}
	s.scratch = s.scratch[:0]
	if s.reads >= len(s.events) {
		s.mu.Unlock()
		if !s.block {
			return nil, io.EOF
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ev := cloneEvent(s.events[s.reads])
	s.scratch = append(s.scratch, ev)
	s.reads++
	s.mu.Unlock()
	return ev, nil
}

func (s *memSource) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// committingSource is a memSource that takes commits.
type committingSource struct{ memSource }

func (s *committingSource) Commit(p replica.Position) {
	s.mu.Lock()
	s.commits = append(s.commits, p)
	s.mu.Unlock()
}

func (s *committingSource) Commits() []replica.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]replica.Position(nil), s.commits...)
}

func cloneEvent(ev replica.Event) replica.Event {
	switch e := ev.(type) {
	case *replica.Command:
		c := *e
		c.Args = cloneArgs(e.Args)
		return &c
	case *replica.Transaction:
		c := *e
		c.Commands = make([]replica.Command, len(e.Commands))
		for i, cmd := range e.Commands {
			cmd.Args = cloneArgs(cmd.Args)
			c.Commands[i] = cmd
		}
		return &c
	case *replica.SnapshotRecord:
		if en, ok := e.Record.(*rdb.Entry); ok {
			c := *en
			c.Key = append([]byte(nil), en.Key...)
			c.Str = append([]byte(nil), en.Str...)
			c.Elems = cloneArgs(en.Elems)
			return &replica.SnapshotRecord{Record: &c}
		}
	}
	return ev
}

// scribble overwrites what a replica would reuse.
func scribble(ev replica.Event) {
	fill := func(args [][]byte) {
		for _, a := range args {
			for i := range a {
				a[i] = '#'
			}
		}
	}
	switch e := ev.(type) {
	case *replica.Command:
		fill(e.Args)
	case *replica.Transaction:
		for _, c := range e.Commands {
			fill(c.Args)
		}
	case *replica.SnapshotRecord:
		if en, ok := e.Record.(*rdb.Entry); ok {
			fill([][]byte{en.Key, en.Str})
			fill(en.Elems)
		}
	}
}

func command(db int, off int64, args ...string) *replica.Command {
	return &replica.Command{DB: db, Args: bargs(args...), Offset: off,
		Pos: replica.Position{ReplID: testReplID, Offset: off, DB: db}}
}

const testReplID = "0123456789abcdef0123456789abcdef01234567"

// workload returns a stream: a full sync, a snapshot of keys in several
// families, types and databases, then n commands (some in transactions),
// including db-wide ones, with growing offsets.
func workload(n int) []replica.Event {
	evs := []replica.Event{&replica.Sync{Mode: replica.SyncFull, ReplID: testReplID, Offset: 100}}
	for i := 0; i < 12; i++ {
		e := &rdb.Entry{DB: i % 3, Key: []byte(fmt.Sprintf("%s:%d", []string{"a", "b", "c"}[i%3], i)),
			Chunk: 0, Last: true, Expire: -1}
		if i%2 == 0 {
			e.Type, e.Str = rdb.TypeString, []byte(fmt.Sprint("v", i))
		} else {
			e.Type, e.Elems = rdb.TypeSet, bargs("x", "y")
		}
		evs = append(evs, &replica.SnapshotRecord{Record: e})
	}
	evs = append(evs, &replica.SnapshotRecord{Record: &rdb.Aux{Key: []byte("redis-ver"), Value: []byte("7.0.15")}})
	off := int64(100)
	evs = append(evs, &replica.SnapshotDone{Offset: off, Keys: 12, Pos: replica.Position{ReplID: testReplID, Offset: off}})
	for i := 0; i < n; i++ {
		db := i % 3
		k := func(f string, j int) string { return fmt.Sprintf("%s:%d", f, (i+j)%17) }
		off += 40
		var c replica.Event
		switch i % 11 {
		case 0:
			c = command(db, off, "SET", k("a", 0), "v")
		case 1:
			c = command(db, off, "HSET", k("b", 0), "f", "v")
		case 2:
			c = command(db, off, "MSET", k("a", 1), "1", k("b", 2), "2", k("c", 3), "3")
		case 3:
			c = command(db, off, "DEL", k("c", 0), k("a", 5))
		case 4:
			c = command(db, off, "SADD", k("c", 1), "m")
		case 5:
			t := &replica.Transaction{DB: db, Start: off - 40, Offset: off,
				Pos: replica.Position{ReplID: testReplID, Offset: off, DB: (db + 1) % 3}}
			t.Commands = []replica.Command{
				*command(db, off-30, "INCR", k("a", 2)),
				*command(db, off-20, "RPUSH", k("b", 3), "x", "y"),
				*command((db+1)%3, off-10, "ZADD", k("c", 4), "1", "m"),
			}
			c = t
		case 6:
			c = command(db, off, "RENAME", k("a", 6), k("b", 7))
		case 7:
			c = command(db, off, "MOVE", k("b", 1), fmt.Sprint((db+1)%3))
		case 8:
			if i%22 == 8 {
				c = command(db, off, "SWAPDB", "1", "2")
			} else {
				c = command(db, off, "FLUSHDB")
			}
		case 9:
			c = command(db, off, "PUBLISH", "ch", "m") // no keys: no batch
		default:
			c = command(db, off, "SUNIONSTORE", k("c", 0), k("c", 1), k("c", 2))
		}
		evs = append(evs, c)
		if i%13 == 12 {
			evs = append(evs, &replica.Disconnected{}, &replica.Sync{Mode: replica.SyncContinue, Offset: off,
				Pos: replica.Position{ReplID: testReplID, Offset: off, DB: db}})
		}
	}
	return evs
}

// got is a batch as a subscriber received it, described.
type got struct {
	offset int64
	tx     bool
	pos    replica.Position
	events []string
}

func (g got) String() string {
	return fmt.Sprintf("@%d tx=%v pos=%v %s", g.offset, g.tx, g.pos, strings.Join(g.events, "; "))
}

func describeBatch(b *Batch) got {
	g := got{offset: b.Offset, tx: b.Tx, pos: b.Pos}
	for i := range b.Events {
		e := &b.Events[i]
		d := describe(e)
		switch e.Kind {
		case KindSnapshotKey:
			d += fmt.Sprintf(" %s@%d:%v:%q%q", e.Key, e.DB, e.Entry.Type, e.Entry.Str, e.Entry.Elems)
		case KindChange, KindDBChange:
			d += fmt.Sprintf(" @%d tx=%v db=%d args=%q", e.Offset, e.Tx, e.DB, e.Args)
		}
		g.events = append(g.events, d)
	}
	return g
}

// collect reads s until io.EOF (or err), describing every batch.
func collect(t testing.TB, ctx context.Context, s *Subscriber) ([]got, error) {
	var out []got
	for {
		b, err := s.Next(ctx)
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		out = append(out, describeBatch(b))
	}
}
