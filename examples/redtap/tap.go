package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tidwall/redcon"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// connFlags are the flags of the connection to the master, shared by tap
// and serve.
type connFlags struct {
	addr       string
	user       string
	password   string
	tls        bool
	cacert     string
	cert       string
	key        string
	insecure   bool
	serverName string
}

// register defines the connection flags on fs.
func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "", "master address `HOST:PORT` (required)")
	fs.StringVar(&c.user, "user", "", "ACL user (default: the default user); it needs +psync +replconf +ping")
	fs.StringVar(&c.password, "password", "", "password (default: $REDISCLI_AUTH)")
	fs.BoolVar(&c.tls, "tls", false, "connect with TLS (implied by --cacert, --cert, --insecure, --server-name)")
	fs.StringVar(&c.cacert, "cacert", "", "PEM `FILE` of the CA to verify the server with (default: the system roots)")
	fs.StringVar(&c.cert, "cert", "", "PEM `FILE` of the client certificate (with --key)")
	fs.StringVar(&c.key, "key", "", "PEM `FILE` of the client certificate's private key")
	fs.BoolVar(&c.insecure, "insecure", false, "do not verify the server's certificate")
	fs.StringVar(&c.serverName, "server-name", "", "server `NAME` to verify (default: the host of --addr)")
}

// check validates the parsed connection flags and fills in what they
// imply: TLS from its file flags, the password from $REDISCLI_AUTH. It
// returns a usage message, or "".
func (c *connFlags) check(fs *flag.FlagSet) string {
	switch {
	case c.addr == "":
		return "--addr is required"
	case (c.cert == "") != (c.key == ""):
		return "--cert and --key go together"
	}
	if c.cacert != "" || c.cert != "" || c.insecure || c.serverName != "" {
		c.tls = true
	}
	if c.password == "" && !isFlagSet(fs, "password") {
		c.password = os.Getenv("REDISCLI_AUTH")
	}
	return ""
}

