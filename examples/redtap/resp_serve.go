package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redtap/redtap/internal/glob"
	"github.com/redtap/redtap/keyspace"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// respOptions are serve's flags for the RESP face (package keyspace).
type respOptions struct {
	resp        string
	respHistory int
	respTrack   bool
	withHTTP    bool // --listen given too
}

func (o *respOptions) registerResp(fs *flag.FlagSet) {
	fs.StringVar(&o.resp, "resp", "", "also serve the changes as Redis keyspace notifications on this RESP `ADDR` (SUBSCRIBE, PSUBSCRIBE __keyevent@*__:*, REDTAP.SUBSCRIBE ... FROM); without --listen, only that")
	fs.IntVar(&o.respHistory, "resp-history", keyspace.DefaultHistory, "notifications kept for REDTAP.SUBSCRIBE ... FROM (`N`)")
	fs.BoolVar(&o.respTrack, "resp-track", true, "keep the selected keys' members (not values) from the snapshot on, to publish the \"del\" after a command that empties a key as the master does (keyspace.Config.TrackKeys)")
}

// checkResp validates the RESP flags after parsing; "" when they are fine.
func (o *respOptions) checkResp(fs *flag.FlagSet) string {
	o.withHTTP = isFlagSet(fs, "listen")
	if o.respHistory < 1 {
		return fmt.Sprintf("--resp-history %d: want at least 1", o.respHistory)
	}
	return ""
}

// runServeRESP is serve with --resp: the RESP face, and the HTTP one when
// --listen was given too, on one tap.
func runServeRESP(ctx context.Context, o *serveOptions, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: serve %s: %v\n", o.addr, err)
		return exitError
	}
	rl, err := net.Listen("tcp", o.resp)
	if err != nil {
		return fail(err)
	}
	defer rl.Close()
	var hl net.Listener
	if o.withHTTP {
		if hl, err = net.Listen("tcp", o.listen); err != nil {
			return fail(err)
		}
		defer hl.Close()
	}

	// One tap: the HTTP face's (with its snapshot), or one of our own.
	var m *monitor.Monitor
	var ts *tapServer
	var r interface {
		monitor.Source
		Close() error
	} // a *replica.Replica, or a *cluster.Tap with --cluster
	if o.withHTTP {
		if ts, err = startTapServer(ctx, o); err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			return fail(err)
		}
		defer ts.Close()
		m = ts.m
	} else {
		cfg, err := o.replicaConfig()
		if err != nil {
			return fail(err)
		}
		cfg.Snapshot = replica.SnapshotSkip // notifications come from the stream
		if o.respTrack {
			// The tracker needs the snapshot (its keys' members).
			cfg.Snapshot = replica.SnapshotFull
			pats := make([][]byte, len(o.match))
			for i, p := range o.match {
				pats[i] = []byte(p)
			}
			cfg.RDBOptions = []rdb.Option{rdb.WithFilter(func(_ int, key []byte, _ rdb.Type) bool {
				return slices.ContainsFunc(pats, func(p []byte) bool { return glob.Match(p, key) })
			})}
		}
		if o.cluster {
			r, err = dialCluster(ctx, o.addr, cfg)
		} else {
			r, err = replica.Dial(ctx, cfg)
		}
		if err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			return fail(err)
		}
		defer r.Close()
		if m, err = monitor.New(r); err != nil {
			return fail(err)
		}
		defer m.Close()
	}
	var sub *monitor.Subscriber
	if ts != nil {
		sub = ts.respSub // subscribed before the hub started reading
	} else if sub, err = m.Subscribe(monitor.Filter{Match: o.match}, monitor.OnSlow(monitor.Block)); err != nil {
		return fail(err)
	}
	face, err := keyspace.New(ctx, sub, keyspace.Config{History: o.respHistory, QueueLen: min(keyspace.DefaultQueueLen, o.respHistory), TrackKeys: o.respTrack})
	if err != nil {
		return fail(err)
	}
	defer face.Close()

	errc := make(chan error, 2)
	go func() { errc <- face.Serve(ctx, rl) }()
	fmt.Fprintf(stdout, "redtap: serving keyspace notifications of %s at redis://%s\n", strings.Join(o.match, " "), rl.Addr())
	var srv *http.Server
	var hubDone <-chan struct{}
	if o.withHTTP {
		srv = &http.Server{Handler: ts.mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- srv.Serve(hl) }()
		hubDone = ts.hub.Done()
		fmt.Fprintf(stdout, "redtap: serving %s at http://%s/\n", strings.Join(o.match, " "), hl.Addr())
	}
	code := exitOK
	select {
	case <-ctx.Done():
	case <-hubDone:
	case <-face.Done():
		// The tap failed for good (the replica's final error).
		if err := face.Err(); err != nil && !errors.Is(err, keyspace.ErrClosed) {
			code = fail(err)
		}
	case err := <-errc:
		if err != nil && ctx.Err() == nil {
			code = fail(err)
		}
	}
	if srv != nil {
		srv.Close()
	}
	face.Close()
	return code
}
