package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/internal/testkit/oracle"
	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/replica"
)

// tapLine is one JSON line of `redtap tap`.
type tapLine struct {
	Kind   string            `json:"kind"`
	Mode   string            `json:"mode"`
	ReplID string            `json:"replid"`
	Offset int64             `json:"offset"`
	Reason string            `json:"reason"`
	DB     int               `json:"db"`
	Args   []json.RawMessage `json:"args"`
	Key    json.RawMessage   `json:"key"`
	Type   string            `json:"type"`
	Value  json.RawMessage   `json:"value"`
}

// bytesOf decodes a JSON string or {"base64":...}.
func bytesOf(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	var b struct {
		Base64 string `json:"base64"`
	}
	require.NoError(t, json.Unmarshal(raw, &b), "%s", raw)
	v, err := base64.StdEncoding.DecodeString(b.Base64)
	require.NoError(t, err)
	return v
}

func (l *tapLine) args(t *testing.T) [][]byte {
	out := make([][]byte, len(l.Args))
	for i, a := range l.Args {
		out[i] = bytesOf(t, a)
	}
	return out
}

// readTapLines parses the complete lines of a JSON-lines output file (a
// process killed mid-write may leave a partial last line).
func readTapLines(t *testing.T, path string) []tapLine {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var lines []tapLine
	for _, ln := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		var l tapLine
		require.NoError(t, json.Unmarshal(ln, &l), "%s", ln)
		lines = append(lines, l)
	}
	return lines
}

// seqs returns the numbered writes (RPUSH key n) among cmd lines whose
// offset is at most maxOff (or all when maxOff < 0).
func seqs(t *testing.T, lines []tapLine, key string, maxOff int64) []int64 {
	var out []int64
	for i := range lines {
		l := &lines[i]
		if l.Kind != "cmd" || (maxOff >= 0 && l.Offset > maxOff) {
			continue
		}
		if n, ok := oracle.SeqOf(key, l.args(t)); ok {
			out = append(out, n)
		}
	}
	return out
}

// waitLines polls a JSON-lines output file until cond holds.
func waitLines(t *testing.T, ctx context.Context, path, what string, cond func([]tapLine) bool) []tapLine {
	t.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			if lines := readTapLines(t, path); cond(lines) {
				return lines
			}
		}
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(path)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Fatalf("timed out waiting for %s; output ends with:\n%s", what, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func hasSeq(t *testing.T, key string, n int64) func([]tapLine) bool {
	return func(lines []tapLine) bool {
		s := seqs(t, lines, key, -1)
		return len(s) > 0 && s[len(s)-1] >= n
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// inProcessTap runs `redtap tap args...` in this process with stdout to a
// file; stop cancels it (as SIGINT does) and returns the exit code.
func inProcessTap(t *testing.T, args ...string) (outPath string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	outPath = filepath.Join(t.TempDir(), "out")
	f, err := os.Create(outPath)
	require.NoError(t, err)
	stderr = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"tap"}, args...), nil, f, stderr)
	}()
	var once sync.Once
	result := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case result = <-code:
			case <-time.After(time.Minute):
				t.Errorf("tap did not stop; stderr:\n%s", stderr.String())
			}
			f.Close()
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return outPath, stderr, stop
}

func tapTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestTapUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "--addr is required"},
		{[]string{"--addr", "h:1", "extra"}, "unexpected arguments"},
		{[]string{"--addr", "h:1", "--cert", "c.pem"}, "--cert and --key go together"},
		{[]string{"--addr", "h:1", "--snapshot", "some"}, "unknown --snapshot"},
		{[]string{"--addr", "h:1", "--format", "xml"}, "unknown --format"},
		{[]string{"--addr", "h:1", "--db", "-2"}, "--db -2"},
		{[]string{"--addr", "h:1", "--chunk", "0"}, "--chunk 0"},
		{[]string{"--addr", "h:1", "--snapshot", "only", "--checkpoint", "cp"}, "--checkpoint makes no sense"},
		{[]string{"--addr", "h:1", "--dual-channel", "yes"}, "want auto, on or off"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), append([]string{"tap"}, tc.args...), nil, io.Discard, &stderr)
		require.Equal(t, exitUsage, code, "%q", tc.args)
		require.Contains(t, stderr.String(), tc.msg, "%q", tc.args)
	}
	var stdout bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"help", "tap"}, nil, &stdout, &stdout))
	require.Contains(t, stdout.String(), "--checkpoint")

	o, err := parseTapArgs([]string{"--addr", "h:1", "--cacert", "ca.pem"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.tls, "--cacert implies --tls")
	_, err = o.config()
	require.Error(t, err, "a missing CA file is an error")

	var stderr bytes.Buffer
	code := run(context.Background(), []string{"tap", "--addr", "127.0.0.1:1"}, nil, io.Discard, &stderr)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr.String(), "redtap: tap 127.0.0.1:1:")
}

func TestRESPLen(t *testing.T) {
	args := [][]byte{[]byte("SET"), []byte("key"), bytes.Repeat([]byte("v"), 12)}
	var b []byte
	b = append(b, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$12\r\nvvvvvvvvvvvv\r\n"...)
	require.EqualValues(t, len(b), respLen(args))
	require.EqualValues(t, 15, respLen(argsMulti))
	require.EqualValues(t, 14, respLen(argsExec))
}

// TestTapJSONL runs the tap in process: a sync line, the snapshot's keys
// (a big key in chunks, a binary key), then cmd lines with exact offsets,
// MULTI and EXEC around a transaction, the database of each command,
// base64 for binary arguments; on cancellation (SIGINT) it flushes and
// saves the checkpoint of the last line.
func TestTapJSONL(t *testing.T) {
	ctx := tapTestCtx(t)
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := m.Client()
	require.NoError(t, c.Set(ctx, "\xffbin", "v", 0).Err())
	big := []any{}
	for i := 0; i < 50; i++ {
		big = append(big, strconv.Itoa(i))
	}
	require.NoError(t, c.RPush(ctx, "big", big...).Err())
	cp := filepath.Join(t.TempDir(), "cp.json")

	out, stderr, stop := inProcessTap(t, "--addr", m.Addr, "--checkpoint", cp, "--chunk", "8")
	waitLines(t, ctx, out, "snapshot", func(l []tapLine) bool { return len(l) > 0 })

	require.NoError(t, c.Set(ctx, "k", "\x00\xfe", 0).Err())
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		p.Incr(ctx, "n")
		return nil
	})
	require.NoError(t, err)
	c3 := redis.NewClient(&redis.Options{Addr: m.Addr, DB: 3})
	defer c3.Close()
	require.NoError(t, c3.Set(ctx, "in3", "x", 0).Err())
	lines := waitLines(t, ctx, out, "db 3 write", func(l []tapLine) bool {
		return len(l) > 0 && l[len(l)-1].Kind == "cmd" && l[len(l)-1].DB == 3
	})
	require.Equal(t, exitOK, stop(), "stderr: %s", stderr.String())

	require.Equal(t, "sync", lines[0].Kind)
	require.Equal(t, "full", lines[0].Mode)
	require.Len(t, lines[0].ReplID, 40)
	var keys []string
	var cmds []string
	var offs []int64
	for _, l := range lines[1:] {
		switch l.Kind {
		case "key":
			keys = append(keys, string(bytesOf(t, l.Key)))
			if l.Type == "list" {
				var v []string
				require.NoError(t, json.Unmarshal(l.Value, &v))
				require.Len(t, v, 50, "a chunked key is one record")
			}
		case "cmd":
			cmds = append(cmds, fmt.Sprintf("%d:%q", l.DB, l.args(t)))
			offs = append(offs, l.Offset)
		}
	}
	require.ElementsMatch(t, []string{"\xffbin", "big"}, keys)
	require.Equal(t, []string{
		`0:["set" "k" "\x00\xfe"]`, `0:["MULTI"]`, `0:["incr" "n"]`, `0:["incr" "n"]`, `0:["EXEC"]`, `3:["set" "in3" "x"]`,
	}, cmds)
	// Offsets: right after each command, as the master counts them.
	info, err := m.Info(ctx, "replication")
	require.NoError(t, err)
	require.Equal(t, info["master_repl_offset"], strconv.FormatInt(offs[len(offs)-1], 10))
	for i := 1; i < len(offs); i++ {
		require.Greater(t, offs[i], offs[i-1])
	}
	require.EqualValues(t, offs[1]+respLen([][]byte{[]byte("incr"), []byte("n")}), offs[2], "MULTI's offset is exact")

	fc, err := replica.NewFileCheckpointer(cp)
	require.NoError(t, err)
	pos, err := fc.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, lines[0].ReplID, pos.ReplID)
	require.Equal(t, offs[len(offs)-1], pos.Offset, "the final checkpoint is the last line written")
	require.Equal(t, 3, pos.DB)
}

