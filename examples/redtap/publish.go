package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/jetstream"
	"github.com/redtap/redtap/publish/kafka"
	"github.com/redtap/redtap/replica"
)

// publishOptions are the publish subcommand's flags.
type publishOptions struct {
	connFlags
	selectFlags
	checkpoint string
	natsURL    string
	natsCreds  string
	stream     string
	prefix     string
	subjects   string
	dupWindow  time.Duration
	maxPending int
	kafkaAddr  string
	topic      string
	partitions int
	verbose    bool
}

// publishDrainTimeout bounds the wait for the broker's acknowledgements
// after SIGINT or SIGTERM.
const publishDrainTimeout = 10 * time.Second

func parsePublishArgs(args []string, stderr io.Writer) (*publishOptions, error) {
	o := &publishOptions{}
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	o.registerSelect(fs)
	fs.StringVar(&o.checkpoint, "checkpoint", "", "JSON `FILE` to resume from; it only ever holds what the broker acknowledged")
	fs.StringVar(&o.natsURL, "nats", "", "NATS server `URL` (nats://HOST:PORT) of the JetStream stream")
	fs.StringVar(&o.natsCreds, "nats-creds", "", "NATS credentials `FILE` (user JWT and NKey seed); a user and password go into the URL (nats://user:pass@HOST:PORT)")
	fs.StringVar(&o.stream, "stream", "", "JetStream stream `NAME` (created, with subjects PREFIX.>, when missing)")
	fs.StringVar(&o.prefix, "subject-prefix", "redtap", "first token of every subject: `PREFIX`.<db>.<key>")
	fs.StringVar(&o.subjects, "subjects", "key", "subject per key (PREFIX.<db>.<key>) or per db (PREFIX.<db>)")
	fs.DurationVar(&o.dupWindow, "dup-window", 10*time.Minute, "duplicate window of a stream created here: a restart within it publishes nothing twice")
	fs.IntVar(&o.maxPending, "max-pending", 0, "messages published and not yet acknowledged, at most (default 4096 for JetStream, 10000 for Kafka)")
	fs.StringVar(&o.kafkaAddr, "kafka", "", "Kafka seed broker `HOST:PORT` (instead of --nats)")
	fs.StringVar(&o.topic, "topic", "", "Kafka `TOPIC` (with --kafka); the record key is the Redis key")
	fs.IntVar(&o.partitions, "partitions", 1, "partitions of a Kafka topic created here (a key's events stay in one)")
	fs.BoolVar(&o.verbose, "v", false, "log retries and resynchronisations on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: redtap publish --addr HOST:PORT (--nats URL --stream NAME | --kafka HOST:PORT --topic T) [flags]\n\n"+
			"Connects to a Redis master as a replica and publishes one message per key\n"+
			"change, snapshot key and full resynchronisation (a reset marker) to a NATS\n"+
			"JetStream stream or a Kafka topic, until SIGINT or SIGTERM. The body is the\n"+
			"JSON record `redtap tap` writes; headers carry the replication id, offset,\n"+
			"index and kind. Each message has an id from (replid, offset, index), and\n"+
			"--checkpoint only advances to what the broker acknowledged, so a restart\n"+
			"publishes nothing twice and loses nothing.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseConn(fs, args, &o.connFlags, &o.selectFlags); err != nil {
		return nil, err
	}
	switch {
	case (o.natsURL == "") == (o.kafkaAddr == ""):
		return nil, usageErr(fs, "want one of --nats and --kafka")
	case o.natsURL != "" && o.stream == "":
		return nil, usageErr(fs, "--nats needs --stream")
	case o.kafkaAddr != "" && o.topic == "":
		return nil, usageErr(fs, "--kafka needs --topic")
	case o.subjects != "key" && o.subjects != "db":
		return nil, usageErr(fs, "unknown --subjects %q (want key or db)", o.subjects)
	case o.prefix == "":
		return nil, usageErr(fs, "--subject-prefix must not be empty")
	case o.partitions < 1:
		return nil, usageErr(fs, "--partitions %d: want at least 1", o.partitions)
	case o.maxPending < 0:
		return nil, usageErr(fs, "--max-pending %d: want at least 1", o.maxPending)
	}
	return o, nil
}

