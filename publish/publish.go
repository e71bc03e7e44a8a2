// Package publish hands what a replica taps to a distributed log, one
// message per monitor event, exactly once: the brokers live in the
// subpackages publish/jetstream (NATS JetStream) and publish/kafka (Kafka,
// through franz-go), so that importing rdb, replica or monitor pulls in
// neither client.
//
//	r, _ := replica.Dial(ctx, replica.Config{Addr: addr, Checkpointer: cp, ManualCommit: true})
//	sink, _ := jetstream.NewSink(ctx, nc, jetstream.Config{Stream: "REDTAP"})
//	p, _ := publish.New(r, sink, publish.Config{Prefix: "redtap"})
//	err := p.Run(ctx)          // until ctx ends or a final error
//	_ = p.Drain(drainCtx)      // wait for the broker's acknowledgements, commit them
//	p.Close(); sink.Close(); r.Close()
//
// # Messages
//
// The publisher reads the source through a monitor (package monitor) and
// sends one [Message] per event of every batch:
//
//	event                    subject (PerKey)        body (package jsonl)           ID index
//	reset (full resync)      <prefix>.sync           {"kind":"sync","mode":"full"...}  0
//	snapshot key (a chunk)   <prefix>.<db>.<key>     {"kind":"key",...}             hash(db, key, chunk)
//	end of the snapshot      <prefix>.sync           {"kind":"snapshot_done",...}   IndexSnapshotDone
//	change of a key          <prefix>.<db>.<key>     {"kind":"cmd",...,"args":[...]} position in the batch
//	FLUSHDB, SWAPDB ...      <prefix>.<db>           {"kind":"cmd",...}             position in the batch
//	FLUSHALL                 <prefix>.all            {"kind":"cmd",...}             position in the batch
//
// The body is the record `redtap tap` writes for the same thing: the command
// (all of it, with its "offset" and "keys") for a change, so a command with
// several keys gives several messages with the same body, which a consumer
// replays once (the first message of each command offset). A transaction is
// one batch: its messages share the ID's Offset (the offset after EXEC), carry
// Tx and their position in the batch (Batch, BatchLen), so a consumer can tell
// where it ends. The brokers put ReplID, Offset, Index, Kind, DB, Tx and the
// batch position into headers (see the constants Header*).
//
// Commands without keys (PUBLISH, FUNCTION LOAD ...) and snapshot records
// other than keys (functions, aux fields) are not monitor events, and are not
// published.
//
// # Exactly once
//
// Every message has an [ID] (replication id, offset, index) that does not
// change when the same stream is read again. The Sink publishes in order,
// asynchronously with a bounded window, retries on its own, and reports how
// far the broker has stored everything ([Sink.Acked]). The publisher commits
// to the source (Subscriber.Commit, hence Replica.Commit with
// Config.ManualCommit) only the positions of batches whose messages are all
// stored. After a crash the source resumes from its checkpoint, which lags
// behind what the broker holds by what was acknowledged since the replica's
// last save (its Config.CheckpointInterval); the republished tail has the
// same ids and is not stored twice (the JetStream sink skips what the
// stream's last message shows as stored, and JetStream's duplicate window
// drops the rest).
//
// A full resynchronisation is published as a reset marker, then the new
// snapshot's keys, then its end: a consumer drops its state at the marker.
//
// # Backpressure
//
// When the broker is slow or unreachable the Sink's window fills, Send
// blocks, the publisher stops reading, and the replica's backpressure takes
// over (see package replica): nothing is dropped.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// Headers the brokers set on every message (NATS headers, Kafka record
// headers).
const (
	HeaderReplID = "Redtap-Replid"
	HeaderOffset = "Redtap-Offset"
	HeaderIndex  = "Redtap-Index"
	HeaderKind   = "Redtap-Kind" // monitor.Kind's String: reset, snapshot-key, snapshot-done, change, db-change
	HeaderDB     = "Redtap-Db"
	HeaderTx     = "Redtap-Tx"    // "1" on the messages of a transaction
	HeaderBatch  = "Redtap-Batch" // "i/n": the message's position in its batch, and the batch's length
)

// Message is one message for a broker. The publisher reuses it and its
// slices after Send returns: a Sink copies what it keeps.
type Message struct {
	// Seq numbers the messages of one Publisher, from 1.
	Seq  uint64
	ID   ID
	Kind monitor.Kind
	// DB is the event's database (-1 for FLUSHALL); Key the key, nil for
	// the kinds without one.
	DB  int
	Key []byte
	// Subject is the subject for brokers that route by subject (see
	// SubjectMode).
	Subject []byte
	// Tx is set for the messages of a transaction; Batch is the message's
	// position in its batch, BatchLen the number of messages in it.
	Tx              bool
	Batch, BatchLen int
	// Body is one JSON record, ending with a newline (package jsonl).
	Body []byte

	hdr [64]byte // AppendHeaders' scratch: a local array would escape to f
}

