package replica

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redtap/redtap/rdb"
)

const readBufferSize = 64 << 10

// Replica is a connection to a master that behaves as one of its replicas.
// Next, and the All iterator over it, must be called from one goroutine at a
// time; Position, Stats, Redirect and Close may be called from any
// goroutine.
type Replica struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex // guards the fields below
	addr       string     // where the next connection goes
	conn       net.Conn   // the current connection, or nil
	streaming  bool       // conn is in its command stream: ACKs may be sent
	redirected string     // set by Redirect until the next connection
	closed     bool
	isClosedA  atomic.Bool // closed, readable without the mutex

	posMu sync.Mutex
	pos   Position

	wmu    sync.Mutex // serializes writes to the connection
	wbuf   []byte
	numBuf [20]byte

	closeCtx  context.Context // cancelled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	ackOff atomic.Int64 // processed offset: what ACKs report
	// eagerUntil (Unix ns) > now while the stream of a new session has not
	// started: ACKs go out every eagerAck instead of every AckInterval,
	// because a master that finished a diskless transfer starts streaming
	// only on an ACK that arrives after it noticed the transfer's end.
	eagerUntil atomic.Int64
	eagerFrom  atomic.Int64  // the stream's start offset for that session
	ackKick    chan struct{} // wakes ackLoop when eager ACKs begin
	st         counters

	ckMu    sync.Mutex
	ckSaved Position
	ckLast  time.Time

	// State of Next (one caller at a time).
	cr        connReader
	br        *bufio.Reader
	ibr       *bufio.Reader // bounded reader for "$<len>" payloads
	p         *respParser
	sr        streamReader
	sess      *session
	db        int // database selected in the stream
	fatal     error
	done      bool // SnapshotOnly: the snapshot has been delivered
	failures  int  // consecutive failed connection attempts
	syncOnly  bool // the last session streamed after a SYNC: no replication id to resume with
	lastErr   error
	noBackoff bool
	inTx      bool
	txDB      int
	txStart   int64
	txCmds    []Command
	txArgs    [][]byte
	cmdSlab   []Command
	recSlab   []SnapshotRecord
}

type counters struct {
	connects, fullSyncs, partialSyncs atomic.Int64
	received                          atomic.Int64
	snapshotBytes, snapshotSize       atomic.Int64
	commands, bytes                   atomic.Int64
}

// Stats are counters of a Replica, read with [Replica.Stats].
type Stats struct {
	Connects, FullSyncs, PartialSyncs int64
	// ReceivedOffset is the replication offset of the last command parsed
	// from the socket; ProcessedOffset is the offset of the last event
	// returned by Next (plus PING/REPLCONF/SELECT consumed after it), which
	// is what REPLCONF ACK reports.
	ReceivedOffset  int64
	ProcessedOffset int64
	// SnapshotBytes of SnapshotSize have been read of the current or last
	// snapshot; SnapshotSize is -1 for diskless ("$EOF:") transfers.
	SnapshotBytes, SnapshotSize int64
	// Commands counts the commands delivered, inside transactions too.
	Commands int64
	// Bytes counts every byte read from masters.
	Bytes int64
}

type phase uint8

const (
	phaseSync          phase = iota // the Sync event is due
	phasePayloadHeader              // reading "$<len>" or "$EOF:<mark>"
	phaseSnapshot                   // decoding the RDB
	phaseSkip                       // discarding a "$<len>" payload
	phaseSnapshotDone               // the SnapshotDone event is due
	phaseStream                     // reading commands
)

// session is one connection to a master.
type session struct {
	conn    net.Conn
	addr    string
	phase   phase
	sync    *Sync
	replid  string
	full    int64 // FULLRESYNC offset
	rdbOnly bool  // SnapshotOnly: stop after the snapshot
	viaSync bool  // PSYNC refused: SYNC, no replication id
	resume  Position

	eof   bool
	mark  [40]byte
	size  int64 // payload length, -1 for "$EOF:"
	lim   io.LimitedReader
	dec   *rdb.Decoder
	keys  int64
	left  int64 // SnapshotSkip: bytes still to discard
	off   int64 // stream offset reached
	began bool  // the command stream started: the session counts as a success

	broken error // set when the session cannot go on; reported as Disconnected
}