// tapOptions are the tap subcommand's flags.
type tapOptions struct {
	connFlags
	checkpoint string
	snapshot   string
	format     string
	db         int
	chunk      int
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
	fs.StringVar(&o.checkpoint, "checkpoint", "", "JSON `FILE` {\"replid\":...,\"offset\":N} to resume from and to keep up to date (rewritten atomically)")
	fs.StringVar(&o.snapshot, "snapshot", "full", "what to do with the snapshot: full (write it), skip (stream only) or only (snapshot, then exit)")
	fs.StringVar(&o.format, "format", formatJSONL, "output format: jsonl, resp (for redis-cli --pipe) or none")
	fs.IntVar(&o.db, "db", -1, "only keys and commands of database `N` (default: all)")
	fs.IntVar(&o.chunk, "chunk", 0, "elements per chunk of a large key (default: the decoder's, 1024)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: redtap tap --addr HOST:PORT [flags]\n\n"+
			"Connects to a Redis master as a replica and writes its snapshot and every\n"+
			"write that follows to stdout, until SIGINT or SIGTERM: JSON lines (one\n"+
			"\"sync\" record per (re)synchronisation, one \"key\" record per snapshot key,\n"+
			"one \"cmd\" record per command, MULTI and EXEC included), or RESP that\n"+
			"rebuilds the dataset through `redis-cli --pipe`. With --checkpoint it\n"+
			"resumes where the last run stopped (PSYNC, no second snapshot).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fail := func(format string, a ...any) (*tapOptions, error) {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintf(fs.Output(), "redtap tap: %s\n", msg)
		fs.Usage()
		return nil, errors.New(msg)
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	if msg := o.check(fs); msg != "" {
		return fail("%s", msg)
	}
	switch {
	case o.db < -1:
		return fail("--db %d: want a database number", o.db)
	case o.chunk < 0 || o.chunk == 0 && isFlagSet(fs, "chunk"):
		return fail("--chunk %d: want at least 1", o.chunk)
	}
	switch o.snapshot {
	case "full", "skip", "only":
	default:
		return fail("unknown --snapshot %q (want full, skip or only)", o.snapshot)
	}
	switch o.format {
	case formatJSONL, formatRESP, formatNone:
	default:
		return fail("unknown --format %q (want jsonl, resp or none)", o.format)
	}
	if o.snapshot == "only" && o.checkpoint != "" {
		return fail("--checkpoint makes no sense with --snapshot only")
	}
	return o, nil
}

func (o *connFlags) tlsConfig() (*tls.Config, error) {
	if !o.tls {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverName, InsecureSkipVerify: o.insecure}
	if o.cacert != "" {
		pem, err := os.ReadFile(o.cacert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", o.cacert)
		}
		c.RootCAs = pool
	}
	if o.cert != "" {
		cert, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// replicaConfig returns the replica configuration of the connection flags.
func (c *connFlags) replicaConfig() (replica.Config, error) {
	cfg := replica.Config{Addr: c.addr, Username: c.user, Password: c.password}
	var err error
	cfg.TLS, err = c.tlsConfig()
	return cfg, err
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
	if o.db >= 0 {
		cfg.RDBOptions = append(cfg.RDBOptions, rdb.WithDBs(o.db))
	}
	if o.chunk > 0 {
		cfg.RDBOptions = append(cfg.RDBOptions, rdb.WithChunkSize(o.chunk))
	}
	return cfg, nil
}

// tapOutput renders the replica's events in one format. Every method is
// called with mu held: the main loop writes events, a background goroutine
// flushes.
type tapOutput struct {
	mu     sync.Mutex
	format string
	db     int // --db filter, -1 for all
	rw     recordWriter
	o      *out        // the record writer's buffer; nil for --format none
	resp   *respWriter // for SELECT tracking with --format resp
	// reset makes a full sync in RESP output start with FLUSHALL: set when
	// something may have been written before (an earlier session, or a
	// run that resumed from a checkpoint).
	reset bool
	// skipSnap: --snapshot skip, whose full syncs carry no snapshot to
	// rebuild the target with (no FLUSHALL then).
	skipSnap bool
	num      [24]byte

	// A key being written in chunks: its header, to end it when the
	// snapshot breaks off in the middle of it (see abortKey).
	open    bool
	openHdr rdb.Entry
	openKey []byte
}

func newTapOutput(format string, w io.Writer, db int) (*tapOutput, error) {
	rw, err := newRecordWriter(format, w, writerConfig{})
	if err != nil {
		return nil, err
	}
	t := &tapOutput{format: format, db: db, rw: rw}
	switch x := rw.(type) {
	case *jsonlWriter:
		t.o = &x.o
	case *respWriter:
		t.o, t.resp = &x.o, x
	}
	return t, nil
}

func (t *tapOutput) flush() error { return t.rw.Flush() }

// respLen is the length of args encoded as the master sends them (a RESP
// array of bulk strings): what they add to the replication offset.
func respLen(args [][]byte) int64 {
	n := 1 + int64(len(strconv.Itoa(len(args)))) + 2
	for _, a := range args {
		n += 1 + int64(len(strconv.Itoa(len(a)))) + 2 + int64(len(a)) + 2
	}
	return n
}

var (
	argsMulti = [][]byte{[]byte("MULTI")}
	argsExec  = [][]byte{[]byte("EXEC")}
)

func (t *tapOutput) sync(s *replica.Sync) error {
	switch t.format {
	case formatJSONL:
		b := append(t.o.buf, `{"kind":"sync","mode":"`...)
		b = append(b, s.Mode.String()...)
		b = append(b, `","replid":`...)
		b = appendJSONString(b, s.ReplID)
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, s.Offset, 10)
		if s.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendJSONString(b, s.Reason)
		}
		b = append(b, "}\n"...)
		t.o.buf = b
		return t.o.spill()
	case formatRESP:
		if s.Mode == replica.SyncFull && t.reset && !t.skipSnap {
			// A full resynchronisation replaces the dataset, as on a
			// real replica.
			if t.db >= 0 {
				t.respCmd(t.db, [][]byte{[]byte("FLUSHDB")})
			} else {
				t.respCmd(t.resp.db, [][]byte{[]byte("FLUSHALL")})
				t.respCmd(t.resp.db, [][]byte{[]byte("FUNCTION"), []byte("FLUSH")})
			}
		}
		t.reset = true
		return t.o.spill()
	}
	return nil
}

func (t *tapOutput) record(rec rdb.Record) error {
	if e, ok := rec.(*rdb.Entry); ok {
		switch {
		case e.Last:
			t.open = false
		case e.Chunk == 0:
			t.open = true
			t.openHdr = rdb.Entry{DB: e.DB, Type: e.Type, Encoding: e.Encoding, Expire: e.Expire, Idle: e.Idle, Freq: e.Freq, Len: e.Len}
			t.openKey = append(t.openKey[:0], e.Key...)
		}
		t.openHdr.Chunk = e.Chunk
	}
	return t.rw.WriteRecord(rec)
}

// abortKey ends a key whose chunks stopped coming (the connection broke in
// the middle of the snapshot) with an empty last chunk, so that the output
// stays well-formed: one complete, if partial, JSON record, or RESP
// commands. The full resynchronisation that follows supersedes it.
func (t *tapOutput) abortKey() error {
	if !t.open {
		return nil
	}
	t.open = false
	e := t.openHdr
	e.Key = t.openKey
	e.Chunk++
	e.Last = true
	if e.Type == rdb.TypeStream {
		e.Stream = &rdb.Stream{}
	}
	return t.rw.WriteRecord(&e)
}

// cmdLine appends one JSON "cmd" record.
func (t *tapOutput) cmdLine(b []byte, db int, off int64, args [][]byte) []byte {
	b = append(b, `{"kind":"cmd","db":`...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, off, 10)
	b = append(b, `,"args":[`...)
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONBytes(b, a)
	}
	return append(b, "]}\n"...)
}

