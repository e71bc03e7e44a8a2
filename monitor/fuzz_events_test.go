package monitor

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/redtap/redtap/replica"
)

// FuzzEvents feeds random commands (arguments separated by NUL bytes)
// through the event builder and through a monitor with two subscribers:
// nothing panics, the events satisfy checkEvents, and what a subscriber
// receives is the builder's events, in a copy of the arguments.
//
// The seed corpus (testdata/fuzz/FuzzEvents) holds a command of every typed
// view, propagated forms and malformed variants.
func FuzzEvents(f *testing.F) {
	f.Add([]byte("SET\x00k\x00v\x00PXAT\x001700000000000"), 0)
	f.Add([]byte("MSET\x00a\x001\x00b\x002"), 3)
	f.Fuzz(func(t *testing.T, data []byte, db int) {
		if db < 0 || db > 1<<20 {
			return
		}
		args := bytes.Split(data, []byte{0})
		evs := AppendEvents(nil, db, args)
		checkEvents(t, db, args, evs)

		// Through a monitor: the source reuses its buffers, so the
		// arguments are scribbled over after Next; what the subscribers
		// got must not change.
		src := &scribbleSource{cmd: replica.Command{DB: db, Args: cloneArgs(args), Offset: 1}}
		m, err := New(src)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		all, err := m.Subscribe(Filter{})
		if err != nil {
			t.Fatal(err)
		}
		some, err := m.Subscribe(Filter{Match: []string{"[a-m]*"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var want []string
		for i := range evs {
			want = append(want, describe(&evs[i]))
		}
		got := drain(t, ctx, all)
		if len(want) > 0 && len(got) == 0 {
			t.Fatalf("no batch for %q", args)
		}
		for _, b := range got {
			var d []string
			for i := range b.Events {
				e := &b.Events[i]
				d = append(d, describe(e))
				if len(e.Args) > 0 && len(args) > 0 && &e.Args[0] == &src.cmd.Args[0] {
					t.Fatal("the batch aliases the source's arguments")
				}
			}
			if len(d) != len(want) {
				t.Fatalf("got %q, want %q", d, want)
			}
			for i := range d {
				if d[i] != want[i] {
					t.Fatalf("event %d: got %q, want %q", i, d[i], want[i])
				}
			}
		}
		for _, b := range drain(t, ctx, some) {
			for _, e := range b.Events {
				if e.Kind == KindChange && (len(e.Key) == 0 || e.Key[0] < 'a' || e.Key[0] > 'm') {
					t.Fatalf("key %q passed [a-m]*", e.Key)
				}
			}
		}
	})
}

// drain reads a subscriber to io.EOF, keeping copies of the descriptions
// in batches that stay valid (the events are copied).
func drain(t *testing.T, ctx context.Context, s *Subscriber) []*Batch {
	t.Helper()
	var out []*Batch
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c := *b
		c.Events = append([]Event(nil), b.Events...)
		for i := range c.Events {
			e := &c.Events[i]
			args := cloneArgs(e.Args)
			if e.Kind == KindChange || e.Kind == KindDBChange {
				e.bind(args)
			}
		}
		out = append(out, &c)
	}
}

func cloneArgs(args [][]byte) [][]byte {
	c := make([][]byte, len(args))
	for i, a := range args {
		c[i] = append([]byte{}, a...)
	}
	return c
}

// scribbleSource delivers one command, then overwrites its arguments (as a
// replica reusing its buffers would) and ends.
type scribbleSource struct {
	cmd  replica.Command
	done bool
}

func (s *scribbleSource) Next(context.Context) (replica.Event, error) {
	if !s.done {
		s.done = true
		return &s.cmd, nil
	}
	for _, a := range s.cmd.Args {
		for i := range a {
			a[i] = '#'
		}
	}
	return nil, io.EOF
}
