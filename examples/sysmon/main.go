// Command sysmon is redtap's demo: a live system-metrics dashboard in the
// browser, fed by collectors that write host metrics into Redis sorted sets.
//
//	sysmon [flags]                                 Redis + collector + dashboard, all in one
//	sysmon collect --redis HOST:PORT [flags]       a collector only (one per host)
//
// With no --redis, sysmon starts its own redis-server (on a free loopback
// port, no persistence, removed on exit). The collector writes this
// machine's metrics to sysmon:<host>:<metric> (see collect.go for the
// records); the dashboard (serve.go, web/) shows every host's windows and
// follows their changes. SIGINT and SIGTERM stop everything cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redtap/redtap/examples/internal/tlsflags"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const defaultListen = "127.0.0.1:8080"

func main() {
	// go-redis logs every failed dial itself; the collector already says
	// once that Redis is unreachable, and when it is back.
	redis.SetLogger(quietLogger{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// options are the flags of both modes.
type options struct {
	collectOnly bool // the collect subcommand

	redis    string
	user     string
	password string
	tls      tlsflags.Flags

	collect bool
	host    string
	every   time.Duration
	retain  time.Duration

	listen    string
	listenSet bool
	window    int
}

func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	name := "sysmon"
	if len(args) > 0 && args[0] == "collect" {
		o.collectOnly, name, args = true, "sysmon collect", args[1:]
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	if o.collectOnly {
		fs.StringVar(&o.redis, "redis", "", "Redis `HOST:PORT` to write to (required)")
	} else {
		fs.StringVar(&o.redis, "redis", "", "use the Redis at `HOST:PORT` (default: start a redis-server of our own)")
	}
	fs.StringVar(&o.user, "user", "", "ACL user")
	fs.StringVar(&o.password, "password", "", "password (default: $REDISCLI_AUTH)")
	o.tls.Register(fs, false)
	fs.StringVar(&o.host, "host", host, "host `NAME` to file this machine's metrics under")
	fs.DurationVar(&o.every, "every", time.Second, "collect every `DURATION`")
	fs.DurationVar(&o.retain, "retain", 10*time.Minute, "trim records older than `DURATION` from Redis")
	if !o.collectOnly {
		fs.BoolVar(&o.collect, "collect", true, "collect this machine's metrics (false: serve the dashboard only)")
		fs.StringVar(&o.listen, "listen", defaultListen, "serve the dashboard on `ADDR` (when the default is busy, a free port)")
		fs.IntVar(&o.window, "window", 300, "records per key the dashboard keeps (`N`)")
	}
	fs.Usage = func() {
		if o.collectOnly {
			fmt.Fprintf(fs.Output(), "Usage: sysmon collect --redis HOST:PORT [flags]\n\n"+
				"Writes this machine's metrics (cpu, mem, load, net, disk, procs) to the\n"+
				"sorted sets sysmon:<host>:<metric> every --every, until SIGINT or SIGTERM.\n\nFlags:\n")
		} else {
			fmt.Fprintf(fs.Output(), "Usage: sysmon [flags]\n       sysmon collect --redis HOST:PORT [flags]\n\n"+
				"Serves a live system-metrics dashboard. With no --redis it starts its own\n"+
				"redis-server; unless --collect=false it collects this machine's metrics\n"+
				"into it. Run `sysmon collect` on other hosts to add them.\n\nFlags:\n")
		}
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.listenSet = set["listen"]
	fail := func(format string, a ...any) (*options, error) {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintf(fs.Output(), "%s: %s\n", name, msg)
		fs.Usage()
		return nil, errors.New(msg)
	}
	o.tls.Imply()
	if o.password == "" && !set["password"] {
		o.password = os.Getenv("REDISCLI_AUTH")
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected arguments %q", fs.Args())
	case o.collectOnly && o.redis == "":
		return fail("--redis is required")
	case o.redis == "" && (o.user != "" || set["password"] || o.tls.TLS):
		return fail("--user, --password and TLS flags need --redis (the managed redis-server has neither)")
	case !o.tls.Paired():
		return fail("--cert and --key go together")
	case o.host == "":
		return fail("--host is required (the host name is unknown)")
	case o.every <= 0:
		return fail("--every %v: want a positive duration", o.every)
	case o.retain <= 0:
		return fail("--retain %v: want a positive duration", o.retain)
	case !o.collectOnly && o.window < 1:
		return fail("--window %d: want at least 1", o.window)
	}
	if o.redis == "" {
		o.password = "" // $REDISCLI_AUTH is for a server of the user's
	}
	return o, nil
}

// run runs a command line (without the program name) until ctx is done and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sysmon: %v\n", err)
		return exitError
	}
	tlsConf, err := o.tls.Config()
	if err != nil {
		return fail(err)
	}
	addr := o.redis
	if addr == "" {
		rp, err := startRedis(ctx, "")
		if err != nil {
			if ctx.Err() != nil {
				return exitOK // interrupted while starting
			}
			return fail(err)
		}
		defer rp.Stop() //nolint:errcheck // nothing to do about a temp dir that stays
		addr = rp.Addr
		fmt.Fprintf(stdout, "sysmon: started redis-server on %s (pid %d; stopped on exit)\n", addr, rp.Pid())
	}

	// Stopping, in this order: the dashboard, the collector, its client,
	// the managed server.
	rdb := redis.NewClient(&redis.Options{
		Addr: addr, Username: o.user, Password: o.password, TLSConfig: tlsConf,
		DisableIdentity: true, MaxRetries: -1,
	})
	defer rdb.Close()
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	if o.collectOnly || o.collect {
		col := newCollector(rdb, collectorConfig{Host: o.host, Every: o.every, Retain: o.retain, Log: log})
		wg.Add(1)
		go func() {
			defer wg.Done()
			col.Run(ctx) //nolint:errcheck // it only ends with ctx
		}()
		if o.collectOnly {
			fmt.Fprintf(stdout, "sysmon: collecting %s into %s every %v\n", o.host, addr, o.every)
			<-ctx.Done()
			return exitOK
		}
	}

	h, closeDash, err := newDashboardHandler(ctx, dashConfig{
		Addr: addr, Username: o.user, Password: o.password, TLS: tlsConf,
		Match: []string{keyPrefix + "*"}, Window: o.window,
	})
	if err != nil {
		return fail(err)
	}
	defer closeDash() //nolint:errcheck // shutting down
	l, err := net.Listen("tcp", o.listen)
	if err != nil && !o.listenSet {
		log.Info("sysmon: default address busy, using a free port", "addr", o.listen, "err", err)
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{
		Handler:           newMux(h),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(stdout, "sysmon: dashboard at http://%s/\n", l.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fail(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx) //nolint:errcheck // the streams end with ctx
	return exitOK
}
