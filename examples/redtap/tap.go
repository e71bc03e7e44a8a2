package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/redtap/redtap/examples/internal/tlsflags"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// connFlags are the flags of the connection to the master, shared by tap
// and serve.
type connFlags struct {
	addr     string
	user     string
	password string
	tls      tlsflags.Flags
	dual     replica.DualChannelMode
}

// register defines the connection flags on fs.
func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "", "master address `HOST:PORT` (required)")
	fs.StringVar(&c.user, "user", "", "ACL user (default: the default user); it needs +psync +replconf +ping")
	fs.StringVar(&c.password, "password", "", "password (default: $REDISCLI_AUTH)")
	c.tls.Register(fs, true)
	fs.TextVar(&c.dual, "dual-channel", replica.DualChannelAuto,
		"full syncs on two connections (Valkey 8+ with dual-channel-replication-enabled): auto (when the master grants it), on (required) or off")
}

// selectFlags are the flags that select keys and commands: --db, --match
// and --type, shared by tap and watch.
type selectFlags struct {
	db    int
	match []string
	types typeList
}

// registerSelect defines the selection flags on fs.
func (c *selectFlags) registerSelect(fs *flag.FlagSet) {
	fs.IntVar(&c.db, "db", -1, "only keys and commands of database `N` (default: all)")
	fs.Func("match", "only keys matching this glob `PATTERN` (as KEYS and SCAN MATCH), and commands on such a key (repeatable)", func(s string) error {
		c.match = append(c.match, s)
		return nil
	})
	fs.Var(&c.types, "type", "only keys of this `TYPE`: string, list, set, zset, hash, stream, module (repeatable, or a comma list); "+
		"commands on keys of any type (DEL, EXPIRE, RENAME ...) pass")
}

// selection is what --db, --match and --type select, as the writers'
// configuration holds it.
func (c *selectFlags) selection() writerConfig {
	w := writerConfig{Match: c.match, Types: c.types}
	if c.db >= 0 {
		w.DBs = []int{c.db}
	}
	return w
}

// check validates the parsed connection flags and fills in what they
// imply: TLS from its file flags, the password from $REDISCLI_AUTH. It
// returns a usage message, or "".
func (c *connFlags) check(fs *flag.FlagSet) string {
	switch {
	case c.addr == "":
		return "--addr is required"
	case !c.tls.Paired():
		return "--cert and --key go together"
	}
	c.tls.Imply()
	if c.password == "" && !isFlagSet(fs, "password") {
		c.password = os.Getenv("REDISCLI_AUTH")
	}
	return ""
}

// tapOptions are the tap subcommand's flags.
type tapOptions struct {
	connFlags
	selectFlags
	checkpoint string
	snapshot   string
	format     string
	chunk      int
	cluster    bool
}

// Intervals of the tap's background work.
const (
	tapFlushInterval      = 200 * time.Millisecond // stdout is flushed at least this often
	tapCheckpointInterval = time.Second            // the checkpoint file is rewritten at most this often
	tapProgressInterval   = 250 * time.Millisecond // snapshot progress on a terminal
)

func parseTapArgs(args []string, stderr io.Writer) (*tapOptions, error) {
	o := &tapOptions{}
	fs := flag.NewFlagSet("tap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	o.registerSelect(fs)
	fs.StringVar(&o.checkpoint, "checkpoint", "", "JSON `FILE` {\"replid\":...,\"offset\":N} to resume from and to keep up to date (rewritten atomically)")
	fs.StringVar(&o.snapshot, "snapshot", "full", "what to do with the snapshot: full (write it), skip (stream only) or only (snapshot, then exit)")
	fs.StringVar(&o.format, "format", formatJSONL, "output format: jsonl, resp (for redis-cli --pipe) or none")
	fs.IntVar(&o.chunk, "chunk", 0, "elements per chunk of a large key (default: the decoder's, 1024)")
	fs.BoolVar(&o.cluster, "cluster", false, clusterUsage)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: redtap tap --addr HOST:PORT [flags]\n\n"+
			"Connects to a Redis master as a replica and writes its snapshot and every\n"+
			"write that follows to stdout, until SIGINT or SIGTERM: JSON lines (one\n"+
			"\"sync\" record per (re)synchronisation, one \"key\" record per snapshot key,\n"+
			"one \"cmd\" record per command, MULTI and EXEC included), or RESP that\n"+
			"rebuilds the dataset through `redis-cli --pipe`. With --checkpoint it\n"+
			"resumes where the last run stopped (PSYNC, no second snapshot).\n"+
			"A cmd record's \"keys\" are the keys of the command ([] for none; absent\n"+
			"when they cannot be told). With --db, --match and --type only the snapshot\n"+
			"keys they select are written, and the commands (whole) with such a key;\n"+
			"of a transaction, only those commands, between MULTI and EXEC.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseConn(fs, args, &o.connFlags, &o.selectFlags); err != nil {
		return nil, err
	}
	switch {
	case o.snapshot != "full" && o.snapshot != "skip" && o.snapshot != "only":
		return nil, usageErr(fs, "unknown --snapshot %q (want full, skip or only)", o.snapshot)
	case o.snapshot == "only" && o.checkpoint != "":
		return nil, usageErr(fs, "--checkpoint makes no sense with --snapshot only")
	}
	if err := checkFormat(o.format); err != nil {
		return nil, usageErr(fs, "%v", err)
	}
	if err := checkChunk(fs, o.chunk); err != nil {
		return nil, err
	}
	return o, nil
}

// replicaConfig returns the replica configuration of the connection flags.
func (c *connFlags) replicaConfig() (replica.Config, error) {
	cfg := replica.Config{Addr: c.addr, Username: c.user, Password: c.password}
	var err error
	cfg.TLS, err = c.tls.Config()
	cfg.DualChannel.Mode = c.dual
	return cfg, err
}

