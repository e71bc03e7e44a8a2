package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/monitor"
)

// Defaults of Config.
const (
	DefaultQueueLen     = 64
	DefaultKeepalive    = 15 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	DefaultMaxPatterns  = 64

	// MaxQueueLen bounds Config.QueueLen: an SSE viewer's queue goes out
	// in one writev, which takes at most 1024 buffers on Linux.
	MaxQueueLen = 1024
)

// Errors.
var (
	// ErrConfig is matched by the errors of NewHub for an invalid Config.
	ErrConfig = errors.New("live: invalid config")
	// ErrClosed is what Err returns after Close ended the hub.
	ErrClosed = errors.New("live: hub closed")
)

// Config configures a Hub. The zero value of each field means its default.
type Config struct {
	// Interval is how often the hub calls Assembler.Tick: the Interval of
	// the assembler's Config (default assembler.DefaultInterval; with
	// assembler.AtOnce, Tick only retries refused messages, every
	// DefaultInterval).
	Interval time.Duration
	// QueueLen bounds each viewer's queue of messages (default
	// DefaultQueueLen, at most MaxQueueLen). A full queue refuses
	// messages: the assembler keeps them and, past its own bounds, sends
	// the viewer a fresh updates.
	QueueLen int
	// Keepalive is the period of the SSE comment that keeps proxies from
	// closing an idle stream (default DefaultKeepalive).
	Keepalive time.Duration
	// WriteTimeout bounds one write to a viewer's socket (default
	// DefaultWriteTimeout): a viewer that takes longer is disconnected.
	WriteTimeout time.Duration
	// MaxPatterns bounds the patterns one viewer may ask for (default
	// DefaultMaxPatterns).
	MaxPatterns int
	// OriginPatterns are the hosts, besides the request's own, from which
	// browsers may open a WebSocket (see websocket.AcceptOptions).
	OriginPatterns []string
	// Logger receives the hub's errors and connection events (default:
	// silent).
	Logger *slog.Logger
}

// Hub drives an Assembler from a monitor Subscriber and serves it to
// viewers. See the package documentation for its goroutines.
type Hub struct {
	a   *assembler.Assembler
	sub *monitor.Subscriber
	cfg Config
	log *slog.Logger

	cancel context.CancelFunc
	done   chan struct{} // closed when all its goroutines have returned
	wg     sync.WaitGroup

	mu     sync.Mutex
	err    error // what ended the puller
	closed bool

	writers []*writer // of the SSE viewers on taken connections
	nextW   atomic.Uint64

	fmu  sync.Mutex // guards last
	last struct {   // the SSE frame of the last message sent
		f     *frame
		id    int64
		event string
		data  []byte
	}
}

// NewHub starts a hub pulling sub into a. It runs until ctx ends, Close is
// called, or sub's Next fails (io.EOF included); Err then tells why. The
// hub is the only caller of sub's Next; it does not close sub.
func NewHub(ctx context.Context, sub *monitor.Subscriber, a *assembler.Assembler, cfg Config) (*Hub, error) {
	if sub == nil || a == nil {
		return nil, fmt.Errorf("%w: nil subscriber or assembler", ErrConfig)
	}
	if cfg.Interval < 0 && cfg.Interval != assembler.AtOnce || cfg.QueueLen < 0 || cfg.Keepalive < 0 || cfg.WriteTimeout < 0 || cfg.MaxPatterns < 0 {
		return nil, fmt.Errorf("%w: negative Interval, QueueLen, Keepalive, WriteTimeout or MaxPatterns", ErrConfig)
	}
	if cfg.QueueLen > MaxQueueLen {
		return nil, fmt.Errorf("%w: QueueLen %d above %d", ErrConfig, cfg.QueueLen, MaxQueueLen)
	}
	if cfg.Interval == 0 {
		cfg.Interval = assembler.DefaultInterval
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Keepalive == 0 {
		cfg.Keepalive = DefaultKeepalive
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxPatterns == 0 {
		cfg.MaxPatterns = DefaultMaxPatterns
	}
	h := &Hub{a: a, sub: sub, cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	ctx, h.cancel = context.WithCancel(ctx)
	h.wg.Add(2)
	go h.pull(ctx)
	go h.tick(ctx)
	for range max(runtime.GOMAXPROCS(0), 1) {
		w := &writer{wake: make(chan struct{}, 1)}
		h.writers = append(h.writers, w)
		h.wg.Add(1)
		go func() { defer h.wg.Done(); w.run(ctx) }()
	}
	go func() { h.wg.Wait(); close(h.done) }()
	return h, nil
}

// maxStaged bounds the batches one message gathers with AtOnce.
const maxStaged = 512

// pull is the puller goroutine: Next, Apply, Commit.
func (h *Hub) pull(ctx context.Context) {
	defer h.wg.Done()
	defer h.cancel() // stops the ticker, and the viewers
	for {
		b, err := h.sub.Next(ctx)
		if err != nil {
			h.mu.Lock()
			switch {
			case h.closed:
				h.err = ErrClosed
			case ctx.Err() != nil:
				h.err = context.Cause(ctx)
			default:
				h.err = err
				if err != io.EOF {
					h.log.Error("live: monitor subscriber failed", "err", err)
				}
			}
			h.mu.Unlock()
			return
		}
		if h.cfg.Interval != assembler.AtOnce {
			h.a.Apply(b)
			h.sub.Commit(b.Pos)
			continue
		}
		// At once: what arrived together leaves together, as one
		// message per selection, as soon as nothing more is at hand
		// (or maxStaged batches are, so that a stream that never pauses
		// is still delivered as it goes).
		for n := 0; b != nil; n++ {
			h.a.Stage(b)
			h.sub.Commit(b.Pos)
			if n+1 == maxStaged {
				break
			}
			if b, err = h.sub.TryNext(ctx); err != nil {
				break // Next returns it again
			}
		}
		h.a.Deliver()
	}
}

// tick is the ticker goroutine.
func (h *Hub) tick(ctx context.Context) {
	defer h.wg.Done()
	iv := h.cfg.Interval
	if iv == assembler.AtOnce {
		iv = assembler.DefaultInterval
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.a.Tick()
		}
	}
}

// Done is closed once the hub has stopped (its goroutines have returned).
// Open SSE and WebSocket connections end then.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Err returns nil while the hub runs, then why it stopped: ErrClosed after
// Close, the context's cause, or the subscriber's error (io.EOF when a
// snapshot-only source ended).
func (h *Hub) Err() error {
	select {
	case <-h.done:
	default:
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Close stops the hub and waits for its goroutines. It returns the error
// that had stopped the hub before, if any (nil when it was running or
// ended by Close or ctx); it is idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	<-h.done
	err := h.Err()
	if err == io.EOF || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// Assembler returns the assembler the hub drives.
func (h *Hub) Assembler() *assembler.Assembler { return h.a }