// Dial validates cfg, connects to cfg.Addr, performs the replication
// handshake and PSYNC, and returns once the master has answered
// (+FULLRESYNC or +CONTINUE, or the payload header after a SYNC fallback).
// The first call of Next returns the corresponding [*Sync].
//
// The resume position is cfg.Start, else what cfg.Checkpointer loads, else
// none (a fresh full sync). Answers meaning "try later" (-LOADING,
// -NOMASTERLINK) are retried with backoff under cfg.MaxRetries; other
// failures are returned at once as an [*Error] (matching [ErrAuth],
// [ErrProtocol], [ErrSyncRefused] or the network error).
func Dial(ctx context.Context, cfg Config) (*Replica, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := newReplica(cfg)
	r.cr.ctx = ctx

	start := cfg.Start
	if cfg.Snapshot == SnapshotOnly {
		start = Position{}
	} else if start.IsZero() && cfg.Checkpointer != nil {
		if start, err = cfg.Checkpointer.Load(ctx); err != nil {
			return nil, fmt.Errorf("replica: load checkpoint: %w", err)
		}
	}
	r.pos, r.db = start, start.DB
	r.ackOff.Store(start.Offset)
	r.ckSaved = start

	for {
		s, err := r.connect(ctx)
		if err == nil {
			r.sess = s
			break
		}
		var later *errTryLater
		if !errors.As(err, &later) || ctx.Err() != nil {
			r.cancel()
			return nil, err
		}
		r.failures++
		if r.cfg.MaxRetries < 0 || r.cfg.MaxRetries > 0 && r.failures > r.cfg.MaxRetries {
			r.cancel()
			return nil, err
		}
		r.log.Info("replica: master busy, retrying", "addr", r.addr, "err", err)
		if err := r.sleep(ctx, r.backoff()); err != nil {
			r.cancel()
			return nil, err
		}
	}
	r.failures = 0
	r.wg.Add(1)
	go r.ackLoop()
	return r, nil
}

// newReplica returns a replica for a validated configuration, not
// connected.
func newReplica(cfg Config) *Replica {
	r := &Replica{cfg: cfg, log: cfg.Logger, addr: cfg.Addr, ackKick: make(chan struct{}, 1)}
	r.closeCtx, r.cancel = context.WithCancel(context.Background())
	r.br = bufio.NewReaderSize(&r.cr, readBufferSize)
	r.p = newRespParser(cfg.MaxBulkLen, cfg.MaxArgs)
	r.sr = streamReader{br: r.br, p: r.p}
	r.cr.timeout = cfg.ReadTimeout
	r.cr.bytes = &r.st.bytes
	r.st.snapshotSize.Store(-1)
	return r
}