// parseConn is what every subcommand's parsing starts with: it parses
// args into fs (whose flags include c's, and sel's when not nil), refuses
// positional arguments, and checks the connection flags, filling in what
// they imply, and --db.
func parseConn(fs *flag.FlagSet, args []string, c *connFlags, sel *selectFlags) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr(fs, "unexpected arguments %q", fs.Args())
	}
	if msg := c.check(fs); msg != "" {
		return usageErr(fs, "%s", msg)
	}
	if sel != nil && sel.db < -1 {
		return usageErr(fs, "--db %d: want a database number", sel.db)
	}
	return nil
}

func (o *tapOptions) config() (replica.Config, error) {
	cfg, err := o.replicaConfig()
	if err != nil {
		return cfg, err
	}
	switch o.snapshot {
	case "skip":
		cfg.Snapshot = replica.SnapshotSkip
	case "only":
		cfg.Snapshot = replica.SnapshotOnly
	}
	cfg.RDBOptions = append(cfg.RDBOptions, snapshotOptions(o.selection())...)
	if o.chunk > 0 {
		cfg.RDBOptions = append(cfg.RDBOptions, rdb.WithChunkSize(o.chunk))
	}
	return cfg, nil
}

// tapRun is one run of the tap subcommand.
type tapRun struct {
	syncAt   time.Time // when the last Sync arrived
	r        *replica.Replica
	out      *flushCommitter
	progress *progress
	stderr   io.Writer
}

func runTap(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	o, err := parseTapArgs(args, stderr)
	if err != nil {
		return usageExit(err)
	}
	if o.cluster {
		return runTapCluster(ctx, o, stdout, stderr)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: tap %s: %v\n", o.addr, err)
		return exitError
	}
	cfg, err := o.config()
	if err != nil {
		return fail(err)
	}
	wcfg := o.selection()
	wcfg.NoSnapshot = cfg.Snapshot == replica.SnapshotSkip
	if o.checkpoint != "" {
		// The replica saves the checkpoint; the tap commits only what it
		// has flushed to stdout.
		if wcfg.Resumed, err = useCheckpoint(ctx, &cfg, o.checkpoint, "tap", stderr); err != nil {
			return fail(err)
		}
	}
	w, err := newTapWriter(o.format, stdout, wcfg)
	if err != nil {
		return fail(err)
	}
	t := &tapRun{stderr: stderr}
	if t.r, err = replica.Dial(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail(err)
	}
	t.out = &flushCommitter{w: w, commit: t.r.Commit}
	t.progress = newProgress(stderr, t.r.Stats)

	err = t.loop(ctx)
	code := exitOK
	if err != nil && !outputGone(err) && !errors.Is(err, io.EOF) && ctx.Err() == nil {
		code = fail(err)
	}
	// The output first, committing what it holds; then the replica, whose
	// Close saves the last committed position.
	err = t.out.close()
	if cerr := t.r.Close(); err == nil && cerr != nil && !errors.Is(cerr, replica.ErrClosed) {
		err = cerr
	}
	if err != nil && code == exitOK && !errors.Is(err, syscall.EPIPE) {
		code = fail(err)
	}
	st := t.r.Stats()
	fmt.Fprintf(stderr, "redtap: tap %s: %d commands, %d connects (%d full, %d partial syncs), offset %d\n",
		o.addr, st.Commands, st.Connects, st.FullSyncs, st.PartialSyncs, st.ProcessedOffset)
	return code
}

// loop reads events until ctx ends (a signal), the snapshot of --snapshot
// only ends (io.EOF) or an error that the replica does not recover from.
// Meanwhile a background goroutine flushes stdout and commits what it
// flushed.
func (t *tapRun) loop(ctx context.Context) error {
	bgCtx, stopBG := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		t.out.run(bgCtx, tapFlushInterval)
	}()
	defer func() {
		stopBG()
		<-bgDone
	}()
	for {
		ev, err := t.r.Next(ctx)
		if err != nil {
			return err
		}
		t.report(ev)
		if err := t.out.write(ev); err != nil {
			return &writeError{err}
		}
	}
}

// report tells stderr about syncs, disconnections and snapshot progress.
func (t *tapRun) report(ev replica.Event) {
	switch e := ev.(type) {
	case *replica.Sync:
		t.syncAt = time.Now()
		if e.Reason != "" {
			fmt.Fprintf(t.stderr, "redtap: tap: %s sync with %s (%s %d): %s\n", e.Mode, e.Addr, e.ReplID, e.Offset, e.Reason)
		} else {
			fmt.Fprintf(t.stderr, "redtap: tap: %s sync with %s (%s %d)\n", e.Mode, e.Addr, e.ReplID, e.Offset)
		}
	case *replica.SnapshotRecord:
		t.progress.update(false)
	case *replica.SnapshotDone:
		t.progress.update(true)
		msg := fmt.Sprintf("redtap: tap: snapshot done: %d keys, %.1f MB in %.1f s", e.Keys, float64(e.Bytes)/1e6, time.Since(t.syncAt).Seconds())
		if st := t.r.Stats(); st.DualChannelSyncs > 0 {
			msg += fmt.Sprintf("; stream held meanwhile (dual channel): %.1f MB, %.1f MB of it on disk", float64(st.Held)/1e6, float64(st.HeldOnDisk)/1e6)
		}
		fmt.Fprintln(t.stderr, msg)
	case *replica.Disconnected:
		t.progress.interrupt()
		fmt.Fprintf(t.stderr, "redtap: tap: disconnected from %s: %v\n", e.Addr, e.Err)
	}
}
