package replica

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
)

// recorder is a Checkpointer that records every Save and can fail some.
type recorder struct {
	mu    sync.Mutex
	saves []Position
	fail  int           // the next fail Saves fail
	saved chan Position // every successful Save, for waiting on it
}

func newRecorder() *recorder { return &recorder{saved: make(chan Position, 1<<16)} }

var errSave = errors.New("disk full")

func (c *recorder) Load(context.Context) (Position, error) { return Position{}, nil }

func (c *recorder) Save(_ context.Context, p Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return errSave
	}
	c.saves = append(c.saves, p)
	c.saved <- p
	return nil
}

func (c *recorder) Saves() []Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Position(nil), c.saves...)
}

// waitSave waits until p has been saved.
func (c *recorder) waitSave(t *testing.T, p Position) {
	t.Helper()
	ctx := testCtx(t)
	for {
		select {
		case got := <-c.saved:
			if got == p {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%v never saved; saves: %v", p, c.Saves())
		}
	}
}

func TestCommitterRules(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	c := newCommitter(newRecorder(), time.Hour, nil, Position{ReplID: a, Offset: 100})
	for _, tc := range []struct {
		commit, want Position
	}{
		{Position{}, Position{ReplID: a, Offset: 100}},                             // zero: ignored
		{Position{ReplID: a, Offset: 99, DB: 1}, Position{ReplID: a, Offset: 100}}, // older: ignored
		{Position{ReplID: a, Offset: 100, DB: 2}, Position{ReplID: a, Offset: 100, DB: 2}},
		{Position{ReplID: a, Offset: 150}, Position{ReplID: a, Offset: 150}},
		{Position{ReplID: b, Offset: 10}, Position{ReplID: b, Offset: 10}}, // another history
		{Position{Offset: 5}, Position{Offset: 5}},                         // SYNC fallback
		{Position{Offset: 3}, Position{Offset: 3}},                         // a later SYNC session
	} {
		c.commit(tc.commit)
		require.Equal(t, tc.want, c.committed, "after commit(%v)", tc.commit)
	}
}

// TestCheckpointAuto: without ManualCommit, each Next commits what was
// returned before it, and Close commits the last event.
func TestCheckpointAuto(t *testing.T) {
	ck := newRecorder()
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.Checkpointer = ck; c.CheckpointInterval = time.Millisecond })
	_, _, done := readSnapshot(t, r)
	require.Equal(t, Position{ReplID: m.ReplID()}, done.Pos)
	m.Propagate("SELECT", "2")
	m.Propagate("SET", "a", "1")
	m.Propagate("SET", "b", "2")
	c1 := nextCommand(t, r) // commits the snapshot
	ck.waitSave(t, done.Pos)
	c2 := nextCommand(t, r) // commits c1
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: c1.Offset, DB: 2}, c1.Pos)
	ck.waitSave(t, c1.Pos)
	require.NoError(t, r.Close()) // commits c2
	saves := ck.Saves()
	require.Equal(t, c2.Pos, saves[len(saves)-1])
	for i, p := range saves {
		require.Contains(t, []Position{done.Pos, c1.Pos, c2.Pos}, p)
		if i > 0 {
			require.Less(t, saves[i-1].Offset, p.Offset, "saves are monotonic and not repeated")
		}
	}
}

// TestCheckpointManualCommit: with ManualCommit only committed positions
// are saved, whatever Next returned.
func TestCheckpointManualCommit(t *testing.T) {
	ck := newRecorder()
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) {
		c.Checkpointer, c.CheckpointInterval, c.ManualCommit = ck, time.Millisecond, true
	})
	_, _, done := readSnapshot(t, r)
	m.Propagate("SET", "a", "1")
	m.Propagate("MULTI")
	m.Propagate("SET", "b", "2")
	m.Propagate("EXEC")
	m.Propagate("SET", "c", "3")
	c1 := nextCommand(t, r)
	tx := next(t, r).(*Transaction)
	require.Equal(t, c1.Offset, tx.Start)
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: tx.Offset}, tx.Pos)
	require.True(t, tx.Commands[0].Pos.IsZero(), "no position inside a transaction")
	c3 := nextCommand(t, r)

	r.Commit(tx.Pos)
	ck.waitSave(t, tx.Pos)
	r.Commit(c1.Pos)     // older: ignored
	r.Commit(done.Pos)   // older: ignored
	r.Commit(Position{}) // zero: ignored
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	require.Equal(t, []Position{tx.Pos}, ck.Saves(), "c3 was returned but never committed")
	r.Commit(c3.Pos) // after Close: nothing
	require.Equal(t, []Position{tx.Pos}, ck.Saves())
}

