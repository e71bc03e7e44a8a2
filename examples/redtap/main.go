// Command redtap taps Redis through its replication protocol.
//
//	redtap dump [flags] FILE|-               decode an RDB file into JSON lines or RESP
//	redtap tap --addr HOST:PORT [flags]      follow a master as a replica
//	redtap serve --addr HOST:PORT [flags]    serve keys live to browsers (SSE, WebSocket, a page)
//	redtap watch --addr HOST:PORT [flags]    print key changes, one line each
//	redtap publish --addr HOST:PORT --nats URL --stream NAME [flags]
//	                                         publish key changes to JetStream (or --kafka)
//	redtap help [command]                    show usage
//
// dump reads a snapshot through the streaming decoder of package rdb and
// stops exactly at its end (an AOF tail or any other bytes after it are not
// read as part of it). Output formats:
//
//   - jsonl (default): one JSON object per key, in the format of the
//     conformance corpus (rdb-corpus/MANIFEST.md), plus "aux", "function"
//     and "module_aux" records; see jsonlWriter.
//   - resp: commands that rebuild the dataset through `redis-cli --pipe`;
//     see respWriter.
//   - none: decode everything, print a one-line summary on stderr.
//
// serve follows a master like tap and serves the keys that --match selects
// to browsers: a page at / (a table per key, a small chart per sorted set
// or stream of numbers), Server-Sent Events at /events and WebSocket at /ws,
// with the "updates"/"dUpdates" messages of package assembler (windows of
// the newest --window entries per key, changes coalesced per --interval).
//
// serve --resp ADDR serves the same changes as Redis keyspace notifications
// over RESP (package keyspace): PSUBSCRIBE __keyevent@*__:* as on a master
// with notify-keyspace-events KEA, and REDTAP.SUBSCRIBE ... FROM <replid>
// <offset> to resume without loss. Without --listen it serves only that.
//
// tap, watch and serve take --cluster: --addr is then a comma list of seed
// nodes of a Redis Cluster, and the tap follows every shard (package
// cluster) through failovers and slot migrations; tap's JSON lines carry
// "shard" (and "move" for the two halves of a key's migration).
//
// Keys are written as they are decoded, chunk by chunk: no key is ever held
// whole. Filters (--db, --match, --type) skip other keys without decoding
// them. Exit status: 0 on success (also when the reader of stdout went
// away, as with `| head`), 1 when the input cannot be read or decoded (one
// line on stderr), 2 for usage errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. dump and tap share the writers of writer.go.
type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = []command{
	{"dump", "[flags] FILE|-", "decode an RDB snapshot file (or stdin) into JSON lines, RESP or nothing", runDump},
	{"tap", "--addr HOST:PORT [flags]", "follow a master as a replica: snapshot and live writes", runTap},
	{"serve", "--addr HOST:PORT [flags]", "serve the windows of keys live: a page, SSE at /events, WebSocket at /ws", runServe},
	{"watch", "--addr HOST:PORT [flags]", "print every key change of a master as it happens, one line each", runWatch},
	{"publish", "--addr HOST:PORT --nats URL", "publish every key change to NATS JetStream (or Kafka), exactly once", runPublish},
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // bad input, I/O error
	exitUsage = 2
)

func main() {
	// A closed stdout (`redtap dump f | head`) then shows as EPIPE from
	// Write, which the subcommands treat as a quiet end, instead of killing
	// the process before it can flush and clean up.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line (without the program name) and returns the
// process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			for _, c := range commands {
				if c.name == args[1] {
					return c.run(ctx, []string{"-h"}, stdin, stdout, stderr)
				}
			}
		}
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "redtap: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: redtap <command> [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-5s %-28s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "  %-5s %-28s %s\n", "help", "[command]", "show this help, or a command's flags")
}

// usageErr reports a bad command line on the flag set's output, followed
// by the usage.
func usageErr(fs *flag.FlagSet, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintf(fs.Output(), "redtap %s: %s\n", fs.Name(), msg)
	fs.Usage()
	return errors.New(msg)
}

// usageExit is the exit code for an error from parsing a command line.
func usageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// checkChunk checks --chunk, where 0 means the default unless given.
func checkChunk(fs *flag.FlagSet, chunk int) error {
	if chunk < 0 || chunk == 0 && isFlagSet(fs, "chunk") {
		return usageErr(fs, "--chunk %d: want at least 1", chunk)
	}
	return nil
}

// writeError marks a failure to write the output, as opposed to a failure
// to read the input.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write output: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// outputGone reports a write error because the reader of stdout went away
// (`| head`): a quiet end.
func outputGone(err error) bool {
	var we *writeError
	return errors.As(err, &we) && errors.Is(err, syscall.EPIPE)
}
