package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// committer owns checkpointing: it holds the position committed by the
// caller (or by Next) and saves it from one goroutine, at most every
// interval when it has changed, and once more on close.
type committer struct {
	ck       Checkpointer
	interval time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	committed Position

	saved Position // the last position saved: only run, then close, use it
}

// newCommitter returns a committer whose committed and saved position is
// start (the loaded checkpoint, or Config.Start).
func newCommitter(ck Checkpointer, interval time.Duration, log *slog.Logger, start Position) *committer {
	return &committer{ck: ck, interval: interval, log: log, committed: start, saved: start}
}

// commit makes p the committed position, unless p is zero or older than the
// committed position in the same history (same replication id, lower
// offset). Positions without a replication id (SYNC fallback) count their
// offsets from 0 in every session: they never count as older.
func (c *committer) commit(p Position) {
	if p.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.ReplID != "" && p.ReplID == c.committed.ReplID && p.Offset < c.committed.Offset {
		return
	}
	c.committed = p
}

// save stores the committed position if it differs from the last saved.
func (c *committer) save(ctx context.Context) error {
	c.mu.Lock()
	p := c.committed
	c.mu.Unlock()
	if p == c.saved {
		return nil
	}
	if err := c.ck.Save(ctx, p); err != nil {
		return err
	}
	c.saved = p
	return nil
}

// run saves every interval until ctx ends. A failed save is logged and
// retried at the next tick.
func (c *committer) run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.save(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("replica: checkpoint failed; retrying", "err", err)
		}
	}
}

// close saves the committed position a last time, once run has returned.
func (c *committer) close(ctx context.Context) error {
	if err := c.save(ctx); err != nil {
		c.log.Error("replica: final checkpoint failed", "err", err)
		return err
	}
	return nil
}

// Checkpointer stores the last position that is safe to resume from. A
// Replica calls Load from Dial, and Save from one background goroutine and
// then once from Close, never concurrently and with positions that do not
// go back within one replication id.
type Checkpointer interface {
	// Load returns the stored position: the zero Position and a nil error
	// when nothing is stored yet.
	Load(ctx context.Context) (Position, error)
	// Save stores p.
	Save(ctx context.Context, p Position) error
}

// FileCheckpointer keeps the position in a JSON file,
// {"replid":"...","offset":N} plus "db":N when the database is not 0.
// Save replaces the file atomically: it writes a temporary file in the same
// directory, fsyncs it, renames it over the file and fsyncs the directory,
// so a crash leaves either the old or the new position, never a torn file.
type FileCheckpointer struct {
	path string
	mu   sync.Mutex
}

type checkpointJSON struct {
	ReplID string `json:"replid"`
	Offset int64  `json:"offset"`
	DB     int    `json:"db,omitempty"`
}

// NewFileCheckpointer returns a checkpointer writing path. The directory
// must exist; the file need not.
func NewFileCheckpointer(path string) (*FileCheckpointer, error) {
	if path == "" {
		return nil, errors.New("replica: checkpoint path is empty")
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("replica: checkpoint directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("replica: checkpoint directory %s is not a directory", filepath.Dir(path))
	}
	return &FileCheckpointer{path: path}, nil
}

// Path returns the file's path.
func (f *FileCheckpointer) Path() string { return f.path }

// Load reads the file; a missing file yields the zero Position.
func (f *FileCheckpointer) Load(ctx context.Context) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("replica: load checkpoint: %w", err)
	}
	var c checkpointJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return Position{}, fmt.Errorf("replica: checkpoint %s: %w", f.path, err)
	}
	if err := validReplID(c.ReplID); err != nil {
		return Position{}, fmt.Errorf("replica: checkpoint %s: %w", f.path, err)
	}
	if c.Offset < 0 || c.DB < 0 {
		return Position{}, fmt.Errorf("replica: checkpoint %s: negative offset or db", f.path)
	}
	return Position(c), nil
}

// Save writes p atomically (see [FileCheckpointer]).
func (f *FileCheckpointer) Save(ctx context.Context, p Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(checkpointJSON(p))
	if err != nil {
		return fmt.Errorf("replica: save checkpoint: %w", err)
	}
	b = append(b, '\n')
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := writeFileAtomic(f.path, b); err != nil {
		return fmt.Errorf("replica: save checkpoint: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, b []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
