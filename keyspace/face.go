package keyspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redtap/redtap/monitor"
	"github.com/tidwall/redcon"
)

// Defaults of Config.
const (
	DefaultHistory      = 1 << 16
	DefaultHistoryBytes = 64 << 20
	DefaultQueueLen     = 1 << 13
	DefaultQueueBytes   = 8 << 20
	DefaultWriteTimeout = 30 * time.Second
)

// Errors.
var (
	// ErrConfig is matched by the errors of New for an invalid Config.
	ErrConfig = errors.New("keyspace: invalid config")
	// ErrClosed is returned by Serve and Err after Close.
	ErrClosed = errors.New("keyspace: closed")
	// ErrSyntax is matched by the error for malformed FROM arguments.
	ErrSyntax = errors.New("keyspace: syntax error")
	// ErrNotRetained is matched by the error REDTAP.SUBSCRIBE answers for
	// a FROM position the history no longer (or does not) cover.
	ErrNotRetained = errors.New("keyspace: position not retained")
)

// Config configures a Face. The zero value is usable.
type Config struct {
	// History bounds the retained notifications (default DefaultHistory),
	// HistoryBytes the memory they hold (default DefaultHistoryBytes). A
	// REDTAP.SUBSCRIBE ... FROM resumes from a position they still cover.
	History      int
	HistoryBytes int64
	// QueueLen and QueueBytes bound how far, in notifications and bytes,
	// a subscriber may fall behind the newest notification (defaults
	// DefaultQueueLen, DefaultQueueBytes); they must not exceed History
	// and HistoryBytes. A subscriber's queue is its stretch of the shared
	// history: it costs no memory of its own.
	QueueLen   int
	QueueBytes int64
	// OnSlow is what happens to a subscriber past its queue's bounds, as
	// for a monitor subscriber: Block (the default) holds the stream,
	// and so every subscriber and, through the tap, the master, until it
	// catches up (lossless); Drop disconnects it (a REDTAP.SUBSCRIBE
	// client resumes with FROM its last position, within the history);
	// Reset skips its backlog, telling REDTAP.SUBSCRIBE clients with a
	// redtap.reset message.
	OnSlow monitor.SlowPolicy
	// WriteTimeout bounds one write to a subscriber's socket (default
	// DefaultWriteTimeout); a subscriber that takes longer is disconnected.
	WriteTimeout time.Duration
	// Auth checks the credentials of AUTH (on servers the face runs with
	// Serve) and of HELLO ... AUTH (also on the caller's server), with
	// the connection so that a caller can record the user in its own
	// state. Nil: no authentication (AUTH is refused, as by a Redis
	// without a password). With Auth set, a connection of Serve must
	// authenticate before anything but AUTH, HELLO and QUIT.
	Auth func(conn redcon.Conn, username, password string) error
	// Allow, when set, is asked before every subscription command with
	// its arguments (name first); its error is sent to the client
	// (prefix it "NOPERM " for a Redis-like reply). On the caller's own
	// server it is the place for the caller's ACL check.
	Allow func(conn redcon.Conn, args [][]byte) error
	// TrackKeys makes the face keep which keys exist, their types, the
	// members of hashes, sets and sorted sets and the lengths of lists (not
	// the values), to publish what the arguments alone cannot tell: the
	// "del" after a command that empties a hash, list, set or sorted set,
	// no "del" for a DEL of a missing key, no "sadd" for SMOVE of a member
	// the destination has (see the package documentation). It needs the
	// subscriber to see the tap's full snapshot (replica.SnapshotFull, a
	// subscriber made before the first Next) and a filter that selects by
	// key and database only; memory grows with the members of the
	// selected keys. Until its first full snapshot, after a command whose
	// keys cannot be told, and for a key after a command it does not
	// follow (LREM, ZREMRANGEBYLEX, SUNIONSTORE and the
	// other commands without a typed view), it publishes what the
	// arguments tell.
	TrackKeys bool
	// Logger receives slow-subscriber and connection events; nil is
	// silent.
	Logger *slog.Logger
}

