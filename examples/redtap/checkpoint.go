package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/redtap/redtap/replica"
)

// flushCommitter is where the tap's output and its checkpoint meet: the tap
// loop writes events through it, and every flush of stdout hands the
// position of what was flushed to commit, so a checkpoint never claims
// output that is not out yet.
type flushCommitter struct {
	mu     sync.Mutex // the tap loop writes, the background loop flushes
	w      *tapWriter
	pos    replica.Position // of the last event written to w
	commit func(replica.Position)
}

// write writes ev; pos is the position after it.
func (f *flushCommitter) write(ev replica.Event, pos replica.Position) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.w.Write(ev); err != nil {
		return err
	}
	f.pos = pos
	return nil
}

// flush flushes the output and commits what it flushed.
func (f *flushCommitter) flush() error { return f.end(f.w.Flush) }

// close ends the output (see tapWriter.Close) and commits what it flushed.
func (f *flushCommitter) close() error { return f.end(f.w.Close) }

func (f *flushCommitter) end(flush func() error) error {
	f.mu.Lock()
	err := flush()
	pos := f.pos
	f.mu.Unlock()
	if err == nil {
		f.commit(pos)
	}
	return err
}

// run flushes every interval until ctx ends.
func (f *flushCommitter) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = f.flush() // the error sticks: the next write or close reports it
		}
	}
}

// fileCommitter keeps --checkpoint up to date until the replica does it
// itself (Config.Checkpointer with Config.ManualCommit, Replica.Commit):
// Commit takes the position of flushed output and saves it at most every
// tapCheckpointInterval, Close saves the last one. Switching means handing
// the FileCheckpointer to the replica and r.Commit to the flushCommitter.
type fileCommitter struct {
	cp     *replica.FileCheckpointer
	stderr io.Writer

	mu        sync.Mutex
	committed replica.Position
	saved     replica.Position
	lastSave  time.Time
}

// openCheckpoint returns the committer of a checkpoint file and the
// position it holds (zero when there is none yet).
func openCheckpoint(ctx context.Context, path string, stderr io.Writer) (*fileCommitter, replica.Position, error) {
	cp, err := replica.NewFileCheckpointer(path)
	if err != nil {
		return nil, replica.Position{}, err
	}
	pos, err := cp.Load(ctx)
	if err != nil {
		return nil, replica.Position{}, err
	}
	return &fileCommitter{cp: cp, stderr: stderr, saved: pos, lastSave: time.Now()}, pos, nil
}

// Commit takes pos, up to which the output is flushed; a failed save is
// reported on stderr and tried again with the next position.
func (c *fileCommitter) Commit(pos replica.Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committed = pos
	if time.Since(c.lastSave) < tapCheckpointInterval {
		return
	}
	c.lastSave = time.Now()
	if err := c.save(); err != nil {
		fmt.Fprintf(c.stderr, "redtap: tap: checkpoint: %v\n", err)
	}
}

// Close saves the last position committed.
func (c *fileCommitter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.save()
}

// save stores the committed position unless it is zero (mid-snapshot) or
// stored already.
func (c *fileCommitter) save() error {
	pos := c.committed
	if pos.IsZero() || pos == c.saved {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.cp.Save(ctx, pos); err != nil {
		return err
	}
	c.saved = pos
	return nil
}