// respCmd appends one command, selecting its database first when needed.
func (t *tapOutput) respCmd(db int, args [][]byte) {
	b := t.o.buf
	if db >= 0 && db != t.resp.db {
		b = redcon.AppendArray(b, 2)
		b = redcon.AppendBulkString(b, "SELECT")
		b = redcon.AppendBulk(b, strconv.AppendInt(t.num[:0], int64(db), 10))
		t.resp.db = db
	}
	b = redcon.AppendArray(b, len(args))
	for _, a := range args {
		b = redcon.AppendBulk(b, a)
	}
	t.o.buf = b
}

func (t *tapOutput) command(c *replica.Command) error {
	if t.db >= 0 && c.DB != t.db {
		return nil
	}
	switch t.format {
	case formatJSONL:
		t.o.buf = t.cmdLine(t.o.buf, c.DB, c.Offset, c.Args)
		return t.o.spill()
	case formatRESP:
		t.respCmd(c.DB, c.Args)
		return t.o.spill()
	}
	return nil
}

// transaction writes MULTI, the commands and EXEC. MULTI's offset is
// derived from the first command's (the master sends a transaction in one
// piece: MULTI, then the commands with a SELECT where the database changes,
// then EXEC).
func (t *tapOutput) transaction(tx *replica.Transaction) error {
	if t.format == formatNone {
		return nil
	}
	cmds := tx.Commands
	if t.db >= 0 {
		n := 0
		for i := range cmds {
			if cmds[i].DB == t.db {
				n++
			}
		}
		if n == 0 {
			return nil
		}
	}
	execDB := tx.DB
	if len(cmds) > 0 {
		execDB = cmds[len(cmds)-1].DB
	}
	switch t.format {
	case formatJSONL:
		multiOff := tx.Offset - respLen(argsExec)
		if len(cmds) > 0 {
			first := &cmds[0]
			multiOff = first.Offset - respLen(first.Args)
			if first.DB != tx.DB {
				multiOff -= respLen([][]byte{[]byte("SELECT"), strconv.AppendInt(t.num[:0], int64(first.DB), 10)})
			}
		}
		b := t.cmdLine(t.o.buf, tx.DB, multiOff, argsMulti)
		for i := range cmds {
			if t.db < 0 || cmds[i].DB == t.db {
				b = t.cmdLine(b, cmds[i].DB, cmds[i].Offset, cmds[i].Args)
			}
		}
		t.o.buf = t.cmdLine(b, execDB, tx.Offset, argsExec)
	case formatRESP:
		t.respCmd(tx.DB, argsMulti)
		for i := range cmds {
			if t.db < 0 || cmds[i].DB == t.db {
				t.respCmd(cmds[i].DB, cmds[i].Args)
			}
		}
		t.respCmd(-1, argsExec)
	}
	return t.o.spill()
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// tapRun is one run of the tap subcommand.
type tapRun struct {
	o      *tapOptions
	out    *tapOutput
	r      *replica.Replica
	cp     *replica.FileCheckpointer
	stderr io.Writer
	tty    bool

	// pos, guarded by out.mu, is the position of the last event written
	// to out: once out is flushed, the checkpoint may claim it.
	pos   replica.Position
	saved replica.Position // guarded by saveMu
	// saveMu serialises checkpoint writes (background and final).
	saveMu sync.Mutex

	lastProgress  time.Time
	progressShown bool // a progress line without its newline is on stderr
}

func runTap(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	o, err := parseTapArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: tap %s: %v\n", o.addr, err)
		return exitError
	}
	cfg, err := o.config()
	if err != nil {
		return fail(err)
	}
	t := &tapRun{o: o, stderr: stderr, tty: isTerminal(stderr)}
	if t.out, err = newTapOutput(o.format, stdout, o.db); err != nil {
		return fail(err)
	}
	t.out.skipSnap = cfg.Snapshot == replica.SnapshotSkip
	if o.checkpoint != "" {
		if t.cp, err = replica.NewFileCheckpointer(o.checkpoint); err != nil {
			return fail(err)
		}
		if cfg.Start, err = t.cp.Load(ctx); err != nil {
			return fail(err)
		}
		t.saved = cfg.Start
		t.out.reset = !cfg.Start.IsZero()
		if !cfg.Start.IsZero() {
			fmt.Fprintf(stderr, "redtap: tap: resuming from %v (%s)\n", cfg.Start, o.checkpoint)
		}
	}
	if t.r, err = replica.Dial(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail(err)
	}
	err = t.loop(ctx)
	code := exitOK
	var we *writeError
	switch {
	case errors.As(err, &we) && errors.Is(err, syscall.EPIPE):
		// The reader went away: a quiet end, as for dump.
	case err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil:
		code = fail(err)
	}
	if err := t.finish(); err != nil && code == exitOK && !errors.Is(err, syscall.EPIPE) {
		code = fail(err)
	}
	st := t.r.Stats()
	fmt.Fprintf(stderr, "redtap: tap %s: %d commands, %d connects (%d full, %d partial syncs), offset %d\n",
		o.addr, st.Commands, st.Connects, st.FullSyncs, st.PartialSyncs, st.ProcessedOffset)
	return code
}