// TestTapRESPPipe: `--format resp` piped into `redis-cli --pipe` against an
// empty server reproduces the master's dataset after the oracle's mixed
// workload (snapshot, then the commands with SELECT, MULTI/EXEC kept).
func TestTapRESPPipe(t *testing.T) {
	ctx := tapTestCtx(t)
	cli := redistest.Binary(t, "redis-cli")
	m := redistest.Start(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	target := redistest.Start(t, redistest.Options{})
	mc := m.Client()
	w := &oracle.Workload{Seed: 11, Swaps: true}
	defer w.Close()
	require.NoError(t, w.Preload(ctx, mc))

	out, stderr, stop := inProcessTap(t, "--addr", m.Addr, "--format", "resp", "--chunk", "100")
	waitFile(t, ctx, out, "snapshot", func(b []byte) bool { return bytes.Contains(b, []byte("big1")) })
	ops := 1500
	if testing.Short() {
		ops = 300
	}
	require.NoError(t, w.Run(ctx, mc, ops))
	require.NoError(t, w.Settle(ctx, mc))
	token, err := w.Fence(ctx, mc)
	require.NoError(t, err)
	waitFile(t, ctx, out, "fence", func(b []byte) bool { return bytes.Contains(b, []byte(token)) })
	require.Equal(t, exitOK, stop(), "stderr: %s", stderr.String())

	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	pipe := exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", strconv.Itoa(target.Port), "--pipe")
	pipe.Stdin = f
	msg, err := pipe.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	require.Contains(t, string(msg), "errors: 0,", "%s", msg)

	diffs, err := oracle.Compare(ctx, &redis.Options{Addr: m.Addr}, &redis.Options{Addr: target.Addr}, w.DBs)
	require.NoError(t, err)
	require.Empty(t, diffs)
	t.Logf("redis-cli --pipe: %s", strings.TrimSpace(string(msg)))
}

func waitFile(t *testing.T, ctx context.Context, path, what string, cond func([]byte) bool) {
	t.Helper()
	for {
		b, _ := os.ReadFile(path)
		if cond(b) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (%d bytes of output)", what, len(b))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

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
	stderr *syncBuffer
	done   chan error
}

func startTapProc(t *testing.T, bin, out string, args ...string) *tapProc {
	t.Helper()
	f, err := os.Create(out)
	require.NoError(t, err)
	p := &tapProc{cmd: exec.Command(bin, append([]string{"tap"}, args...)...), out: out, stderr: &syncBuffer{}, done: make(chan error, 1)}
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

// drainResult is one round of TestTapDrainBenchmark.
type drainResult struct {
	name   string
	cmds   int64   // commands written while the consumer was stopped
	bytes  int64   // replication stream bytes they took
	secs   float64 // from SIGCONT to the consumer having processed the last one
	cpu    float64 // CPU seconds (user+sys) the consumer process used meanwhile
	writeS float64 // how long redis-benchmark took to write them
}

func (r drainResult) String() string {
	return fmt.Sprintf("%-22s %9d cmds %7.1f MB  drain %6.2f s = %9.0f cmd/s (%6.1f MB/s)  consumer CPU %6.2f s = %9.0f cmd/CPU-s  (written in %.2f s)",
		r.name, r.cmds, float64(r.bytes)/1e6, r.secs, float64(r.cmds)/r.secs, float64(r.bytes)/1e6/r.secs, r.cpu, float64(r.cmds)/r.cpu, r.writeS)
}

// procCPU returns the user+system CPU seconds of a process (Linux /proc).
func procCPU(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, err := strconv.ParseFloat(f[11], 64)
	require.NoError(t, err)
	stime, err := strconv.ParseFloat(f[12], 64)
	require.NoError(t, err)
	return (utime + stime) / 100 // USER_HZ
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestTapDrainBenchmark is acceptance 5 (not a unit test: it runs only
// with REDTAP_BENCH=1). For each consumer in turn (the tap with --format
// none; a real `redis-server --replicaof`; `redis-cli --replica`) attached
// alone to the same master: stop it with SIGSTOP, let redis-benchmark write
// REDTAP_BENCH_N (default 3,000,000) SETs, which pile up in the master's
// output buffer for it, SIGCONT it and time until it has processed the last
// one. The finish line is the master's WAIT 1 0 after a last SET (the tap
// and the replica acknowledge only what they have processed, and answer the
// REPLCONF GETACK that WAIT queues behind the data); redis-cli sends no
// acknowledgements, so its finish line is the last SET appearing on its
// stdout. REDTAP_BENCH_ROUNDS repeats the three rounds.
func TestTapDrainBenchmark(t *testing.T) {
	if os.Getenv("REDTAP_BENCH") == "" {
		t.Skip("a benchmark: set REDTAP_BENCH=1 (and optionally REDTAP_BENCH_N, REDTAP_BENCH_ROUNDS)")
	}
	n := envInt("REDTAP_BENCH_N", 3_000_000)
	rounds := envInt("REDTAP_BENCH_ROUNDS", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bin := buildRedtap(t)
	benchBin := redistest.Binary(t, "redis-benchmark")
	cliBin := redistest.Binary(t, "redis-cli")
	srvBin := redistest.Binary(t, "redis-server")
	m := redistest.Start(t, redistest.Options{Args: []string{
		"--client-output-buffer-limit", "replica 0 0 0", // keep stopped consumers attached
		"--repl-timeout", "3600", "--repl-diskless-sync-delay", "0",
	}})
	// No read timeout: WAIT blocks for as long as the drain takes.
	mc := redis.NewClient(&redis.Options{Addr: m.Addr, ReadTimeout: -1, Protocol: 2, DisableIdentity: true})
	defer mc.Close()
	offset := func() int64 {
		info, err := m.Info(ctx, "replication")
		require.NoError(t, err)
		o, err := strconv.ParseInt(info["master_repl_offset"], 10, 64)
		require.NoError(t, err)
		return o
	}
	// online waits until one replica is online and, when it acknowledges,
	// has acknowledged everything.
	online := func(acks bool) {
		redistest.WaitFor(t, 5*time.Minute, "consumer online", func() bool {
			info, err := m.Info(ctx, "replication")
			if err != nil || info["connected_slaves"] != "1" || !strings.Contains(info["slave0"], "state=online") {
				return false
			}
			return !acks || strings.Contains(info["slave0"], "offset="+info["master_repl_offset"]+",")
		})
	}
	// pileUp writes n SETs and a marker while the consumer is stopped.
	pileUp := func(r *drainResult) {
		require.NoError(t, mc.FlushAll(ctx).Err())
		before := offset()
		start := time.Now()
		out, err := exec.CommandContext(ctx, benchBin, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port),
			"-t", "set", "-n", strconv.Itoa(n), "-r", "100000000", "-d", "16", "-P", "64", "-q").CombinedOutput()
		require.NoError(t, err, "%s", out)
		r.writeS = time.Since(start).Seconds()
		r.cmds = int64(n)
		r.bytes = offset() - before
	}
	var results []drainResult

	// waitAcked stops the clock when the master's WAIT says one replica
	// has acknowledged the marker SET.
	waitAcked := func(conn *redis.Conn) {
		acked, err := conn.Do(ctx, "WAIT", 1, 0).Int()
		require.NoError(t, err)
		require.Equal(t, 1, acked)
	}

	for round := 0; round < rounds; round++ {
		// A: the tap.
		{
			require.NoError(t, mc.FlushAll(ctx).Err())
			p := startTapProc(t, bin, filepath.Join(t.TempDir(), "out"), "--addr", m.Addr, "--format", "none")
			online(true)
			r := drainResult{name: "redtap tap --format none"}
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGSTOP))
			pileUp(&r)
			conn := mc.Conn()
			require.NoError(t, conn.Set(ctx, "bench:done", 1, 0).Err())
			cpu0 := procCPU(t, p.cmd.Process.Pid)
			start := time.Now()
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGCONT))
			waitAcked(conn)
			r.secs = time.Since(start).Seconds()
			r.cpu = procCPU(t, p.cmd.Process.Pid) - cpu0
			conn.Close()
			require.NoError(t, p.signal(t, syscall.SIGTERM), "%s", p.stderr.String())
			results = append(results, r)
			t.Log(r)
		}
		// B: a real replica.
		{
			require.NoError(t, mc.FlushAll(ctx).Err())
			port := redistest.FreePort(t)
			dir := t.TempDir()
			rs := exec.Command(srvBin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
				"--logfile", filepath.Join(dir, "log"), "--save", "", "--appendonly", "no",
				"--replicaof", "127.0.0.1", strconv.Itoa(m.Port))
			require.NoError(t, rs.Start())
			online(true)
			r := drainResult{name: "redis-server replica"}
			require.NoError(t, rs.Process.Signal(syscall.SIGSTOP))
			pileUp(&r)
			conn := mc.Conn()
			require.NoError(t, conn.Set(ctx, "bench:done", 1, 0).Err())
			cpu0 := procCPU(t, rs.Process.Pid)
			start := time.Now()
			require.NoError(t, rs.Process.Signal(syscall.SIGCONT))
			waitAcked(conn)
			r.secs = time.Since(start).Seconds()
			r.cpu = procCPU(t, rs.Process.Pid) - cpu0
			conn.Close()
			rs.Process.Kill() //nolint:errcheck
			rs.Wait()         //nolint:errcheck
			results = append(results, r)
			t.Log(r)
		}
		// C: redis-cli --replica.
		{
			require.NoError(t, mc.FlushAll(ctx).Err())
			rc := exec.Command(cliBin, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "--replica")
			stdout, err := rc.StdoutPipe()
			require.NoError(t, err)
			rc.Stderr = io.Discard
			require.NoError(t, rc.Start())
			seen := make(chan struct{})
			go func() {
				marker := []byte(`"bench:done"`)
				buf := make([]byte, 1<<20)
				var window, carry []byte // carry: the last bytes of the previous read
				for {
					k, err := stdout.Read(buf)
					window = append(append(window[:0], carry...), buf[:k]...)
					if bytes.Contains(window, marker) {
						close(seen)
						io.Copy(io.Discard, stdout) //nolint:errcheck
						return
					}
					carry = append(carry[:0], window[max(0, len(window)-len(marker)):]...)
					if err != nil {
						return
					}
				}
			}()
			online(false)
			time.Sleep(1500 * time.Millisecond) // redis-cli sleeps 1 s before its first ACK after a diskless sync
			r := drainResult{name: "redis-cli --replica"}
			require.NoError(t, rc.Process.Signal(syscall.SIGSTOP))
			pileUp(&r)
			require.NoError(t, mc.Set(ctx, "bench:done", 1, 0).Err())
			cpu0 := procCPU(t, rc.Process.Pid)
			start := time.Now()
			require.NoError(t, rc.Process.Signal(syscall.SIGCONT))
			select {
			case <-seen:
			case <-ctx.Done():
				t.Fatal("redis-cli --replica never printed the marker")
			}
			r.secs = time.Since(start).Seconds()
			r.cpu = procCPU(t, rc.Process.Pid) - cpu0
			rc.Process.Kill() //nolint:errcheck
			rc.Wait()         //nolint:errcheck
			results = append(results, r)
			t.Log(r)
		}
	}
	for _, r := range results {
		t.Log(r)
	}
	for i := 0; i+2 < len(results); i += 3 {
		a, b, c := results[i], results[i+1], results[i+2]
		t.Logf("round %d: tap/replica %.1fx (CPU %.1fx), tap/redis-cli %.1fx (CPU %.1fx)", i/3+1,
			b.secs/a.secs, b.cpu/a.cpu, c.secs/a.secs, c.cpu/a.cpu)
	}
}

// TestTapInterruptedSnapshot: the connection breaks in the middle of a key
// that arrives in chunks; the tap ends that key's record (every line stays
// valid JSON, and the RESP stream stays whole commands), reports the full
// resync and writes the whole snapshot again.
func TestTapInterruptedSnapshot(t *testing.T) {
	elems := make([]string, 300)
	for i := range elems {
		elems[i] = "element-" + strconv.Itoa(i)
	}
	snap := fakemaster.NewRDB(10).Select(0).Set("a", "1").List("big", elems...).Bytes()
	for _, format := range []string{"jsonl", "resp"} {
		t.Run(format, func(t *testing.T) {
			ctx := tapTestCtx(t)
			m := fakemaster.Start(t, fakemaster.Options{RDB: snap, Payload: func(conn int) fakemaster.Payload {
				if conn == 1 {
					return fakemaster.Payload{TruncateAt: len(snap) - 1500}
				}
				return fakemaster.Payload{}
			}})
			out, stderr, stop := inProcessTap(t, "--addr", m.Addr(), "--chunk", "10", "--format", format)
			for i := 0; i < 2; i++ { // the broken sync, then the good one
				_, err := m.Accept(ctx)
				require.NoError(t, err)
			}
			m.Propagate("SET", "after", "1")
			waitFile(t, ctx, out, "the command after the snapshot", func(b []byte) bool { return bytes.Contains(b, []byte("after")) })
			require.Equal(t, exitOK, stop())
			require.Contains(t, stderr.String(), "disconnected")
			if format == "jsonl" {
				lines := readTapLines(t, out) // every line parses
				var kinds []string
				var lens []int
				for _, l := range lines {
					kinds = append(kinds, l.Kind+":"+l.Mode)
					if l.Kind == "key" && l.Type == "list" {
						var v []string
						require.NoError(t, json.Unmarshal(l.Value, &v))
						lens = append(lens, len(v))
					}
				}
				require.Equal(t, []string{"sync:full", "key:", "key:", "sync:full", "key:", "key:", "cmd:"}, kinds)
				require.Len(t, lens, 2)
				require.Less(t, lens[0], 300, "the interrupted record is partial")
				require.Positive(t, lens[0], "the interrupted key had begun")
				require.Equal(t, 300, lens[1])
				return
			}
			b, err := os.ReadFile(out)
			require.NoError(t, err)
			cmds := parseRESPCommands(t, b)
			var names []string
			for _, c := range cmds {
				if c[0] != "RPUSH" {
					names = append(names, c[0])
				}
			}
			require.Equal(t, []string{"SELECT", "SET", "FLUSHALL", "FUNCTION", "SET", "SET"}, names)
		})
	}
}

// parseRESPCommands splits a RESP stream of arrays of bulk strings.
func parseRESPCommands(t *testing.T, b []byte) [][]string {
	t.Helper()
	var cmds [][]string
	line := func() string {
		i := bytes.Index(b, []byte("\r\n"))
		require.GreaterOrEqual(t, i, 0, "incomplete RESP")
		s := string(b[:i])
		b = b[i+2:]
		return s
	}
	for len(b) > 0 {
		h := line()
		require.Equal(t, byte('*'), h[0], "%q", h)
		n, err := strconv.Atoi(h[1:])
		require.NoError(t, err)
		cmd := make([]string, n)
		for i := range cmd {
			l := line()
			k, err := strconv.Atoi(l[1:])
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(b), k+2, "incomplete bulk")
			cmd[i] = string(b[:k])
			b = b[k+2:]
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// TestTapOptions covers the connection and selection flags against real
// servers: TLS with a client certificate (--cacert --cert --key), a
// password, --snapshot only (the tap exits by itself after the snapshot),
// --snapshot skip with --db, --format none, --insecure, and a wrong
// password.
func TestTapOptions(t *testing.T) {
	ctx := tapTestCtx(t)
	files := redistest.GenerateTLS(t)
	s := redistest.Start(t, redistest.Options{TLS: files, ClientAuth: true, Password: "pw",
		Args: []string{"--repl-diskless-sync-delay", "0"}})
	c := s.Client()
	require.NoError(t, c.Set(ctx, "k0", "v", 0).Err())
	tlsArgs := []string{"--addr", s.Addr, "--password", "pw", "--cacert", files.CACert, "--cert", files.ClientCert, "--key", files.ClientKey}

	t.Run("snapshot only over TLS", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		f, err := os.Create(out)
		require.NoError(t, err)
		defer f.Close()
		var stderr bytes.Buffer
		code := run(ctx, append([]string{"tap", "--snapshot", "only", "--server-name", "localhost"}, tlsArgs...), nil, f, &stderr)
		require.Equal(t, exitOK, code, "%s", stderr.String())
		lines := readTapLines(t, out)
		require.Equal(t, "sync", lines[0].Kind)
		var keys []string
		for _, l := range lines[1:] {
			require.NotEqual(t, "cmd", l.Kind)
			if l.Kind == "key" {
				keys = append(keys, string(bytesOf(t, l.Key)))
			}
		}
		require.Equal(t, []string{"k0"}, keys)
	})

	t.Run("skip and db", func(t *testing.T) {
		out, stderr, stop := inProcessTap(t, append([]string{"--snapshot", "skip", "--db", "1"}, tlsArgs...)...)
		waitLines(t, ctx, out, "sync", func(l []tapLine) bool { return len(l) > 0 })
		c1 := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "pw", DB: 1, TLSConfig: files.ClientConfig(t), Protocol: 2, DisableIdentity: true})
		defer c1.Close()
		require.NoError(t, c.Set(ctx, "in0", "x", 0).Err())
		require.NoError(t, c1.Set(ctx, "in1", "x", 0).Err())
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error { // db 0 only: filtered out whole
			p.Incr(ctx, "n")
			return nil
		})
		require.NoError(t, err)
		require.NoError(t, c1.Set(ctx, "last", "x", 0).Err())
		lines := waitLines(t, ctx, out, "last", func(l []tapLine) bool {
			return len(l) > 0 && l[len(l)-1].Kind == "cmd" && string(l[len(l)-1].args(t)[1]) == "last"
		})
		require.Equal(t, exitOK, stop(), "%s", stderr.String())
		var got []string
		for _, l := range lines {
			require.NotEqual(t, "key", l.Kind, "no snapshot with --snapshot skip")
			if l.Kind == "cmd" {
				require.Equal(t, 1, l.DB)
				got = append(got, string(l.args(t)[1]))
			}
		}
		require.Equal(t, []string{"in1", "last"}, got)
	})

	t.Run("none and insecure", func(t *testing.T) {
		out, stderr, stop := inProcessTap(t, "--addr", s.Addr, "--password", "pw", "--insecure",
			"--cert", files.ClientCert, "--key", files.ClientKey, "--format", "none")
		redistest.WaitFor(t, time.Minute, "sync", func() bool { return strings.Contains(stderr.String(), "full sync") })
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
		require.Equal(t, exitOK, stop())
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Empty(t, b)
		require.Contains(t, stderr.String(), "1 connects (1 full, 0 partial syncs)")
	})

	t.Run("wrong password", func(t *testing.T) {
		var stderr bytes.Buffer
		args := []string{"tap", "--addr", s.Addr, "--password", "nope", "--cacert", files.CACert, "--cert", files.ClientCert, "--key", files.ClientKey}
		code := run(ctx, args, nil, io.Discard, &stderr)
		require.Equal(t, exitError, code)
		require.Contains(t, stderr.String(), "authentication failed")
	})
}