// Face serves a monitor subscriber's changes as keyspace notifications over
// RESP (see the package documentation). Its methods are safe for concurrent
// use.
type Face struct {
	cfg Config
	sub *monitor.Subscriber
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when the pump ends

	mu       sync.Mutex
	h        *history
	lastSeq  uint64        // head when h.last was set: where a new subscription starts
	wake     chan struct{} // closed and replaced when entries are appended
	advanced chan struct{} // a session moved its cursor (for Block)
	sessions map[*session]struct{}
	conns    map[redcon.Conn]*connState // states of connections not detached (Handler)
	servers  map[*redcon.Server]net.Listener
	track    *tracker // Config.TrackKeys; used by the pump only
	started  bool     // a batch has been read
	reset    bool     // a full resync is in progress
	closed   bool
	err      error
	stats    Stats
}

// Stats are a Face's counters.
type Stats struct {
	// Notifications counts the notifications appended to the history,
	// Resyncs the full resynchronisations of the tap (its first sync
	// included).
	Notifications, Resyncs int64
	// Subscribers is the number of connections in subscribed mode;
	// Dropped and Resets count the slow-subscriber policy's actions.
	Subscribers     int
	Dropped, Resets int64
	// Retained is the number of notifications in the history.
	Retained int
}

// New starts a face reading sub, whose filter selects the keys it serves
// (Block is the policy that loses nothing). The face owns one goroutine, the
// only caller of sub's Next, until Close or until ctx ends; it commits each
// batch's position to sub once the batch is in the history. Close does not
// close sub.
func New(ctx context.Context, sub *monitor.Subscriber, cfg Config) (*Face, error) {
	if sub == nil {
		return nil, fmt.Errorf("%w: nil subscriber", ErrConfig)
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.HistoryBytes == 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = min(DefaultQueueLen, cfg.History)
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = min(DefaultQueueBytes, cfg.HistoryBytes)
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	switch {
	case cfg.History < 1 || cfg.HistoryBytes < 1:
		return nil, fmt.Errorf("%w: History %d, HistoryBytes %d: want positive", ErrConfig, cfg.History, cfg.HistoryBytes)
	case cfg.QueueLen < 1 || cfg.QueueLen > cfg.History:
		return nil, fmt.Errorf("%w: QueueLen %d: want 1 to History (%d)", ErrConfig, cfg.QueueLen, cfg.History)
	case cfg.QueueBytes < 1 || cfg.QueueBytes > cfg.HistoryBytes:
		return nil, fmt.Errorf("%w: QueueBytes %d: want 1 to HistoryBytes (%d)", ErrConfig, cfg.QueueBytes, cfg.HistoryBytes)
	case cfg.OnSlow > monitor.Reset:
		return nil, fmt.Errorf("%w: OnSlow %d", ErrConfig, cfg.OnSlow)
	case cfg.WriteTimeout < 0:
		return nil, fmt.Errorf("%w: WriteTimeout %v", ErrConfig, cfg.WriteTimeout)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Face{
		cfg: cfg, sub: sub, log: log,
		done:     make(chan struct{}),
		h:        newHistory(cfg.History, cfg.HistoryBytes),
		wake:     make(chan struct{}),
		advanced: make(chan struct{}, 1),
		sessions: make(map[*session]struct{}),
		conns:    make(map[redcon.Conn]*connState),
		servers:  make(map[*redcon.Server]net.Listener),
	}
	if cfg.TrackKeys {
		f.track = newTracker()
	}
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.wg.Add(1)
	go f.pump()
	return f, nil
}

// Done is closed when the face stops reading its subscriber: on Close, when
// ctx ends, or on the subscriber's error (see Err). Subscribed clients are
// disconnected then.
func (f *Face) Done() <-chan struct{} { return f.done }

// Err returns why the face stopped reading (nil while it runs; ErrClosed
// after Close).
func (f *Face) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Position returns the position after the last batch the face has read:
// where a subscription made now starts. The replication id is empty until
// the tap's first sync.
func (f *Face) Position() (replID string, offset int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h.last.replID, f.h.last.offset
}

// Stats returns the face's counters.
func (f *Face) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Subscribers = len(f.sessions)
	s.Retained = int(f.h.head - f.h.tail)
	return s
}

// Close stops the pump, the servers of Serve and every subscribed
// connection, and waits for their goroutines. It is idempotent.
func (f *Face) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	if f.err == nil {
		f.err = ErrClosed
	}
	servers := make(map[*redcon.Server]net.Listener, len(f.servers))
	for s, l := range f.servers {
		servers[s] = l
	}
	f.mu.Unlock()
	f.cancel()
	for s, l := range servers {
		l.Close() // also before s serves it
		s.Close()
	}
	f.closeSessions(nil)
	f.wg.Wait()
	return nil
}

