package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Checkpointer stores the last position that is safe to resume from. The
// replica calls Save from Next and from Close, possibly concurrently with
// each other; implementations must be safe for concurrent use.
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