// Next returns the next event. It reads the socket only when called: the
// caller's pace is the backpressure (see the package documentation), while
// a background goroutine keeps sending REPLCONF ACK with the processed
// offset every Config.AckInterval.
//
// On a broken connection Next returns a [*Disconnected]; the next call
// reconnects (with backoff), resumes with PSYNC from Position(), and returns
// a [*Sync] before anything of the new session. Next returns io.EOF after
// the snapshot in SnapshotOnly mode, [ErrClosed] after Close, ctx.Err()
// when ctx ends (nothing is lost: call Next again), and otherwise a final
// error that it keeps returning: an [*Error] matching [ErrAuth],
// [ErrProtocol], [ErrEOFMark], [ErrTooLarge], [ErrSyncRefused], an
// [*rdb.Error] for a snapshot that cannot be decoded, or the last network
// error once Config.MaxRetries reconnects have failed in a row.
//
// The event and every slice in it are valid until the next call of Next.
func (r *Replica) Next(ctx context.Context) (Event, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	if r.fatal != nil {
		return nil, r.fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.cr.ctx = ctx
	r.maybeCheckpoint(ctx)
	if !r.inTx {
		r.p.release()
	}
	ev, err := r.next(ctx)
	if err != nil && r.isClosed() {
		return nil, ErrClosed
	}
	return ev, err
}

// All returns an iterator over Next's events. It ends after io.EOF, or
// after yielding the first error (ErrClosed included) with a nil event.
func (r *Replica) All(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			ev, err := r.Next(ctx)
			if err == io.EOF {
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Position returns the last transaction boundary returned by Next: the
// position a Checkpointer saves and a reconnect resumes from. It is zero
// from a full resynchronisation's Sync event until its SnapshotDone, since
// nothing can be resumed in the middle of a snapshot.
func (r *Replica) Position() Position {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	return r.pos
}

// Redirect makes the next connection go to addr (failover to a promoted
// replica) and drops the current connection, so that Next reconnects at
// once and resumes from Position(): a PSYNC2 master answers +CONTINUE
// through its replid2. Commands already buffered are delivered first.
func (r *Replica) Redirect(addr string) {
	r.mu.Lock()
	r.addr = addr
	conn := r.conn
	if conn != nil {
		r.redirected = addr
	}
	r.mu.Unlock()
	r.log.Info("replica: redirect", "addr", addr)
	if conn != nil {
		conn.Close()
	}
}

// Stats returns the counters.
func (r *Replica) Stats() Stats {
	return Stats{
		Connects:        r.st.connects.Load(),
		FullSyncs:       r.st.fullSyncs.Load(),
		PartialSyncs:    r.st.partialSyncs.Load(),
		ReceivedOffset:  r.st.received.Load(),
		ProcessedOffset: r.ackOff.Load(),
		SnapshotBytes:   r.st.snapshotBytes.Load(),
		SnapshotSize:    r.st.snapshotSize.Load(),
		Commands:        r.st.commands.Load(),
		Bytes:           r.st.bytes.Load(),
	}
}

// Close stops the ACK goroutine, closes the connection (a blocked Next
// returns ErrClosed), waits for the goroutine and saves Position() with the
// Checkpointer, if any: every event returned so far counts as processed.
// Close is idempotent; it returns the checkpoint's error.
func (r *Replica) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.isClosedA.Store(true)
		r.streaming = false
		conn := r.conn
		r.mu.Unlock()
		r.cancel()
		if conn != nil {
			conn.Close()
		}
		r.wg.Wait()
		if r.cfg.Checkpointer != nil {
			r.closeErr = r.saveCheckpoint(context.Background())
		}
	})
	return r.closeErr
}

func (r *Replica) isClosed() bool { return r.isClosedA.Load() }

