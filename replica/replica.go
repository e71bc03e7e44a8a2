package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Replica is a connection to a master that behaves as one of its replicas.
// Next, and the All iterator over it, must be called from one goroutine at a
// time; Position, Commit, Stats, Redirect and Close may be called from any
// goroutine.
type Replica struct {
	cfg  Config
	log  *slog.Logger
	link link       // the connection, shared with Close, Redirect and the ACK goroutine
	w    connWriter // serialises writes to the connection
	life lifecycle
	pos  posCell    // the position Next has reached
	ack  acker      // REPLCONF ACK state
	ck   *committer // nil without Config.Checkpointer
	st   counters

	// State of Next (one caller at a time).
	in       input
	sess     *session // nil between a Disconnected event and the reconnect
	tx       txBuilder
	slab     slabs
	retry    retryState
	syncOnly bool  // the last session streamed after a SYNC: no replication id to resume with
	done     bool  // SnapshotOnly: the snapshot has been delivered
	fatal    error // final: Next keeps returning it
}

// lifecycle is what Close stops and waits for.
type lifecycle struct {
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the ACK and checkpoint goroutines
	once   sync.Once
	err    error // Close's result
}

type counters struct {
	connects, fullSyncs, partialSyncs atomic.Int64
	received                          atomic.Int64
	snapshotBytes, snapshotSize       atomic.Int64
	commands, bytes                   atomic.Int64
	dualSyncs, held, heldOnDisk       atomic.Int64
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
	// DualChannelSyncs counts the full syncs made with dual-channel
	// replication (Config.DualChannel). Held is how much of the command
	// stream was held while the last one's snapshot travelled, HeldOnDisk
	// how much of that went to the temporary file (Config.DualChannel.HoldMemory).
	DualChannelSyncs int64
	Held, HeldOnDisk int64
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
	start := cfg.Start
	if cfg.Snapshot == SnapshotOnly {
		start = Position{}
	} else if start.IsZero() && cfg.Checkpointer != nil {
		if start, err = cfg.Checkpointer.Load(ctx); err != nil {
			return nil, fmt.Errorf("replica: load checkpoint: %w", err)
		}
	}
	r := newReplica(cfg, start)
	r.in.cr.ctx = ctx
	for {
		s, err := r.connect(ctx)
		if err == nil {
			r.sess = s
			break
		}
		var later *errTryLater
		if !errors.As(err, &later) || ctx.Err() != nil {
			r.life.cancel()
			return nil, err
		}
		r.retry.failures++
		if r.cfg.MaxRetries < 0 || r.cfg.MaxRetries > 0 && r.retry.failures > r.cfg.MaxRetries {
			r.life.cancel()
			return nil, err
		}
		r.log.Info("replica: master busy, retrying", "addr", r.link.target(), "err", err)
		if err := r.sleep(ctx, r.backoff()); err != nil {
			r.life.cancel()
			return nil, err
		}
	}
	r.retry.failures = 0
	r.life.wg.Add(1)
	go r.ackLoop()
	if r.ck != nil {
		r.life.wg.Add(1)
		go func() {
			defer r.life.wg.Done()
			r.ck.run(r.life.ctx)
		}()
	}
	return r, nil
}

// newReplica returns a replica for a validated configuration, not
// connected, that resumes from start.
func newReplica(cfg Config, start Position) *Replica {
	r := &Replica{cfg: cfg, log: cfg.Logger}
	r.link.addr = cfg.Addr
	r.w.timeout = cfg.ReadTimeout
	r.life.ctx, r.life.cancel = context.WithCancel(context.Background())
	r.pos.set(start)
	r.ack.interval, r.ack.kick = cfg.AckInterval, make(chan struct{}, 1)
	r.ack.processed.Store(start.Offset)
	if cfg.Checkpointer != nil {
		r.ck = newCommitter(cfg.Checkpointer, cfg.CheckpointInterval, cfg.Logger, start)
	}
	r.st.snapshotSize.Store(-1)
	r.in.init(cfg, &r.st.bytes)
	return r
}