// TestCheckpointCloseSavesFinal: Close saves the last committed position,
// and reports a failed final save.
func TestCheckpointCloseSavesFinal(t *testing.T) {
	for _, manual := range []bool{false, true} {
		ck := newRecorder()
		m := fakemaster.Start(t, fakemaster.Options{})
		r := dial(t, m, func(c *Config) {
			c.Checkpointer, c.CheckpointInterval, c.ManualCommit = ck, time.Hour, manual
		})
		_, _, _ = readSnapshot(t, r)
		m.Propagate("SET", "a", "1")
		c := nextCommand(t, r)
		r.Commit(c.Pos)
		require.NoError(t, r.Close())
		require.Equal(t, []Position{c.Pos}, ck.Saves())
	}

	ck := newRecorder()
	ck.fail = 1
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.Checkpointer, c.CheckpointInterval = ck, time.Hour })
	_, _, _ = readSnapshot(t, r)
	require.ErrorIs(t, r.Close(), errSave)
	require.ErrorIs(t, r.Close(), errSave, "Close is idempotent")
	require.Empty(t, ck.Saves())
}

// TestCheckpointSaveRetried: a failed save is retried at the next tick.
func TestCheckpointSaveRetried(t *testing.T) {
	ck := newRecorder()
	ck.fail = 2
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) {
		c.Checkpointer, c.CheckpointInterval, c.ManualCommit = ck, time.Millisecond, true
	})
	_, _, done := readSnapshot(t, r)
	r.Commit(done.Pos)
	ck.waitSave(t, done.Pos)
	require.NoError(t, r.Close())
	require.Equal(t, []Position{done.Pos}, ck.Saves())
}

// TestCheckpointConcurrentCommit commits from many goroutines while the
// background goroutine saves: saves stay monotonic and Close saves the
// highest position.
func TestCheckpointConcurrentCommit(t *testing.T) {
	ck := newRecorder()
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) {
		c.Checkpointer, c.CheckpointInterval, c.ManualCommit = ck, time.Millisecond, true
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				r.Commit(Position{ReplID: m.ReplID(), Offset: int64(1 + i*8 + g)})
				_ = r.Position()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, r.Close())
	saves := ck.Saves()
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: 500 * 8}, saves[len(saves)-1])
	for i := 1; i < len(saves); i++ {
		require.Less(t, saves[i-1].Offset, saves[i].Offset)
	}
}

// TestCheckpointer resumes with a FileCheckpointer.
func TestCheckpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pos.json")
	ck, err := NewFileCheckpointer(path)
	require.NoError(t, err)
	m := fakemaster.Start(t, fakemaster.Options{})
	r := dial(t, m, func(c *Config) { c.Checkpointer = ck; c.CheckpointInterval = time.Hour })
	_, _, _ = readSnapshot(t, r)
	m.Propagate("SELECT", "2")
	off := m.Propagate("SET", "a", "1")
	nextCommand(t, r)
	require.NoError(t, r.Close())
	p, err := ck.Load(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: off, DB: 2}, p)

	// A new replica resumes from the file.
	off2 := m.Propagate("SET", "b", "2")
	r2 := dial(t, m, func(c *Config) { c.Checkpointer = ck; c.CheckpointInterval = time.Hour })
	s := next(t, r2).(*Sync)
	require.Equal(t, SyncContinue, s.Mode)
	require.Equal(t, off, s.Offset)
	require.Equal(t, p, s.Pos)
	c := nextCommand(t, r2)
	require.Equal(t, off2, c.Offset)
	require.Equal(t, 2, c.DB)
	require.NoError(t, r2.Close())
	p, err = ck.Load(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, Position{ReplID: m.ReplID(), Offset: off2, DB: 2}, p)
}
