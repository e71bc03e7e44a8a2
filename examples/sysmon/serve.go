package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
	"github.com/redtap/redtap/internal/glob"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// dashConfig is what the dashboard's server needs to know: where the master
// is, which keys to show and how many records per key a window keeps.
type dashConfig struct {
	Addr     string // master "host:port"
	Username string
	Password string
	TLS      *tls.Config // nil: plain TCP
	Match    []string    // glob patterns of the keys to show
	Window   int         // newest records kept per key
}

// Bounds of what the dashboard holds over all keys: generous for the
// collector's few dozen keys, and a cap if --match selects a big keyspace.
const (
	dashMaxEntries = 1 << 20
	dashMaxBytes   = 256 << 20
)

// newDashboardHandler returns the handler of /events (SSE) and /ws
// (WebSocket), and a function that stops its background work and waits for
// it. It taps the master as a replica: a full sync whose snapshot is
// decoded for the matching keys only, then the command stream, folded by a
// monitor subscriber (policy Block: nothing is lost, a slow dashboard slows
// the tap, not the master) into an assembler's windows of the newest Window
// records of each sorted set (one per record id), which a live.Hub serves.
// Messages follow the schema of web/README.md; their id is the replication
// offset. Nothing polls Redis.
func newDashboardHandler(ctx context.Context, cfg dashConfig) (http.Handler, func() error, error) {
	if cfg.Window <= 0 {
		return nil, nil, fmt.Errorf("sysmon: window %d: want at least 1", cfg.Window)
	}
	if len(cfg.Match) == 0 {
		cfg.Match = []string{"*"}
	}
	rcfg := replica.Config{Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, TLS: cfg.TLS,
		Snapshot: replica.SnapshotFull}
	windows := make([]assembler.Window, 0, len(cfg.Match))
	for _, p := range cfg.Match {
		windows = append(windows, assembler.Window{Match: p, Limit: cfg.Window, DedupID: true})
	}
	// Decode only the matching keys of the snapshot.
	if len(cfg.Match) == 1 {
		rcfg.RDBOptions = []rdb.Option{rdb.WithMatch(cfg.Match[0])}
	} else {
		pats := make([][]byte, len(cfg.Match))
		for i, p := range cfg.Match {
			pats[i] = []byte(p)
		}
		rcfg.RDBOptions = []rdb.Option{rdb.WithFilter(func(_ int, key []byte, _ rdb.Type) bool {
			return slices.ContainsFunc(pats, func(p []byte) bool { return glob.Match(p, key) })
		})}
	}
	a, err := assembler.New(assembler.Config{Windows: windows, MaxEntries: dashMaxEntries, MaxBytes: dashMaxBytes})
	if err != nil {
		return nil, nil, fmt.Errorf("sysmon: %w", err)
	}
	r, err := replica.Dial(ctx, rcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("sysmon: connect to %s: %w", cfg.Addr, err)
	}
	m, err := monitor.New(r)
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("sysmon: %w", err)
	}
	sub, err := m.Subscribe(monitor.Filter{Match: cfg.Match}, monitor.OnSlow(monitor.Block))
	if err == nil {
		var h *live.Hub
		if h, err = live.NewHub(ctx, sub, a, live.Config{}); err == nil {
			stop := func() error {
				err := h.Close()
				m.Close()
				return errors.Join(err, r.Close())
			}
			return newDashMux(h), sync.OnceValue(stop), nil
		}
	}
	m.Close()
	r.Close()
	return nil, nil, fmt.Errorf("sysmon: %w", err)
}

// newDashMux routes /events and /ws to the hub.
func newDashMux(h *live.Hub) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/events", h.SSE())
	mux.Handle("/ws", h.WebSocket())
	return mux
}