// closeSessions closes the sessions of server srv (every one for nil).
func (f *Face) closeSessions(srv *redcon.Server) {
	f.mu.Lock()
	var ss []*session
	for s := range f.sessions {
		if srv == nil || s.server == srv {
			ss = append(ss, s)
		}
	}
	f.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
}

// pump is the only caller of the subscriber's Next.
func (f *Face) pump() {
	defer f.wg.Done()
	var notes []Notification
	var entries []entry
	for {
		b, err := f.sub.Next(f.ctx)
		if err != nil {
			f.mu.Lock()
			if f.err == nil {
				if f.ctx.Err() != nil {
					err = ErrClosed
				}
				f.err = err
			}
			f.mu.Unlock()
			close(f.done)
			f.closeSessions(nil)
			return
		}
		entries = f.entries(entries[:0], &notes, b)
		if !f.append(entries, b) {
			continue // ctx ended while blocked: Next returns the error
		}
		if !b.Pos.IsZero() {
			f.sub.Commit(b.Pos)
		}
	}
}

// entries returns the history entries of batch b.
func (f *Face) entries(dst []entry, notes *[]Notification, b *monitor.Batch) []entry {
	if len(b.Events) == 0 {
		return dst
	}
	switch b.Events[0].Kind {
	case monitor.KindReset:
		f.mu.Lock()
		f.reset = f.started || b.Events[0].Err != nil
		f.stats.Resyncs++
		f.mu.Unlock()
		if f.track != nil {
			f.track.reset(b.Events[0].Err == nil)
		}
		if b.Events[0].Err != nil { // our own slow policy: no snapshot follows
			return append(dst, entry{marker: true, replID: f.replID(b), offset: b.Offset, idx: allIdx, size: entryOverhead})
		}
		return dst
	case monitor.KindSnapshotKey:
		if f.track != nil {
			for i := range b.Events {
				f.track.snapshot(b.Events[i].Entry)
			}
		}
		return dst
	case monitor.KindSnapshotDone:
		if f.track != nil {
			f.track.snapshotDone()
		}
		f.mu.Lock()
		r := f.reset
		f.reset = false
		f.mu.Unlock()
		if r {
			return append(dst, entry{marker: true, replID: f.replID(b), offset: b.Offset, idx: allIdx, size: entryOverhead})
		}
		return dst
	}
	if f.track != nil {
		*notes = f.track.appendBatch((*notes)[:0], b.Events)
	} else {
		*notes = AppendNotifications((*notes)[:0], b.Events)
	}
	id := f.replID(b)
	for i, n := range *notes {
		dst = append(dst, newEntry(id, b.Offset, i, n))
	}
	return dst
}

func (f *Face) replID(b *monitor.Batch) string {
	if b.Pos.ReplID != "" {
		return b.Pos.ReplID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h.last.replID
}

// append adds a batch's entries to the history, waiting for Block
// subscribers as needed, and moves the last position past the batch. It
// returns false when the face's context ended while it waited.
func (f *Face) append(es []entry, b *monitor.Batch) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started && !b.Pos.IsZero() {
		f.started = true
		f.h.floor = position{replID: b.Pos.ReplID, offset: b.Offset, idx: -1}
	}
	for i := range es {
		for f.mustWait(es[i].size) {
			f.wakeLocked()
			f.mu.Unlock()
			select {
			case <-f.advanced:
			case <-f.ctx.Done():
				f.mu.Lock()
				return false
			}
			f.mu.Lock()
		}
		f.h.append(es[i])
		if !es[i].marker {
			f.stats.Notifications++
		}
	}
	if !b.Pos.IsZero() {
		f.h.last = position{replID: b.Pos.ReplID, offset: b.Offset, idx: allIdx}
		f.lastSeq = f.h.head
	}
	if len(es) > 0 {
		f.wakeLocked()
	}
	return true
}

