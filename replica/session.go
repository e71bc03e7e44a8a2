package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// A session goes through these phases; phaseSkip serves SnapshotSkip with
// a "$<len>" payload, and a SnapshotOnly session ends at phaseSnapshotDone:
//
//	phaseSync ─┬─ full ─▶ phasePayloadHeader ─┬─▶ phaseSnapshot ─┬─▶ phaseSnapshotDone ─▶ phaseStream
//	           │                              └─▶ phaseSkip ─────┘                             ▲
//	           └─ continue ────────────────────────────────────────────────────────────────────┘
type phase uint8

const (
	phaseSync          phase = iota // the Sync event is due
	phasePayloadHeader              // reading "$<len>" or "$EOF:<mark>"
	phaseSnapshot                   // decoding the RDB
	phaseSkip                       // discarding a "$<len>" payload
	phaseSnapshotDone               // the SnapshotDone event is due
	phaseStream                     // reading commands
)

// session is one connection to a master, from the handshake to the
// disconnection.
type session struct {
	conn    net.Conn // the connection (for a dual-channel sync: the held main one)
	side    net.Conn // the snapshot's connection of a dual-channel sync, until its end
	addr    string
	port    int // the listening port announced
	phase   phase
	sync    *Sync
	replid  string
	full    int64    // FULLRESYNC offset
	rdbOnly bool     // SnapshotOnly: stop after the snapshot
	viaSync bool     // PSYNC refused: SYNC, no replication id
	resume  Position // what PSYNC asked for
	pl      payload  // the snapshot transfer
	off     int64    // stream offset reached
	db      int      // database selected in the stream
	began   bool     // the command stream started: the session counts as a success

	dualPending bool // +DUALCHANNELSYNC or +RDBCHANNELSYNC: the snapshot's connection is still to be made

	rdbChannel   bool   // +RDBCHANNELSYNC (Redis 8's rdb channel), not Valkey's dual channel
	mainClientID uint64 // the main connection's client id given by +RDBCHANNELSYNC

	broken error // set when the session cannot go on; reported as Disconnected
}

// retryState counts the connection attempts that failed in a row.
type retryState struct {
	failures  int   // consecutive failed connection attempts
	lastErr   error // the last one's error
	noBackoff bool  // reconnect once without delay (after Redirect)
}

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
				if err := r.sessionErr(ctx, s, "payload", s.pl.dec.BytesRead(), err); err != nil {
					return nil, err
				}
				continue
			}
			if ev != nil {
				return ev, nil
			}
		case phaseSkip:
			if err := r.skipPayload(s); err != nil {
				if err := r.sessionErr(ctx, s, "payload", s.pl.size-s.pl.left, err); err != nil {
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

// syncEvent delivers the session's Sync.
func (r *Replica) syncEvent(s *session) Event {
	if s.sync.Mode == SyncFull {
		r.pos.set(Position{})
		s.phase = phasePayloadHeader
	} else {
		s.sync.Pos = Position{ReplID: s.replid, Offset: s.off, DB: s.db}
		r.pos.set(s.sync.Pos)
		s.phase = phaseStream
	}
	r.log.Info("replica: sync", "addr", s.addr, "mode", s.sync.Mode, "replid", s.sync.ReplID,
		"offset", s.sync.Offset, "reason", s.sync.Reason)
	return s.sync
}

// beginStream puts a session into its command stream at offset off, with
// db selected. The caller updates the position when it delivers the event.
func (r *Replica) beginStream(s *session, off int64, db int) {
	s.off, s.db, s.began = off, db, true
	r.syncOnly = s.viaSync
	r.retry.failures, r.retry.lastErr = 0, nil
	r.ack.processed.Store(off)
	r.st.received.Store(off)
	r.link.stream(s.conn)
	// The first ACK: after a diskless payload the master starts the
	// stream only once it has arrived. More follow quickly (ackLoop) until
	// the stream moves, in case this one came before the master was ready.
	r.ack.beginEager(off)
	r.writeAck(s.conn, off)
	r.ack.wake()
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
	case r.link.closed.Load():
		return kindClosed
	case r.in.cr.err != nil, errors.As(err, &later):
		return kindNet
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return kindCtx
	}
	return kindData
}

// netCause describes why a connection broke for a Disconnected event.
func (r *Replica) netCause(err error) error {
	if to := r.link.redirectedTo(); to != "" {
		r.retry.noBackoff = true
		return fmt.Errorf("redirected to %s", to)
	}
	if r.in.cr.err != nil {
		err = r.in.cr.err
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
		cause := r.netCause(err)
		if hc, ok := s.conn.(*heldConn); ok && s.side != nil {
			// The main connection failed while the snapshot travelled.
			if herr := hc.holdErr(); herr != nil && r.link.redirectedTo() == "" {
				cause = fmt.Errorf("dual-channel sync: the main connection: %w", herr)
			}
		}
		s.broken = &Error{Addr: s.addr, Op: op, Offset: off, Err: cause}
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
	r.link.detach(s.conn)
	s.conn.Close()
	if s.side != nil {
		r.link.detachSide(s.side)
		s.side.Close()
		s.side = nil
	}
	if s.pl.dec != nil {
		s.pl.dec.Close()
	}
	if !s.began {
		r.retry.failures++
		r.retry.lastErr = s.broken
	}
	r.sess = nil
	r.tx.abort()
	r.in.p.reset()
}

// reconnect connects again after a Disconnected event, with backoff.
func (r *Replica) reconnect(ctx context.Context) error {
	if r.cfg.MaxRetries < 0 {
		r.fatal = errors.New("replica: reconnecting is disabled (Config.MaxRetries -1)")
		return r.fatal
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.life.ctx, cancel)
	defer stop()
	for {
		if r.cfg.MaxRetries > 0 && r.retry.failures >= r.cfg.MaxRetries {
			r.fatal = r.retry.lastErr
			r.log.Error("replica: giving up after failed reconnects", "failures", r.retry.failures, "err", r.retry.lastErr)
			return r.fatal
		}
		if r.retry.noBackoff && r.retry.failures == 0 {
			r.retry.noBackoff = false
		} else if err := r.sleep(ctx, r.backoff()); err != nil {
			return err
		}
		s, err := r.connect(ctx)
		if err == nil {
			r.sess = s
			return nil
		}
		if r.link.closed.Load() {
			return ErrClosed
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrProtocol) {
			r.fatal = err
			return err
		}
		r.retry.failures++
		r.retry.lastErr = err
		r.log.Warn("replica: reconnect failed", "failures", r.retry.failures, "err", err)
	}
}

// backoff returns a delay with full jitter below
// min(MaxBackoff, MinBackoff*2^failures).
func (r *Replica) backoff() time.Duration {
	d := r.cfg.MinBackoff
	for i := 0; i < r.retry.failures && d < r.cfg.MaxBackoff; i++ {
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
	case <-r.life.ctx.Done():
		return ErrClosed
	}
}
