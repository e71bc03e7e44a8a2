package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
	"github.com/redtap/redtap/replica"
)

// buildRedtap builds this command into a temporary directory.
func buildRedtap(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "redtap")
	msg, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", msg)
	return bin
}

// tapProc is `redtap tap` running as a child process, stdout to a file.
type tapProc struct {
	cmd    *exec.Cmd
	out    string
	stderr *syncbuf.Buffer
	done   chan error
}

func startTapProc(t *testing.T, bin, out string, args ...string) *tapProc {
	t.Helper()
	f, err := os.Create(out)
	require.NoError(t, err)
	p := &tapProc{cmd: exec.Command(bin, append([]string{"tap"}, args...)...), out: out, stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stdout = f
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	f.Close()
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill() //nolint:errcheck
		<-p.done
		p.done <- nil
	})
	return p
}

// signal sends sig and waits for the process to end.
func (p *tapProc) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(time.Minute):
		t.Fatalf("tap did not exit on %v; stderr:\n%s", sig, p.stderr.String())
		return nil
	}
}

func loadCheckpoint(t *testing.T, ctx context.Context, path string) replica.Position {
	t.Helper()
	fc, err := replica.NewFileCheckpointer(path)
	require.NoError(t, err)
	pos, err := fc.Load(ctx)
	require.NoError(t, err)
	return pos
}

