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

// write writes ev and remembers its position, if it carries one.
func (f *flushCommitter) write(ev replica.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.w.Write(ev); err != nil {
		return err
	}
	if pos := replica.PosOf(ev); !pos.IsZero() {
		f.pos = pos
	}
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

// useCheckpoint makes cfg resume from the checkpoint file at path and save
// it there, committing only what the command commits itself
// (ManualCommit): what tap has flushed, what publish had acknowledged. It
// reports whether there was a position to resume from.
func useCheckpoint(ctx context.Context, cfg *replica.Config, path, cmd string, stderr io.Writer) (bool, error) {
	cp, err := replica.NewFileCheckpointer(path)
	if err != nil {
		return false, err
	}
	if cfg.Start, err = cp.Load(ctx); err != nil {
		return false, err
	}
	cfg.Checkpointer, cfg.ManualCommit, cfg.CheckpointInterval = cp, true, tapCheckpointInterval
	if cfg.Start.IsZero() {
		return false, nil
	}
	fmt.Fprintf(stderr, "redtap: %s: resuming from %v (%s)\n", cmd, cfg.Start, path)
	return true, nil
}