// Next returns the next event. It reads the socket only when called: the
// caller's pace is the backpressure (see the package documentation), while
// a background goroutine keeps sending REPLCONF ACK with the processed
// offset every Config.AckInterval. Unless Config.ManualCommit is set, a call
// of Next commits the events returned before it (see [Replica.Commit]).
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
	if r.link.closed.Load() {
		return nil, ErrClosed
	}
	if r.fatal != nil {
		return nil, r.fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.in.cr.ctx = ctx
	if r.ck != nil && !r.cfg.ManualCommit {
		r.ck.commit(r.Position())
	}
	if !r.tx.open {
		r.in.p.release()
	}
	ev, err := r.next(ctx)
	if err != nil && r.link.closed.Load() {
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

// Buffered returns how many bytes of the stream have been received from
// the master and not yet returned by Next: when it is not 0, Next can
// likely return an event without waiting for the network (it may still
// wait for the rest of a command that has partly arrived). Like Next, it
// must not be called concurrently with Next. It is how a caller that
// delivers at once gathers the events that arrived together (see
// monitor.Subscriber.TryNext).
func (r *Replica) Buffered() int {
	if r.sess == nil || r.link.closed.Load() {
		return 0
	}
	return r.in.br.Buffered()
}

// Position returns the last transaction boundary Next has returned (plus
// the PING, REPLCONF and SELECT consumed after it): the position a
// reconnect resumes from. It is zero from a full resynchronisation's Sync
// event until its SnapshotDone, since nothing can be resumed in the middle
// of a snapshot. The events that end at a transaction boundary carry their
// own position (Pos), which is what a consumer should commit.
func (r *Replica) Position() Position { return r.pos.get() }

// Commit declares that the caller has durably processed everything up to
// p, the Pos of an event Next returned: Config.Checkpointer may save p. It
// is safe to call from any goroutine and never blocks on the save, which a
// background goroutine does at most every Config.CheckpointInterval (and
// Close once more).
//
// A zero p is ignored, and so is a p older than the committed position of
// the same replication id (a lower offset): commit positions in the order
// of their events. Without a Checkpointer, or after Close, Commit does
// nothing. Unless Config.ManualCommit is set, Next commits by itself.
func (r *Replica) Commit(p Position) {
	if r.ck != nil {
		r.ck.commit(p)
	}
}

// Redirect makes the next connection go to addr (failover to a promoted
// replica) and drops the current connection, so that Next reconnects at
// once and resumes from Position(): a PSYNC2 master answers +CONTINUE
// through its replid2. Commands already buffered are delivered first.
func (r *Replica) Redirect(addr string) {
	conn := r.link.redirect(addr)
	r.log.Info("replica: redirect", "addr", addr)
	if conn != nil {
		conn.Close()
	}
}

// Stats returns the counters.
func (r *Replica) Stats() Stats {
	return Stats{
		Connects:         r.st.connects.Load(),
		FullSyncs:        r.st.fullSyncs.Load(),
		PartialSyncs:     r.st.partialSyncs.Load(),
		ReceivedOffset:   r.st.received.Load(),
		ProcessedOffset:  r.ack.processed.Load(),
		SnapshotBytes:    r.st.snapshotBytes.Load(),
		SnapshotSize:     r.st.snapshotSize.Load(),
		Commands:         r.st.commands.Load(),
		Bytes:            r.st.bytes.Load(),
		DualChannelSyncs: r.st.dualSyncs.Load(),
		Held:             r.st.held.Load(),
		HeldOnDisk:       r.st.heldOnDisk.Load(),
	}
}

// Close closes the connection (a blocked Next returns ErrClosed), stops the
// background goroutines and waits for them, then saves the committed
// position with the Checkpointer, if any. Unless Config.ManualCommit is
// set, Close first commits every event Next has returned, as a further call
// of Next would: call it once done with the last event. Close is
// idempotent; it returns the final save's error.
func (r *Replica) Close() error {
	r.life.once.Do(func() {
		conn := r.link.close()
		r.life.cancel()
		if conn != nil {
			conn.Close()
		}
		r.life.wg.Wait()
		if r.ck != nil {
			if !r.cfg.ManualCommit {
				r.ck.commit(r.Position())
			}
			r.life.err = r.ck.close(context.Background())
		}
	})
	return r.life.err
}
