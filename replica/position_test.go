package replica

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPosition(t *testing.T) {
	id := strings.Repeat("a1", 20)
	for _, tc := range []struct {
		p Position
		s string
	}{
		{Position{ReplID: id, Offset: 12}, id + ":12"},
		{Position{ReplID: id, Offset: 12, DB: 3}, id + ":12:3"},
		{Position{Offset: 7}, ":7"},
		{Position{}, ":0"},
	} {
		require.Equal(t, tc.s, tc.p.String())
		p, err := ParsePosition(tc.s)
		require.NoError(t, err)
		require.Equal(t, tc.p, p)
	}
	for _, bad := range []string{"", "x", id, id + ":", id + ":-1", id + ":1:-2", id + ":1:2:3", "abc:1", strings.Repeat("zz", 20) + ":1"} {
		_, err := ParsePosition(bad)
		require.Errorf(t, err, "%q", bad)
	}
	require.True(t, Position{}.IsZero())
	require.False(t, Position{DB: 1}.IsZero())
	require.Equal(t, -1, Position{ReplID: id, Offset: 1}.Compare(Position{Offset: 2}))
	require.Equal(t, 0, Position{ReplID: id, Offset: 2}.Compare(Position{Offset: 2, DB: 4}))
	require.Equal(t, 1, Position{Offset: 3}.Compare(Position{Offset: 2}))
}

func TestFileCheckpointer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pos.json")
	ck, err := NewFileCheckpointer(path)
	require.NoError(t, err)
	require.Equal(t, path, ck.Path())
	p, err := ck.Load(testCtx(t))
	require.NoError(t, err)
	require.True(t, p.IsZero(), "no file yet")

	want := Position{ReplID: strings.Repeat("0f", 20), Offset: 42}
	require.NoError(t, ck.Save(testCtx(t), want))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, `{"replid":"`+want.ReplID+`","offset":42}`+"\n", string(b))
	p, err = ck.Load(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, want, p)

	// Concurrent saves leave one complete file and no temporary files.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, ck.Save(testCtx(t), Position{ReplID: want.ReplID, Offset: int64(i), DB: i % 3}))
		}()
	}
	wg.Wait()
	p, err = ck.Load(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, p.Offset%3, int64(p.DB))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	for _, bad := range []string{"{", `{"replid":"x","offset":1}`, `{"replid":"","offset":-1}`} {
		require.NoError(t, os.WriteFile(path, []byte(bad), 0o600))
		_, err := ck.Load(testCtx(t))
		require.Errorf(t, err, "%s", bad)
	}
	_, err = NewFileCheckpointer(filepath.Join(dir, "missing", "pos.json"))
	require.Error(t, err)
	_, err = NewFileCheckpointer("")
	require.Error(t, err)
}

func TestPosOf(t *testing.T) {
	p := Position{ReplID: "8de1e2a5c5b6d4c7a7e0e1f2a3b4c5d6e7f80912", Offset: 42, DB: 1}
	for _, ev := range []Event{&Sync{Mode: SyncContinue, Pos: p}, &SnapshotDone{Pos: p}, &Command{Pos: p}, &Transaction{Pos: p}} {
		require.Equal(t, p, PosOf(ev), "%T", ev)
	}
	for _, ev := range []Event{&Sync{Mode: SyncFull}, &SnapshotRecord{}, &Disconnected{}, &Command{}} {
		require.True(t, PosOf(ev).IsZero(), "%T", ev)
	}
}