// next runs the session's state machine until it has an event.
func (r *Replica) next(ctx context.Context) (Event, error) {
	for {
		s := r.sess
		if s == nil {
			if r.done {
				return nil, io.EOF
			}
			if err := r.reconnect(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if s.broken != nil {
			r.dropSession(s)
			r.log.Warn("replica: disconnected", "addr", s.addr, "err", s.broken)
			if r.cfg.MaxRetries < 0 {
				r.fatal = s.broken
			}
			return &Disconnected{Err: s.broken, Addr: s.addr}, nil
		}
		switch s.phase {
		case phaseSync:
			return r.syncEvent(s), nil
		case phasePayloadHeader:
			if err := r.payloadHeader(s); err != nil {
				if err := r.sessionErr(ctx, s, "payload", 0, err); err != nil {
					return nil, err
				}
			}
		case phaseSnapshot:
			ev, err := r.snapshotRecord(ctx, s)
			if err != nil {
				if err := r.sessionErr(ctx, s, "payload", s.dec.BytesRead(), err); err != nil {
					return nil, err
				}
				continue
			}
			if ev != nil {
				return ev, nil
			}
		case phaseSkip:
			if err := r.skipPayload(s); err != nil {
				if err := r.sessionErr(ctx, s, "payload", s.size-s.left, err); err != nil {
					return nil, err
				}
			}
		case phaseSnapshotDone:
			return r.snapshotDone(s), nil
		case phaseStream:
			ev, err := r.nextStream(s)
			if err == nil {
				return ev, nil
			}
			if err := r.streamErr(ctx, s, err); err != nil {
				return nil, err
			}
		}
	}
}

// errKind classifies an error met while reading a session.
type errKind int

const (
	kindData   errKind = iota // the master's bytes are wrong: final
	kindNet                   // the connection failed: reconnect
	kindCtx                   // the caller's context ended
	kindClosed                // Close was called
)

func (r *Replica) classify(ctx context.Context, err error) errKind {
	var later *errTryLater
	switch {
	case r.isClosed():
		return kindClosed
	case r.cr.err != nil, errors.As(err, &later):
		return kindNet
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return kindCtx
	}
	return kindData
}

// netCause describes why a connection broke for a Disconnected event.
func (r *Replica) netCause(err error) error {
	r.mu.Lock()
	to := r.redirected
	r.mu.Unlock()
	if to != "" {
		r.noBackoff = true
		return fmt.Errorf("redirected to %s", to)
	}
	if r.cr.err != nil {
		err = r.cr.err
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the master closed the connection: %w", err)
	}
	return err
}

// sessionErr handles an error outside the command stream. It returns nil
// when the session is marked broken (Next then reports Disconnected), or the
// error Next must return.
func (r *Replica) sessionErr(ctx context.Context, s *session, op string, off int64, err error) error {
	switch r.classify(ctx, err) {
	case kindClosed:
		return ErrClosed
	case kindNet:
		s.broken = &Error{Addr: s.addr, Op: op, Offset: off, Err: r.netCause(err)}
		return nil
	case kindCtx:
		// The snapshot decoder cannot resume a read cut short: drop the
		// session; the next call reports it and starts over.
		s.broken = &Error{Addr: s.addr, Op: op, Offset: off, Err: fmt.Errorf("interrupted: %w", ctx.Err())}
		return ctx.Err()
	}
	var re *Error
	if !errors.As(err, &re) {
		err = &Error{Addr: s.addr, Op: op, Offset: off, Err: err}
	}
	r.fail(s, err)
	return err
}

// streamErr handles an error of the command stream. Context errors leave the
// session intact: the parser resumes where it stopped.
func (r *Replica) streamErr(ctx context.Context, s *session, err error) error {
	switch r.classify(ctx, err) {
	case kindClosed:
		return ErrClosed
	case kindNet:
		s.broken = &Error{Addr: s.addr, Op: "stream", Offset: s.off, Err: r.netCause(err)}
		return nil
	case kindCtx:
		return ctx.Err()
	}
	err = &Error{Addr: s.addr, Op: "stream", Offset: s.off, Err: err}
	r.fail(s, err)
	return err
}

// fail makes err final.
func (r *Replica) fail(s *session, err error) {
	r.fatal = err
	r.log.Error("replica: giving up", "addr", s.addr, "err", err)
	r.dropSession(s)
}

// dropSession closes the session's connection and forgets its state.
func (r *Replica) dropSession(s *session) {
	r.mu.Lock()
	if r.conn == s.conn {
		r.conn = nil
		r.streaming = false
	}
	r.mu.Unlock()
	s.conn.Close()
	if s.dec != nil {
		s.dec.Close()
	}
	if !s.began {
		r.failures++
		r.lastErr = s.broken
	}
	r.sess = nil
	r.inTx = false
	r.p.reset()
}

// reconnect connects again after a Disconnected event, with backoff.
func (r *Replica) reconnect(ctx context.Context) error {
	if r.cfg.MaxRetries < 0 {
		r.fatal = errors.New("replica: reconnecting is disabled (Config.MaxRetries -1)")
		return r.fatal
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.closeCtx, cancel)
	defer stop()
	for {
		if r.cfg.MaxRetries > 0 && r.failures >= r.cfg.MaxRetries {
			r.fatal = r.lastErr
			r.log.Error("replica: giving up after failed reconnects", "failures", r.failures, "err", r.lastErr)
			return r.fatal
		}
		if r.noBackoff && r.failures == 0 {
			r.noBackoff = false
		} else if err := r.sleep(ctx, r.backoff()); err != nil {
			return err
		}
		s, err := r.connect(ctx)
		if err == nil {
			r.sess = s
			return nil
		}
		if r.isClosed() {
			return ErrClosed
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrProtocol) {
			r.fatal = err
			return err
		}
		r.failures++
		r.lastErr = err
		r.log.Warn("replica: reconnect failed", "failures", r.failures, "err", err)
	}
}

// backoff returns a delay with full jitter below
// min(MaxBackoff, MinBackoff*2^failures).
func (r *Replica) backoff() time.Duration {
	d := r.cfg.MinBackoff
	for i := 0; i < r.failures && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// sleep waits for d, ctx or Close.
func (r *Replica) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.closeCtx.Done():
		return ErrClosed
	}
}

// syncEvent delivers the session's Sync.
func (r *Replica) syncEvent(s *session) Event {
	if s.sync.Mode == SyncFull {
		r.setPos(Position{})
		s.phase = phasePayloadHeader
	} else {
		s.sync.Pos = Position{ReplID: s.replid, Offset: s.off, DB: r.db}
		r.setPos(s.sync.Pos)
		s.phase = phaseStream
	}
	r.log.Info("replica: sync", "addr", s.addr, "mode", s.sync.Mode, "replid", s.sync.ReplID,
		"offset", s.sync.Offset, "reason", s.sync.Reason)
	return s.sync
}

// beginStream puts a session into its command stream at offset off, with
// db selected. The caller updates the position when it delivers the event.
func (r *Replica) beginStream(s *session, off int64, db int) {
	s.off, s.began = off, true
	r.syncOnly = s.viaSync
	r.db = db
	r.failures, r.lastErr = 0, nil
	r.ackOff.Store(off)
	r.st.received.Store(off)
	r.mu.Lock()
	if r.conn == s.conn {
		r.streaming = true
	}
	r.mu.Unlock()
	// The first ACK: after a diskless payload the master starts the
	// stream only once it has arrived. More follow quickly (ackLoop) until
	// the stream moves, in case this one came before the master was ready.
	r.eagerFrom.Store(off)
	r.eagerUntil.Store(time.Now().Add(eagerWindow).UnixNano())
	r.writeAck(s.conn, off)
	select {
	case r.ackKick <- struct{}{}:
	default:
	}
}

const (
	eagerAck    = 25 * time.Millisecond
	eagerWindow = 3 * time.Second
)

func (r *Replica) setPos(p Position) {
	r.posMu.Lock()
	r.pos = p
	r.posMu.Unlock()
}

// nextStream reads commands until one is an event.
func (r *Replica) nextStream(s *session) (Event, error) {
	for {
		args, size, err := r.sr.next()
		if err != nil {
			return nil, err
		}
		s.off += size
		r.st.received.Store(s.off)
		name := args[0]
		switch {
		case equalFold(name, "PING"):
			r.consumed(s)
		case equalFold(name, "REPLCONF"):
			if len(args) > 1 && equalFold(args[1], "GETACK") {
				// Like a Redis replica: answer at once with the offset
				// processed before this command.
				r.writeAck(s.conn, r.ackOff.Load())
			}
			r.consumed(s)
		case equalFold(name, "SELECT"):
			if len(args) != 2 {
				return nil, protoErr("SELECT with %d arguments", len(args)-1)
			}
			db, err := strconv.Atoi(string(args[1]))
			if err != nil || db < 0 {
				return nil, protoErr("SELECT %q", args[1])
			}
			r.db = db
			r.consumed(s)
		case equalFold(name, "MULTI"):
			if r.inTx {
				return nil, protoErr("MULTI inside MULTI")
			}
			r.inTx, r.txDB, r.txStart = true, r.db, s.off-size
			r.txCmds, r.txArgs = r.txCmds[:0], r.txArgs[:0]
		case equalFold(name, "EXEC"):
			if !r.inTx {
				return nil, protoErr("EXEC without MULTI")
			}
			r.inTx = false
			tx := &Transaction{DB: r.txDB, Commands: slices.Clone(r.txCmds), Start: r.txStart, Offset: s.off,
				Pos: Position{ReplID: s.replid, Offset: s.off, DB: r.db}}
			r.st.commands.Add(int64(len(tx.Commands)))
			r.delivered(s)
			return tx, nil
		default:
			if r.inTx {
				if len(r.txCmds) >= maxTxCommands || int64(r.p.arenaLen()) > 2*r.cfg.MaxBulkLen {
					return nil, fmt.Errorf("%w: transaction of more than %d commands or %d bytes",
						ErrTooLarge, len(r.txCmds), r.p.arenaLen())
				}
				i := len(r.txArgs)
				r.txArgs = append(r.txArgs, args...)
				r.txCmds = append(r.txCmds, Command{DB: r.db, Args: r.txArgs[i:len(r.txArgs):len(r.txArgs)], Offset: s.off})
				continue
			}
			c := r.newCommand()
			c.DB, c.Args, c.Offset = r.db, args, s.off
			c.Pos = Position{ReplID: s.replid, Offset: s.off, DB: r.db}
			r.st.commands.Add(1)
			r.delivered(s)
			return c, nil
		}
	}
}

// consumed records a command that is not delivered (PING, REPLCONF,
// SELECT): outside a transaction it is processed at once.
func (r *Replica) consumed(s *session) {
	if !r.inTx {
		r.delivered(s)
		r.p.release()
	}
}

// delivered advances the processed offset and the position to s.off.
func (r *Replica) delivered(s *session) {
	r.ackOff.Store(s.off)
	r.posMu.Lock()
	r.pos = Position{ReplID: s.replid, Offset: s.off, DB: r.db}
	r.posMu.Unlock()
}

// newCommand hands out Command events from a slab: one allocation per 256
// commands, and an event is never reused.
func (r *Replica) newCommand() *Command {
	if len(r.cmdSlab) == 0 {
		r.cmdSlab = make([]Command, 256)
	}
	c := &r.cmdSlab[0]
	r.cmdSlab = r.cmdSlab[1:]
	return c
}

func (r *Replica) newRecord() *SnapshotRecord {
	if len(r.recSlab) == 0 {
		r.recSlab = make([]SnapshotRecord, 256)
	}
	c := &r.recSlab[0]
	r.recSlab = r.recSlab[1:]
	return c
}

// equalFold compares an ASCII command name case-insensitively.
func equalFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// writeAck sends REPLCONF ACK <off> on conn. A failed write closes conn, so
// that Next notices and reconnects.
func (r *Replica) writeAck(conn net.Conn, off int64) {
	r.wmu.Lock()
	num := strconv.AppendInt(r.numBuf[:0], off, 10)
	b := append(r.wbuf[:0], "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$"...)
	b = strconv.AppendInt(b, int64(len(num)), 10)
	b = append(b, "\r\n"...)
	b = append(b, num...)
	b = append(b, "\r\n"...)
	r.wbuf = b
	err := conn.SetWriteDeadline(time.Now().Add(r.cfg.ReadTimeout))
	if err == nil {
		_, err = conn.Write(b)
	}
	r.wmu.Unlock()
	if err != nil {
		r.log.Debug("replica: ack failed", "err", err)
		conn.Close()
	}
}

// ackLoop sends REPLCONF ACK every AckInterval while a session streams,
// whatever the caller's pace. It never reads the connection.
func (r *Replica) ackLoop() {
	defer r.wg.Done()
	t := time.NewTimer(r.cfg.AckInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.closeCtx.Done():
			return
		case <-t.C:
		case <-r.ackKick:
		}
		now := time.Now()
		eager := now.UnixNano() < r.eagerUntil.Load() && r.st.received.Load() == r.eagerFrom.Load()
		if eager || now.Sub(last) >= r.cfg.AckInterval {
			r.mu.Lock()
			conn, ok := r.conn, r.streaming
			r.mu.Unlock()
			if ok {
				r.writeAck(conn, r.ackOff.Load())
				last = now
			}
		}
		next := r.cfg.AckInterval - time.Since(last)
		if eager || r.eagerUntil.Load() > now.UnixNano() {
			next = min(next, eagerAck)
		}
		t.Reset(max(next, time.Millisecond))
	}
}

