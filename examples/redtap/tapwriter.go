package main

import (
	"io"
	"slices"

	"github.com/redtap/redtap/internal/glob"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// tapWriter is what the tap writes the replica's events through: the
// [eventWriter] of its format behind what every format shares on a live
// stream, the filter of commands (--db, --match, --type; the decoder
// filters the snapshot, see snapshotOptions) and the end of a key whose
// chunks stopped coming.
type tapWriter struct {
	w     eventWriter
	dbs   []int             // --db: the databases whose commands are written; none for all
	match [][]byte          // --match: glob patterns of the keys whose commands are written; none for all
	types uint16            // --type: bit per rdb.Type; 0 for all
	kept  []replica.Command // the commands of a transaction that the filter keeps
	evs   []monitor.Event   // scratch: the events of the command being filtered

	// A key being written in chunks: its header, to end it when the
	// snapshot breaks off in the middle of it (see abortKey).
	open    bool
	openHdr rdb.Entry
	openKey []byte
}

func newTapWriter(format string, w io.Writer, cfg writerConfig) (*tapWriter, error) {
	ew, err := newEventWriter(format, w, cfg)
	if err != nil {
		return nil, err
	}
	t := &tapWriter{w: ew, dbs: cfg.DBs}
	for _, p := range cfg.Match {
		t.match = append(t.match, []byte(p))
	}
	for _, ty := range cfg.Types {
		t.types |= 1 << ty
	}
	return t, nil
}

// snapshotOptions are the decoder options that select the snapshot keys
// cfg selects: the same keys tapWriter.keep selects commands on.
func snapshotOptions(cfg writerConfig) []rdb.Option {
	var opts []rdb.Option
	if len(cfg.DBs) > 0 {
		opts = append(opts, rdb.WithDBs(cfg.DBs...))
	}
	switch len(cfg.Match) {
	case 0:
	case 1:
		opts = append(opts, rdb.WithMatch(cfg.Match[0]))
	default:
		pats := make([][]byte, len(cfg.Match))
		for i, p := range cfg.Match {
			pats[i] = []byte(p)
		}
		opts = append(opts, rdb.WithFilter(func(_ int, key []byte, _ rdb.Type) bool { return matchAny(pats, key) }))
	}
	if len(cfg.Types) > 0 {
		opts = append(opts, rdb.WithTypes(cfg.Types...))
	}
	return opts
}

// matchAny reports whether key matches one of the glob patterns.
func matchAny(pats [][]byte, key []byte) bool {
	for _, p := range pats {
		if glob.Match(p, key) {
			return true
		}
	}
	return false
}

// Write renders one event.
func (t *tapWriter) Write(ev replica.Event) error {
	switch e := ev.(type) {
	case *replica.Sync:
		if err := t.abortKey(); err != nil {
			return err
		}
		return t.w.Sync(e)
	case *replica.SnapshotRecord:
		t.follow(e.Record)
		return t.w.Record(e.Record)
	case *replica.Command:
		if !t.keep(e) {
			return nil
		}
		return t.w.Command(e)
	case *replica.Transaction:
		return t.transaction(e)
	case *replica.Disconnected:
		return t.abortKey()
	}
	return nil
}

// Flush writes everything buffered.
func (t *tapWriter) Flush() error { return t.w.Flush() }

// Close ends a key cut off by the end of the run and flushes.
func (t *tapWriter) Close() error {
	err := t.abortKey()
	if ferr := t.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// filtering reports whether any of --db, --match or --type is given.
func (t *tapWriter) filtering() bool { return len(t.dbs) > 0 || len(t.match) > 0 || t.types != 0 }

// keep reports whether the filter keeps a command, which is then written
// whole: it ran in a --db database and, with --match or --type, one of its
// keys matches a pattern and has a --type type. The keys and their types
// are those of the command's events ([monitor.AppendEvents]): the type the
// command implies, where a command on keys of any type (DEL, EXPIRE,
// RENAME ...) passes every --type. A command without keys (PUBLISH) fails
// --match and --type; a db-wide one (FLUSHDB, FLUSHALL, SWAPDB) and one
// whose keys cannot be told pass them, as they may change matching keys.
func (t *tapWriter) keep(c *replica.Command) bool {
	if len(t.dbs) > 0 && !slices.Contains(t.dbs, c.DB) {
		return false
	}
	if len(t.match) == 0 && t.types == 0 {
		return true
	}
	t.evs = monitor.AppendEvents(t.evs[:0], c.DB, c.Args)
	keep := false
	for i := range t.evs {
		e := &t.evs[i]
		switch e.Kind {
		case monitor.KindChange:
			keep = (len(t.match) == 0 || matchAny(t.match, e.Key)) && (t.types == 0 || e.Type == 0 || t.types&(1<<e.Type) != 0)
		case monitor.KindDBChange:
			keep = true
		}
		if keep {
			break
		}
	}
	clear(t.evs) // they alias the replica's buffers
	return keep
}

// transaction writes the commands the filter keeps between MULTI and EXEC;
// nothing when it keeps none.
func (t *tapWriter) transaction(tx *replica.Transaction) error {
	if !t.filtering() {
		return t.w.Transaction(tx, tx.Commands)
	}
	t.kept = t.kept[:0]
	for i := range tx.Commands {
		if t.keep(&tx.Commands[i]) {
			t.kept = append(t.kept, tx.Commands[i])
		}
	}
	if len(t.kept) == 0 {
		return nil
	}
	err := t.w.Transaction(tx, t.kept)
	clear(t.kept) // the arguments alias the replica's buffers
	return err
}

// follow notes the header of a key that arrives in chunks until its last
// chunk.
func (t *tapWriter) follow(rec rdb.Record) {
	e, ok := rec.(*rdb.Entry)
	if !ok {
		return
	}
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

// abortKey ends a key whose chunks stopped coming (the connection broke in
// the middle of the snapshot) with an empty last chunk, so that the output
// stays well-formed: one complete, if partial, JSON record, or RESP
// commands. The full resynchronisation that follows supersedes it.
func (t *tapWriter) abortKey() error {
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
	return t.w.Record(&e)
}

var (
	argsMulti = [][]byte{[]byte("MULTI")}
	argsExec  = [][]byte{[]byte("EXEC")}
)