// sink connects to the broker and returns the sink, and what closes the
// connection after the sink.
func (o *publishOptions) sink(ctx context.Context, stderr io.Writer, log *slog.Logger) (publish.Sink, func(), error) {
	if o.kafkaAddr != "" {
		created, err := kafka.EnsureTopic(ctx, []string{o.kafkaAddr}, o.topic, int32(o.partitions))
		if err != nil {
			return nil, nil, err
		}
		if created {
			fmt.Fprintf(stderr, "redtap: publish: created topic %s (%d partitions)\n", o.topic, o.partitions)
		}
		s, err := kafka.NewSink(ctx, kafka.Config{Brokers: []string{o.kafkaAddr}, Topic: o.topic, MaxPending: o.maxPending, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		return s, func() {}, nil
	}
	opts := []nats.Option{nats.Name("redtap publish"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1)} // while disconnected, the sink retries (and blocks) instead of buffering
	if o.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(o.natsCreds))
	}
	nc, err := nats.Connect(o.natsURL, opts...)
	if err != nil {
		return nil, nil, err
	}
	created, err := jetstream.EnsureStream(ctx, nc, jetstream.StreamConfig{Name: o.stream, Prefix: o.prefix, Duplicates: o.dupWindow})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if created {
		fmt.Fprintf(stderr, "redtap: publish: created stream %s (subjects %s.>, duplicate window %v)\n", o.stream, o.prefix, o.dupWindow)
	}
	s, err := jetstream.NewSink(ctx, nc, jetstream.Config{Stream: o.stream, MaxPending: o.maxPending, Logger: log})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return s, nc.Close, nil
}

func runPublish(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) int {
	o, err := parsePublishArgs(args, stderr)
	if err != nil {
		return usageExit(err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: publish %s: %v\n", o.addr, err)
		return exitError
	}
	var log *slog.Logger
	if o.verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	cfg, err := o.replicaConfig()
	if err != nil {
		return fail(err)
	}
	sel := o.selection()
	cfg.RDBOptions = snapshotOptions(sel)
	if o.checkpoint != "" {
		// The publisher commits only what the broker acknowledged.
		if _, err := useCheckpoint(ctx, &cfg, o.checkpoint, "publish", stderr); err != nil {
			return fail(err)
		}
	}
	sink, closeConn, err := o.sink(ctx, stderr, log)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail(err)
	}
	defer closeConn()
	defer sink.Close()
	r, err := replica.Dial(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail(err)
	}
	pcfg := publish.Config{Prefix: o.prefix, Filter: monitor.Filter{Match: sel.Match, DBs: sel.DBs, Types: sel.Types}, Logger: log}
	if o.subjects == "db" {
		pcfg.Subjects = publish.PerDB
	}
	p, err := publish.New(r, sink, pcfg)
	if err != nil {
		r.Close()
		return fail(err)
	}
	code := exitOK
	if err := p.Run(ctx); err != nil && ctx.Err() == nil {
		code = fail(err)
	}
	// What was sent is acknowledged (or not) within the drain timeout;
	// the replica's Close saves the last position committed.
	dctx, cancel := context.WithTimeout(context.Background(), publishDrainTimeout)
	if err := p.Drain(dctx); err != nil && code == exitOK {
		code = fail(fmt.Errorf("waiting for acknowledgements: %w", err))
	}
	cancel()
	p.Close()
	if err := r.Close(); err != nil && !errors.Is(err, replica.ErrClosed) && code == exitOK {
		code = fail(err)
	}
	st := p.Stats()
	msg := fmt.Sprintf("redtap: publish %s: %d messages, %d acknowledged, position %v", o.addr, st.Messages, st.Acked, st.Committed)
	if js, ok := sink.(*jetstream.Sink); ok {
		ss := js.Stats()
		msg += fmt.Sprintf("; %d skipped as stored, %d duplicates dropped by the stream, %d retries", ss.Skipped, ss.Duplicates, ss.Retries)
	}
	fmt.Fprintln(stderr, msg)
	return code
}
