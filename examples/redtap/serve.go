package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
	"github.com/redtap/redtap/internal/glob"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// serveOptions are the serve subcommand's flags.
type serveOptions struct {
	connFlags
	match    []string
	window   int
	interval time.Duration
	listen   string
	cluster  bool
	respOptions
}

// matchFlags collects repeated --match flags.
type matchFlags []string

func (m *matchFlags) String() string { return strings.Join(*m, " ") }
func (m *matchFlags) Set(s string) error {
	if s == "" {
		return errors.New("empty pattern")
	}
	*m = append(*m, s)
	return nil
}

func parseServeArgs(args []string, stderr io.Writer) (*serveOptions, error) {
	o := &serveOptions{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	fs.Var((*matchFlags)(&o.match), "match", "glob `PATTERN` of the keys to show (repeatable; default: every key)")
	fs.IntVar(&o.window, "window", assembler.DefaultLimit, "entries per key shown: the newest N of a sorted set or stream, the last N of a list, the first N fields or members of a hash or set")
	fs.DurationVar(&o.interval, "interval", assembler.DefaultInterval, "how often changes are sent, coalesced (`D`); 0 sends each change at once")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "HTTP address to serve the page, /events (SSE) and /ws (WebSocket) on")
	fs.BoolVar(&o.cluster, "cluster", false, "serve every shard of a Redis Cluster: --addr is a comma list of seed nodes")
	o.registerResp(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: redtap serve --addr HOST:PORT [--match PATTERN ...] [flags]\n\n"+
			"Connects to a Redis master as a replica and serves the selected keys live:\n"+
			"a page at /, Server-Sent Events at /events and WebSocket at /ws (the\n"+
			"\"updates\"/\"dUpdates\" messages of package assembler), until SIGINT or\n"+
			"SIGTERM. It takes a full snapshot on every start: the windows are built\n"+
			"from it, so there is no --checkpoint.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseConn(fs, args, &o.connFlags, nil); err != nil {
		return nil, err
	}
	if msg := o.checkResp(fs); msg != "" {
		return nil, usageErr(fs, "%s", msg)
	}
	switch {
	case o.window < 1:
		return nil, usageErr(fs, "--window %d: want at least 1", o.window)
	case o.interval < 0:
		return nil, usageErr(fs, "--interval %v: want 0 (at once) or a positive duration", o.interval)
	case o.listen == "":
		return nil, usageErr(fs, "--listen is required")
	}
	if len(o.match) == 0 {
		o.match = []string{"*"}
	}
	if o.interval == 0 {
		o.interval = assembler.AtOnce
	}
	return o, nil
}

// The page: plain HTML and JS, no build step.
//
//go:embed web/index.html web/app.js web/style.css
var serveFiles embed.FS

// tapServer is what serve runs: replica -> monitor -> assembler -> hub.
type tapServer struct {
	r interface {
		monitor.Source
		Close() error
	} // a *replica.Replica, or a *cluster.Tap with --cluster
	m   *monitor.Monitor
	hub *live.Hub
	mux *http.ServeMux

	respSub *monitor.Subscriber // with --resp: the keyspace face's
}

// startTapServer dials the master and starts the hub.
func startTapServer(ctx context.Context, o *serveOptions) (*tapServer, error) {
	cfg, err := o.replicaConfig()
	if err != nil {
		return nil, err
	}
	cfg.Snapshot = replica.SnapshotFull
	pats := make([][]byte, len(o.match))
	windows := make([]assembler.Window, len(o.match))
	for i, p := range o.match {
		pats[i] = []byte(p)
		windows[i] = assembler.Window{Match: p, Limit: o.window}
	}
	cfg.RDBOptions = []rdb.Option{rdb.WithFilter(func(_ int, key []byte, _ rdb.Type) bool {
		return slices.ContainsFunc(pats, func(p []byte) bool { return glob.Match(p, key) })
	})}
	a, err := assembler.New(assembler.Config{Windows: windows, Interval: o.interval})
	if err != nil {
		return nil, err
	}
	s := &tapServer{}
	if o.cluster {
		s.r, err = dialCluster(ctx, o.addr, cfg)
	} else {
		s.r, err = replica.Dial(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	if s.m, err = monitor.New(s.r); err != nil {
		s.r.Close()
		return nil, err
	}
	sub, err := s.m.Subscribe(monitor.Filter{Match: o.match}, monitor.OnSlow(monitor.Block))
	if err == nil && o.resp != "" {
		// The RESP face's subscriber, taken before the hub reads: both
		// see the snapshot.
		s.respSub, err = s.m.Subscribe(monitor.Filter{Match: o.match}, monitor.OnSlow(monitor.Block))
	}
	if err == nil {
		s.hub, err = live.NewHub(ctx, sub, a, live.Config{Interval: o.interval})
	}
	if err != nil {
		s.m.Close()
		s.r.Close()
		return nil, err
	}
	web, _ := fs.Sub(serveFiles, "web") // "web" is a valid path
	s.mux = http.NewServeMux()
	s.mux.Handle("/events", s.hub.SSE())
	s.mux.Handle("/ws", s.hub.WebSocket())
	s.mux.Handle("/redtap-live.js", live.ClientJS())
	s.mux.Handle("/", http.FileServerFS(web))
	return s, nil
}

// Close stops the hub, then the monitor and the replica; it returns what
// had stopped the hub, if anything.
func (s *tapServer) Close() error {
	err := s.hub.Close()
	s.m.Close()
	return errors.Join(err, s.r.Close())
}

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	o, err := parseServeArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if o.resp != "" {
		return runServeRESP(ctx, o, stdout, stderr)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: serve %s: %v\n", o.addr, err)
		return exitError
	}
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fail(err)
	}
	defer l.Close()
	s, err := startTapServer(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail(err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "redtap: serving %s at http://%s/\n", strings.Join(o.match, " "), l.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	code := exitOK
	select {
	case <-ctx.Done():
	case <-s.hub.Done():
		// The tap failed for good (the replica's final error).
	case err := <-errc:
		code = fail(err)
	}
	srv.Close() // the streams end with it
	if err := s.Close(); err != nil && code == exitOK {
		code = fail(err)
	}
	return code
}
