package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redtap/redtap/rdb"
)

const inBufSize = 1 << 20 // the bufio.Reader the decoder reads through

// dumpOptions are the dump subcommand's flags.
type dumpOptions struct {
	format    string
	dbs       intList
	match     string
	matchSet  bool
	types     typeList
	chunk     int
	future    bool
	keepEmpty bool
	input     string
}

// intList is a repeatable flag of comma-separated non-negative integers.
type intList []int

func (l *intList) String() string { return fmt.Sprint([]int(*l)) }

func (l *intList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return fmt.Errorf("bad database number %q", p)
		}
		*l = append(*l, n)
	}
	return nil
}

// typeList is a repeatable flag of comma-separated type names.
type typeList []rdb.Type

func (l *typeList) String() string { return fmt.Sprint([]rdb.Type(*l)) }

func (l *typeList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		t, err := rdb.ParseType(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("bad type %q (want string, list, set, zset, hash, stream or module)", p)
		}
		*l = append(*l, t)
	}
	return nil
}

// parseDumpArgs parses flags and the one FILE argument; flags may follow
// the file name.
func parseDumpArgs(args []string, stderr io.Writer) (*dumpOptions, error) {
	o := &dumpOptions{}
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.format, "format", formatJSONL, "output format: jsonl, resp or none (decode only; a summary on stderr)")
	fs.Var(&o.dbs, "db", "only keys of this database (repeatable, or a comma list)")
	fs.Func("match", "only keys matching this glob pattern (as KEYS and SCAN MATCH)", func(s string) error {
		o.match, o.matchSet = s, true
		return nil
	})
	fs.Var(&o.types, "type", "only keys of this type: string, list, set, zset, hash, stream, module (repeatable, or a comma list)")
	fs.IntVar(&o.chunk, "chunk", 0, "elements per chunk of a large key (default: the decoder's, 1024)")
	fs.BoolVar(&o.future, "future-versions", false, "read RDB versions newer than known ones as the newest known")
	fs.BoolVar(&o.keepEmpty, "keep-empty", false, "write keys whose collection is empty (Redis drops them on load)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: redtap dump [flags] FILE|-\n\n"+
			"Decodes an RDB snapshot (FILE, or stdin for -) and writes one JSON line per key\n"+
			"(--format jsonl), RESP commands for `redis-cli --pipe` (--format resp), or\n"+
			"nothing but a summary (--format none). Reading stops at the snapshot's end.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) == 0:
		return nil, usageErr(fs, "missing FILE (use - for stdin)")
	case len(pos) > 1:
		return nil, usageErr(fs, "one FILE expected, got %d: %q", len(pos), pos)
	}
	o.input = pos[0]
	if err := checkFormat(o.format); err != nil {
		return nil, usageErr(fs, "%v", err)
	}
	if err := checkChunk(fs, o.chunk); err != nil {
		return nil, err
	}
	return o, nil
}

// decoderOptions maps the flags to decoder options.
func (o *dumpOptions) decoderOptions() []rdb.Option {
	var opts []rdb.Option
	if len(o.dbs) > 0 {
		opts = append(opts, rdb.WithDBs(o.dbs...))
	}
	if o.matchSet {
		opts = append(opts, rdb.WithMatch(o.match))
	}
	if len(o.types) > 0 {
		opts = append(opts, rdb.WithTypes(o.types...))
	}
	if o.chunk > 0 {
		opts = append(opts, rdb.WithChunkSize(o.chunk))
	}
	if o.future {
		opts = append(opts, rdb.WithFutureVersions())
	}
	return opts
}

// dumpStats counts what a dump decoded.
type dumpStats struct {
	keys, records int64
	bytes         int64
}

// dumpRecords decodes a snapshot from r into w, stopping exactly at the
// snapshot's end (bytes after it stay in r). It does not flush w.
func dumpRecords(ctx context.Context, r *bufio.Reader, w eventWriter, opts []rdb.Option) (dumpStats, error) {
	var st dumpStats
	dec, err := rdb.NewDecoder(r, opts...)
	if err != nil {
		return st, err
	}
	defer dec.Close()
	for {
		rec, err := dec.Next(ctx)
		st.bytes = dec.BytesRead()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		st.records++
		if e, ok := rec.(*rdb.Entry); ok && e.Chunk == 0 {
			st.keys++
		}
		if err := w.Record(rec); err != nil {
			return st, &writeError{err}
		}
	}
}

func runDump(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseDumpArgs(args, stderr)
	if err != nil {
		return usageExit(err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: dump %s: %v\n", o.input, err)
		return exitError
	}

	var in *bufio.Reader
	if o.input == "-" {
		// A caller's bufio.Reader is used as is, so that whatever follows
		// the snapshot is still in it afterwards.
		if br, ok := stdin.(*bufio.Reader); ok {
			in = br
		} else {
			in = bufio.NewReaderSize(stdin, inBufSize)
		}
	} else {
		f, err := os.Open(o.input)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		in = bufio.NewReaderSize(f, inBufSize)
	}

	w, err := newEventWriter(o.format, stdout, writerConfig{KeepEmpty: o.keepEmpty, DBs: o.dbs})
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	st, err := dumpRecords(ctx, in, w, o.decoderOptions())
	elapsed := time.Since(start)
	// Flush what was written even when decoding failed. The last line may
	// then be a key's unfinished record: writers never hold a key whole.
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = &writeError{ferr}
	}
	switch {
	case outputGone(err):
		return exitOK
	case err != nil:
		return fail(err)
	}
	if o.format == formatNone {
		mbps := 0.0
		if s := elapsed.Seconds(); s > 0 {
			mbps = float64(st.bytes) / 1e6 / s
		}
		fmt.Fprintf(stderr, "redtap: dump %s: %d keys, %d records, %d bytes in %v (%.1f MB/s)\n",
			o.input, st.keys, st.records, st.bytes, elapsed.Round(time.Microsecond), mbps)
	}
	return exitOK
}