// AppendHeaders calls f with each of the Header* headers of m (the value
// is valid only during the call).
func (m *Message) AppendHeaders(f func(name string, value []byte)) {
	b := &m.hdr
	f(HeaderReplID, append(b[:0], m.ID.ReplID...))
	f(HeaderOffset, strconv.AppendInt(b[:0], m.ID.Offset, 10))
	f(HeaderIndex, strconv.AppendUint(b[:0], m.ID.Index, 10))
	f(HeaderKind, append(b[:0], m.Kind.String()...))
	f(HeaderDB, strconv.AppendInt(b[:0], int64(m.DB), 10))
	if m.Tx {
		f(HeaderTx, append(b[:0], '1'))
	}
	f(HeaderBatch, strconv.AppendInt(append(strconv.AppendInt(b[:0], int64(m.Batch), 10), '/'), int64(m.BatchLen), 10))
}

// Sink is a broker's side of a Publisher: publish/jetstream and
// publish/kafka implement it.
type Sink interface {
	// Send publishes m after every message sent before it. It may return
	// before the broker has stored m; it blocks while the sink's window of
	// unacknowledged messages is full, or while the broker is unreachable.
	// It retries on its own: an error is final (the broker refuses the
	// messages, or ctx ended).
	Send(ctx context.Context, m *Message) error
	// Acked returns the Seq of the newest message that the broker has
	// stored along with every message before it (0 for none yet).
	Acked() uint64
	// Flush waits until every message sent is stored.
	Flush(ctx context.Context) error
	// Close releases the sink; it does not wait for acknowledgements (see
	// Flush). It is idempotent.
	Close() error
}

// Config configures a Publisher. Zero values select the documented
// defaults.
type Config struct {
	// Prefix is the first token of every subject (default "redtap").
	Prefix string
	// Subjects says how subjects are made: PerKey (default) or PerDB.
	Subjects SubjectMode
	// Filter selects the events to publish (package monitor's Filter; the
	// zero Filter selects everything). Reset markers and snapshot ends are
	// always published.
	Filter monitor.Filter
	// CommitInterval is how often acknowledged positions are committed to
	// the source (default 100ms); the replica saves its checkpoint on its
	// own schedule (replica.Config.CheckpointInterval).
	CommitInterval time.Duration
	// Logger receives resynchronisations; nil is silent.
	Logger *slog.Logger
}

// ErrKind reports a kind name ParseKind does not know.
var ErrKind = errors.New("publish: unknown kind")

// ParseKind parses the String form of a monitor.Kind, as the HeaderKind
// header carries it.
func ParseKind(s string) (monitor.Kind, error) {
	for k := monitor.KindReset; k <= monitor.KindDBChange; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrKind, s)
}

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("publish: closed")

// Stats are a Publisher's counters.
type Stats struct {
	// Messages counts the messages sent to the sink, Acked those it
	// acknowledged (in order), Batches the batches read.
	Messages, Acked, Batches uint64
	// Committed is the last position committed to the source.
	Committed replica.Position
}

// Publisher reads a source through a monitor and sends its events to a
// Sink. Run must be called by one goroutine at a time; Stats, Drain and
// Close from any.
type Publisher struct {
	cfg  Config
	sink Sink
	src  *tracker
	mon  *monitor.Monitor
	sub  *monitor.Subscriber

	enc jsonl.Encoder
	msg Message
	seq atomic.Uint64 // the last Seq sent

	mu        sync.Mutex
	pending   []pendingPos // positions waiting for their messages' acks, oldest first
	committed replica.Position
	batches   atomic.Uint64

	closeOnce sync.Once
}

type pendingPos struct {
	seq uint64
	pos replica.Position
}

// New returns a Publisher of src's events to sink. src is usually a
// *replica.Replica with Config.ManualCommit (and a Checkpointer), so that
// the checkpoint never claims more than the broker stored; the publisher
// does not close it, nor the sink.
func New(src monitor.Source, sink Sink, cfg Config) (*Publisher, error) {
	if src == nil || sink == nil {
		return nil, errors.New("publish: New needs a source and a sink")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "redtap"
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 100 * time.Millisecond
	}
	if cfg.Subjects > PerDB {
		return nil, fmt.Errorf("publish: unknown SubjectMode %d", cfg.Subjects)
	}
	p := &Publisher{cfg: cfg, sink: sink, src: &tracker{src: src}}
	var opts []monitor.Option
	if cfg.Logger != nil {
		opts = append(opts, monitor.Logger(cfg.Logger))
	}
	var err error
	if p.mon, err = monitor.New(p.src, opts...); err != nil {
		return nil, err
	}
	if p.sub, err = p.mon.Subscribe(cfg.Filter); err != nil {
		p.mon.Close()
		return nil, err
	}
	return p, nil
}

// Run reads batches and publishes them until ctx ends (it returns
// ctx.Err()), the source ends (io.EOF for a snapshot-only source), or an
// error: the source's, or the sink's (final). Meanwhile it commits the
// positions of acknowledged batches every CommitInterval. Call Drain
// afterwards to wait for the acknowledgements of what was sent.
func (p *Publisher) Run(ctx context.Context) error {
	bgCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(p.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-bgCtx.Done():
				return
			case <-t.C:
				p.commitAcked()
			}
		}
	}()
	defer func() {
		stop()
		<-done
		p.commitAcked()
	}()
	for {
		b, err := p.sub.Next(ctx)
		if err != nil {
			if errors.Is(err, monitor.ErrClosed) {
				return ErrClosed
			}
			return err
		}
		p.batches.Add(1)
		if err := p.publish(ctx, b); err != nil {
			return err
		}
	}
}

