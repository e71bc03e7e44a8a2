package jetstreamtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/jetstream"
)

// Replayer rebuilds a Redis dataset on an empty target server from the
// messages of a redtap stream, as jetstream.Consume hands them over: a
// reset marker empties the target, snapshot keys are written, and every
// command is replayed once (from the first message of its command offset).
// It also checks that no message id arrives twice. Its methods are safe
// for concurrent use.
type Replayer struct {
	mu       sync.Mutex
	a        *oracle.Applier
	ids      map[publish.ID]bool
	dups     []publish.ID
	lastCmd  publish.ID // replid and command offset of the last command replayed
	fence    []byte
	messages int
	resets   int
}

// NewReplayer connects to the target at addr.
func NewReplayer(ctx context.Context, addr string) (*Replayer, error) {
	a, err := oracle.NewApplier(ctx, addr, oracle.ApplierOptions{})
	if err != nil {
		return nil, err
	}
	return &Replayer{a: a, ids: map[publish.ID]bool{}}, nil
}

// Apply replays one message.
func (r *Replayer) Apply(m *jetstream.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages++
	if r.ids[m.ID] {
		r.dups = append(r.dups, m.ID)
	}
	r.ids[m.ID] = true
	rec, err := jsonl.Decode(m.Body)
	if err != nil {
		return fmt.Errorf("message %d (%v): %w", m.Seq, m.ID, err)
	}
	switch m.Kind {
	case monitor.KindReset:
		r.a.Reset()
		r.resets++
		r.lastCmd = publish.ID{}
	case monitor.KindSnapshotKey:
		return r.a.Record(rec.Entry)
	case monitor.KindChange, monitor.KindDBChange:
		cmd := publish.ID{ReplID: m.ID.ReplID, Offset: rec.Offset}
		if cmd == r.lastCmd {
			return nil // another key of the same command
		}
		r.lastCmd = cmd
		r.a.Command(rec.DB, rec.Args)
		if len(rec.Args) >= 3 && bytes.EqualFold(rec.Args[0], []byte("SET")) && string(rec.Args[1]) == oracle.FenceKey {
			r.fence = append(r.fence[:0], rec.Args[2]...)
		}
	}
	return nil
}

// Fence returns the value of the last fence written (see oracle.Workload.Fence).
func (r *Replayer) Fence() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.fence)
}

// Duplicates returns the ids that arrived more than once.
func (r *Replayer) Duplicates() []publish.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]publish.ID(nil), r.dups...)
}

// Resets counts the reset markers applied.
func (r *Replayer) Resets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resets
}

// Messages counts the messages applied.
func (r *Replayer) Messages() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.messages
}

// Close flushes what is buffered to the target and returns the error
// replies it got, then closes the connection.
func (r *Replayer) Close(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.a.Flush(ctx)
	errs := r.a.Errors()
	if cerr := r.a.Close(); err == nil {
		err = cerr
	}
	return errs, err
}