// loop reads events until ctx ends (a signal), the snapshot of --snapshot
// only ends (io.EOF) or an error that the replica does not recover from.
// A background goroutine flushes stdout and saves the checkpoint.
func (t *tapRun) loop(ctx context.Context) error {
	bgCtx, stopBG := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go t.background(bgCtx, bgDone)
	defer func() {
		stopBG()
		<-bgDone
	}()
	for {
		ev, err := t.r.Next(ctx)
		if err != nil {
			return err
		}
		if err := t.handle(ev); err != nil {
			return err
		}
	}
}

func (t *tapRun) handle(ev replica.Event) error {
	out := t.out
	out.mu.Lock()
	var err error
	switch e := ev.(type) {
	case *replica.Sync:
		if err = out.abortKey(); err == nil {
			err = out.sync(e)
		}
		if e.Reason != "" {
			fmt.Fprintf(t.stderr, "redtap: tap: %s sync with %s (%s %d): %s\n", e.Mode, e.Addr, e.ReplID, e.Offset, e.Reason)
		} else {
			fmt.Fprintf(t.stderr, "redtap: tap: %s sync with %s (%s %d)\n", e.Mode, e.Addr, e.ReplID, e.Offset)
		}
	case *replica.SnapshotRecord:
		err = out.record(e.Record)
		if t.tty {
			t.progress(false)
		}
	case *replica.SnapshotDone:
		if t.tty {
			t.progress(true)
		}
	case *replica.Command:
		err = out.command(e)
	case *replica.Transaction:
		err = out.transaction(e)
	case *replica.Disconnected:
		err = out.abortKey()
		if t.progressShown {
			fmt.Fprintln(t.stderr)
			t.progressShown = false
		}
		fmt.Fprintf(t.stderr, "redtap: tap: disconnected from %s: %v\n", e.Addr, e.Err)
	}
	if err != nil {
		out.mu.Unlock()
		return &writeError{err}
	}
	t.pos = t.r.Position()
	out.mu.Unlock()
	return nil
}