func (f *Face) wakeLocked() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// mustWait reports whether appending an entry of size bytes must wait for
// a Block subscriber.
func (f *Face) mustWait(size int64) bool {
	if f.cfg.OnSlow != monitor.Block {
		return false
	}
	h := f.h
	for s := range f.sessions {
		c := s.cursor
		if c >= h.head {
			continue
		}
		if h.head-c >= uint64(f.cfg.QueueLen) || h.bytesSince(c)+size > f.cfg.QueueBytes ||
			c <= h.tail && h.full(size) {
			return true
		}
	}
	return false
}

// Commands are the commands the face serves on a caller's server (Handler,
// Mount), in lower case.
var Commands = []string{"subscribe", "psubscribe", "unsubscribe", "punsubscribe", "redtap.subscribe", "hello"}

// Handler returns a redcon handler that serves the face's Commands and hands
// every other command to next (which may be nil: "unknown command"). A
// connection that subscribes is detached from its server and served by the
// face from then on; in RESP3, or once it has unsubscribed from everything,
// its other commands still go to next.
//
// HELLO is served by the face (it must know the protocol each connection
// speaks). Call ConnClosed from the server's closed callback so that the
// face forgets a connection that said HELLO and never subscribed.
func (f *Face) Handler(next redcon.Handler) redcon.Handler {
	return redcon.HandlerFunc(func(conn redcon.Conn, cmd redcon.Command) {
		st := f.mountedState(conn)
		if !f.serveFace(conn, cmd, st, next, nil) {
			if next == nil {
				conn.WriteError(unknownCommand(cmd.Args))
				return
			}
			next.ServeRESP(conn, cmd)
		}
	})
}

// Mount registers the face's Commands on mux, next to the caller's own;
// other commands of subscribed connections go to mux.
func (f *Face) Mount(mux *redcon.ServeMux) {
	h := f.Handler(mux)
	for _, name := range Commands {
		mux.Handle(name, h)
	}
}

// ConnClosed makes the face forget conn; for the closed callback of a
// caller's server (see Handler).
func (f *Face) ConnClosed(conn redcon.Conn) {
	f.mu.Lock()
	delete(f.conns, conn)
	f.mu.Unlock()
}

func (f *Face) mountedState(conn redcon.Conn) *connState {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.conns[conn]; st != nil {
		return st
	}
	return &connState{proto: 2, authed: true, mounted: true}
}

// Serve serves RESP on l until ctx ends, Close, or l fails: the face's
// commands plus AUTH, PING, ECHO, QUIT, RESET, SELECT, CLIENT and COMMAND
// enough for redis-cli and client libraries to connect. It closes l and the
// connections it accepted when it returns; it returns nil when ctx ended,
// ErrClosed after Close.
func (f *Face) Serve(ctx context.Context, l net.Listener) error {
	var srv *redcon.Server
	srv = redcon.NewServerNetwork(l.Addr().Network(), l.Addr().String(),
		func(conn redcon.Conn, cmd redcon.Command) {
			st, _ := conn.Context().(*connState)
			if st == nil {
				st = &connState{proto: 2, authed: f.cfg.Auth == nil}
				conn.SetContext(st)
			}
			f.serveOwn(conn, cmd, st, srv)
		}, nil, nil)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	f.servers[srv] = l
	f.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		l.Close() // also before srv serves it
		srv.Close()
	})
	err := srv.Serve(l)
	stop()
	srv.Close()
	f.mu.Lock()
	delete(f.servers, srv)
	closed := f.closed
	f.mu.Unlock()
	f.closeSessions(srv)
	switch {
	case closed:
		return ErrClosed
	case ctx.Err() != nil:
		return nil
	}
	return err
}

func unknownCommand(args [][]byte) string {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	if len(args) > 0 {
		b.WriteString(shorten(args[0]))
	}
	b.WriteString("', with args beginning with:")
	for i := 1; i < len(args) && i < 4; i++ {
		fmt.Fprintf(&b, " '%s'", shorten(args[i]))
	}
	return b.String()
}
