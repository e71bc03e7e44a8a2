package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redtap/redtap/replica"
)

// Checkpoint is what a tap saves: every shard's position at one cut of the
// merged stream. Offset is the merged offset of that cut, so that the
// merged offsets go on growing after a restart.
type Checkpoint struct {
	Offset int64                `json:"offset"`
	Shards map[string]ShardMark `json:"shards"`
}

// ShardMark is one shard's entry of a Checkpoint: its position, and the
// node ids known to belong to it (how the shard is found again when the
// server has no shard ids).
type ShardMark struct {
	ReplID string   `json:"replid"`
	Offset int64    `json:"offset"`
	DB     int      `json:"db,omitempty"`
	Nodes  []string `json:"nodes,omitempty"`
}

// Pos returns the mark's position.
func (m ShardMark) Pos() replica.Position {
	return replica.Position{ReplID: m.ReplID, Offset: m.Offset, DB: m.DB}
}

// Checkpointer stores a Checkpoint. A Tap calls Load from Dial, and Save
// from one goroutine at a time.
type Checkpointer interface {
	// Load returns the stored checkpoint, or a zero Checkpoint and a nil
	// error when nothing is stored yet.
	Load(ctx context.Context) (Checkpoint, error)
	Save(ctx context.Context, c Checkpoint) error
}

// FileCheckpointer keeps the checkpoint in a JSON file. Save writes a
// temporary file in the same directory, fsyncs it, renames it over the file
// and fsyncs the directory: a crash leaves the old set of positions or the
// new one, never a mix.
type FileCheckpointer struct{ path string }

// NewFileCheckpointer returns a checkpointer writing path. Its directory
// must exist.
func NewFileCheckpointer(path string) (*FileCheckpointer, error) {
	if path == "" {
		return nil, errors.New("cluster: empty checkpoint path")
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("cluster: checkpoint directory of %s: %w", path, errors.Join(err, os.ErrNotExist))
	}
	return &FileCheckpointer{path: path}, nil
}

// Path returns the file's path.
func (f *FileCheckpointer) Path() string { return f.path }

// Load reads the file; a missing file yields a zero Checkpoint.
func (f *FileCheckpointer) Load(ctx context.Context) (Checkpoint, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("cluster: load checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return Checkpoint{}, fmt.Errorf("cluster: load checkpoint %s: %w", f.path, err)
	}
	return c, nil
}

// Save writes c atomically.
func (f *FileCheckpointer) Save(ctx context.Context, c Checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(f.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cluster: save checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err == nil {
		if d, derr := os.Open(dir); derr == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: save checkpoint: %w", err)
	}
	return nil
}