// maybeCheckpoint saves Position() when CheckpointInterval has passed.
func (r *Replica) maybeCheckpoint(ctx context.Context) {
	if r.cfg.Checkpointer == nil {
		return
	}
	now := time.Now()
	if now.Sub(r.ckLast) < r.cfg.CheckpointInterval {
		return
	}
	r.ckLast = now
	if err := r.saveCheckpoint(ctx); err != nil {
		r.log.Warn("replica: checkpoint failed", "err", err)
	}
}

// saveCheckpoint saves the current position if it is new. Reading the
// position under ckMu keeps concurrent saves (Next, Close) monotonic.
func (r *Replica) saveCheckpoint(ctx context.Context) error {
	r.ckMu.Lock()
	defer r.ckMu.Unlock()
	p := r.Position()
	if p.IsZero() || p == r.ckSaved {
		return nil
	}
	if err := r.cfg.Checkpointer.Save(ctx, p); err != nil {
		return err
	}
	r.ckSaved = p
	return nil
}

// connReader is the reader under the bufio.Reader: it counts bytes, keeps
// the read deadline ReadTimeout ahead (resetting it at most every
// ReadTimeout/16, so that it costs nothing per read), makes a pending read
// return when the caller's context ends, and remembers the connection's
// first error.
type connReader struct {
	conn    net.Conn
	timeout time.Duration
	ctx     context.Context
	lastSet time.Time
	dirty   bool  // the deadline was moved by a cancellation
	err     error // sticky: the connection failed
	bytes   *atomic.Int64
}

var longAgo = time.Unix(1, 0)

func (c *connReader) reset(conn net.Conn) {
	c.conn, c.err, c.dirty, c.lastSet = conn, nil, false, time.Time{}
}

func (c *connReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	ctx := c.ctx
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := time.Now()
	if c.dirty || now.Sub(c.lastSet) >= c.timeout/16 {
		if err := c.conn.SetReadDeadline(now.Add(c.timeout)); err != nil {
			c.err = err
			return 0, err
		}
		c.lastSet, c.dirty = now, false
	}
	var stop func() bool
	var fired chan struct{}
	if ctx.Done() != nil {
		fired = make(chan struct{})
		conn := c.conn
		stop = context.AfterFunc(ctx, func() {
			conn.SetReadDeadline(longAgo) //nolint:errcheck // best effort
			close(fired)
		})
	}
	n, err := c.conn.Read(p)
	c.bytes.Add(int64(n))
	if stop != nil && !stop() {
		<-fired
		c.dirty = true
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			return n, ctx.Err()
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &timeoutError{d: c.timeout, err: err}
		}
		c.err = err
	}
	return n, err
}

type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("nothing from the master for %v: %v", e.d, e.err)
}
func (e *timeoutError) Unwrap() error { return e.err }