// progress shows how much of the snapshot has arrived, on one terminal
// line.
func (t *tapRun) progress(done bool) {
	now := time.Now()
	if !done && now.Sub(t.lastProgress) < tapProgressInterval {
		return
	}
	t.lastProgress = now
	st := t.r.Stats()
	mb := float64(st.SnapshotBytes) / (1 << 20)
	if st.SnapshotSize > 0 {
		fmt.Fprintf(t.stderr, "\rredtap: snapshot %.1f of %.1f MiB (%.0f%%)", mb, float64(st.SnapshotSize)/(1<<20),
			100*float64(st.SnapshotBytes)/float64(st.SnapshotSize))
	} else {
		fmt.Fprintf(t.stderr, "\rredtap: snapshot %.1f MiB", mb)
	}
	t.progressShown = !done
	if done {
		fmt.Fprintln(t.stderr, ", done")
	}
}

// background flushes stdout every tapFlushInterval and, at most every
// tapCheckpointInterval, saves the position of what it has flushed.
func (t *tapRun) background(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(tapFlushInterval)
	defer tick.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.out.mu.Lock()
		err := t.out.flush()
		pos := t.pos
		t.out.mu.Unlock()
		if err != nil || t.cp == nil || time.Since(lastSave) < tapCheckpointInterval {
			continue
		}
		lastSave = time.Now()
		if err := t.save(pos); err != nil {
			fmt.Fprintf(t.stderr, "redtap: tap: checkpoint: %v\n", err)
		}
	}
}

// save stores pos unless it is zero (mid-snapshot) or already stored. The
// output up to pos must have been flushed.
func (t *tapRun) save(pos replica.Position) error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	if t.cp == nil || pos.IsZero() || pos == t.saved {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.cp.Save(ctx, pos); err != nil {
		return err
	}
	t.saved = pos
	return nil
}

// finish flushes stdout, then saves the final checkpoint, then closes the
// replica (which saves nothing itself: it has no Checkpointer).
func (t *tapRun) finish() error {
	t.out.mu.Lock()
	err := t.out.abortKey()
	if ferr := t.out.flush(); err == nil {
		err = ferr
	}
	pos := t.pos
	t.out.mu.Unlock()
	if err == nil {
		err = t.save(pos)
	}
	if cerr := t.r.Close(); err == nil && cerr != nil && !errors.Is(cerr, replica.ErrClosed) {
		err = cerr
	}
	return err
}