// Drain waits until the sink has stored everything sent, and commits it.
func (p *Publisher) Drain(ctx context.Context) error {
	err := p.sink.Flush(ctx)
	p.commitAcked()
	return err
}

// Close closes the monitor (a Run in progress returns ErrClosed). It does
// not close the source or the sink. Close is idempotent.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() { p.mon.Close() })
	return nil
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Messages: p.seq.Load(), Acked: p.sink.Acked(), Batches: p.batches.Load(), Committed: p.committed}
}

// commitAcked commits the newest position whose messages are all stored.
func (p *Publisher) commitAcked() {
	acked := p.sink.Acked()
	p.mu.Lock()
	var pos replica.Position
	n := 0
	for n < len(p.pending) && p.pending[n].seq <= acked {
		pos = p.pending[n].pos
		n++
	}
	// Slide the rest to the front: appends reuse the array.
	p.pending = p.pending[:copy(p.pending, p.pending[n:])]
	if n > 0 {
		p.committed = pos
	}
	p.mu.Unlock()
	if n > 0 {
		p.sub.Commit(pos)
	}
}

// publish sends the messages of one batch.
func (p *Publisher) publish(ctx context.Context, b *monitor.Batch) error {
	replid := b.Pos.ReplID
	if replid == "" {
		replid = p.src.replID()
	}
	m := &p.msg
	for i := range b.Events {
		e := &b.Events[i]
		*m = Message{Body: m.Body[:0], Subject: m.Subject[:0], Kind: e.Kind, DB: e.DB, Key: e.Key, Tx: b.Tx || e.Tx, Batch: i, BatchLen: len(b.Events)}
		m.ID = ID{ReplID: replid, Offset: b.Offset, Index: uint64(i)}
		switch e.Kind {
		case monitor.KindReset:
			if e.Err != nil { // the slow-subscriber policy: not used here
				continue
			}
			m.Body = p.enc.AppendSync(m.Body, &replica.Sync{Mode: replica.SyncFull, ReplID: replid, Offset: b.Offset, Reason: string(e.Value)})
			m.ID.Index = 0
			p.logf("full resynchronisation", "replid", replid, "offset", b.Offset)
		case monitor.KindSnapshotKey:
			m.Body = p.enc.AppendKey(m.Body, e.Entry)
			if len(m.Body) == 0 {
				continue
			}
			m.DB, m.Key = e.Entry.DB, e.Entry.Key
			m.ID.Index = snapshotIndex(e.Entry)
		case monitor.KindSnapshotDone:
			m.Body = p.enc.AppendSnapshotDone(m.Body, replid, b.Offset)
			m.ID.Index = IndexSnapshotDone
		default:
			m.Body = p.enc.AppendCommand(m.Body, commandDB(e), e.Offset, e.Args)
		}
		m.Subject = appendSubject(m.Subject, p.cfg.Prefix, p.cfg.Subjects, e.Kind, m.DB, m.Key)
		m.Seq = p.seq.Load() + 1
		if err := p.sink.Send(ctx, m); err != nil {
			return err
		}
		p.seq.Store(m.Seq)
	}
	if !b.Pos.IsZero() {
		p.mu.Lock()
		p.pending = append(p.pending, pendingPos{seq: p.seq.Load(), pos: b.Pos})
		p.mu.Unlock()
	}
	return nil
}

// commandDB is the database a change's command ran in: the event's, except
// for the target side of MOVE and COPY, and FLUSHALL (any).
func commandDB(e *monitor.Event) int {
	switch {
	case e.Op == monitor.OpMoveTo || e.Op == monitor.OpCopyTo:
		return e.OtherDB
	case e.DB < 0:
		return 0
	}
	return e.DB
}

func (p *Publisher) logf(msg string, args ...any) {
	if p.cfg.Logger != nil {
		p.cfg.Logger.Info("publish: "+msg, args...)
	}
}

// tracker is the monitor's source: it notes the replication id of the last
// sync, which the batches of a snapshot do not carry, and passes commits
// on.
type tracker struct {
	src monitor.Source
	mu  sync.Mutex
	id  string
}

func (t *tracker) Next(ctx context.Context) (replica.Event, error) {
	ev, err := t.src.Next(ctx)
	if s, ok := ev.(*replica.Sync); ok && err == nil {
		t.mu.Lock()
		t.id = s.ReplID
		t.mu.Unlock()
	}
	return ev, err
}

func (t *tracker) replID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.id
}

// Commit passes pos on to the source when it takes commits.
func (t *tracker) Commit(pos replica.Position) {
	if c, ok := t.src.(monitor.Committer); ok {
		c.Commit(pos)
	}
}