// TestTapKillResume is acceptance 2's restart test: the tap process is
// SIGKILLed in the middle of a stream of numbered writes and restarted with
// its checkpoint: the second run starts with a "continue" sync at the
// checkpoint, writes no snapshot, and the writes it delivers are exactly
// the ones after the checkpoint. Together with the first run's lines up to
// the checkpoint they are every write once, in order. Everything the
// checkpoint claims was in the first run's output (stdout is flushed before
// each save).
func TestTapKillResume(t *testing.T) {
	ctx := tapTestCtx(t)
	bin := buildRedtap(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	// Numbered writes in db 2, noise in db 0 between them: the checkpoint
	// must carry the selected database across the restart.
	mc := redis.NewClient(&redis.Options{Addr: m.Addr, DB: 2, Protocol: 2, DisableIdentity: true})
	defer mc.Close()
	noise := m.Client()
	dir := t.TempDir()
	cp := filepath.Join(dir, "cp.json")
	const key = "seq:log"
	sw := &oracle.SeqWriter{Key: key}
	require.NoError(t, sw.Write(ctx, mc, 100)) // in the snapshot

	p1 := startTapProc(t, bin, filepath.Join(dir, "out1"), "--addr", m.Addr, "--checkpoint", cp)
	waitLines(t, ctx, p1.out, "snapshot", func(l []tapLine) bool { return len(l) > 0 })
	// Write until a checkpoint past the snapshot exists, then some more,
	// and kill the tap while it is busy.
	for {
		require.NoError(t, noise.Incr(ctx, "noise").Err())
		require.NoError(t, sw.Write(ctx, mc, 200))
		if pos := loadCheckpoint(t, ctx, cp); pos.Offset > 0 && len(seqs(t, readTapLines(t, p1.out), key, pos.Offset)) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, sw.Write(ctx, mc, 500))
	err := p1.signal(t, syscall.SIGKILL)
	require.Error(t, err, "killed")
	pos := loadCheckpoint(t, ctx, cp)
	lines1 := readTapLines(t, p1.out)
	require.Equal(t, "full", lines1[0].Mode)
	before := seqs(t, lines1, key, pos.Offset)
	require.NotEmpty(t, before)
	require.NoError(t, oracle.CheckSeq(before, 101, before[len(before)-1]), "first run, up to the checkpoint")
	redelivered := seqs(t, lines1, key, -1)[len(before):]

	require.NoError(t, sw.Write(ctx, mc, 300)) // while no tap runs
	p2 := startTapProc(t, bin, filepath.Join(dir, "out2"), "--addr", m.Addr, "--checkpoint", cp)
	require.NoError(t, sw.Write(ctx, mc, 300))
	require.NoError(t, noise.Incr(ctx, "noise").Err())
	require.NoError(t, sw.Write(ctx, mc, 300))
	last := sw.Last()
	lines2 := waitLines(t, ctx, p2.out, "last write", hasSeq(t, key, last))
	require.NoError(t, p2.signal(t, syscall.SIGTERM), "stderr: %s", p2.stderr.String())

	require.Equal(t, "sync", lines2[0].Kind)
	require.Equal(t, "continue", lines2[0].Mode, "resumed with +CONTINUE")
	require.Equal(t, pos.Offset, lines2[0].Offset)
	require.Equal(t, pos.ReplID, lines2[0].ReplID)
	for _, l := range lines2 {
		require.NotEqual(t, "key", l.Kind, "no second snapshot")
		if l.Kind == "sync" {
			require.Equal(t, "continue", l.Mode)
		}
	}
	for _, l := range append(lines1, lines2...) {
		if n, ok := oracle.SeqOf(key, l.args(t)); ok && l.Kind == "cmd" {
			require.Equal(t, 2, l.DB, "write %d", n)
		}
	}
	after := seqs(t, lines2, key, -1)
	require.NoError(t, oracle.CheckSeq(after, before[len(before)-1]+1, last), "second run: exactly the writes after the checkpoint")
	require.Equal(t, redelivered, after[:len(redelivered)], "lines past the checkpoint are delivered again, nothing else")
	final := loadCheckpoint(t, ctx, cp)
	require.Equal(t, lines2[len(lines2)-1].Offset, final.Offset, "SIGTERM saves the last line's position")
	t.Logf("checkpoint at kill %v: %d writes before it, %d written again after it; second run delivered %d writes (%d..%d)",
		pos, len(before), len(redelivered), len(after), after[0], last)
}

// TestTapFailoverRestart: the tap stops (SIGTERM) while following master
// M; replica R is promoted; the tap restarted with --addr R and the same
// checkpoint continues with +CONTINUE (PSYNC2, replid2), no snapshot, and
// delivers the writes made on R.
func TestTapFailoverRestart(t *testing.T) {
	ctx := tapTestCtx(t)
	bin := buildRedtap(t)
	args := []string{"--repl-diskless-sync-delay", "0"}
	m := redistest.Start(t, redistest.Options{Args: args})
	r := redistest.Start(t, redistest.Options{Args: args, ReplicaOf: m.Addr})
	mc, rc := m.Client(), r.Client()
	dir := t.TempDir()
	cp := filepath.Join(dir, "cp.json")
	const key = "seq:log"
	sw := &oracle.SeqWriter{Key: key}

	p1 := startTapProc(t, bin, filepath.Join(dir, "out1"), "--addr", m.Addr, "--checkpoint", cp)
	waitLines(t, ctx, p1.out, "sync", func(l []tapLine) bool { return len(l) > 0 })
	require.NoError(t, sw.Write(ctx, mc, 300))
	waitLines(t, ctx, p1.out, "writes", hasSeq(t, key, sw.Last()))
	require.NoError(t, p1.signal(t, syscall.SIGTERM))
	pos := loadCheckpoint(t, ctx, cp)

	minfo, err := m.Info(ctx, "replication")
	require.NoError(t, err)
	redistest.WaitFor(t, time.Minute, "replica caught up", func() bool {
		info, err := r.Info(ctx, "replication")
		return err == nil && info["master_link_status"] == "up" && info["master_repl_offset"] == minfo["master_repl_offset"]
	})
	require.NoError(t, rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
	first := sw.Last() + 1
	require.NoError(t, sw.Write(ctx, rc, 300))

	p2 := startTapProc(t, bin, filepath.Join(dir, "out2"), "--addr", r.Addr, "--checkpoint", cp)
	lines := waitLines(t, ctx, p2.out, "writes on the promoted replica", hasSeq(t, key, sw.Last()))
	require.NoError(t, p2.signal(t, syscall.SIGTERM))
	require.Equal(t, "continue", lines[0].Mode, "%+v", lines[0])
	require.Equal(t, pos.Offset, lines[0].Offset)
	require.NotEqual(t, pos.ReplID, lines[0].ReplID, "the promoted replica's new id")
	for _, l := range lines {
		require.NotEqual(t, "key", l.Kind, "no snapshot")
	}
	require.NoError(t, oracle.CheckSeq(seqs(t, lines, key, -1), first, sw.Last()))
}
