// Package jetstream publishes redtap's events to a NATS JetStream stream,
// exactly once and in order (see package publish for the messages), and
// reads them back (Consume).
//
// # How a message is stored once, in order
//
//	publisher                         JetStream (stream S)
//	   | PUB subject                      |
//	   |   Nats-Msg-Id: <replid>:<off>:<i> |  dropped when already stored within
//	   |   Nats-Expected-Last-Msg-Id: <id of the message before>   the duplicate window
//	   |   Redtap-*: replid, offset ...   |  refused (wrong last msg id) when the
//	   |   <JSON record>                  |  one before is missing: no holes
//	   |<----------------- +ACK {seq}     |
//
// The sink publishes asynchronously, keeping at most Config.MaxPending
// messages unacknowledged (Send blocks while the window is full, which
// stops the publisher, which stops reading the replica). Each message names
// the one before it (Nats-Expected-Last-Msg-Id), so JetStream stores a
// message only right after its predecessor: a message lost on a dying
// connection makes the ones after it fail instead of overtaking it. On any
// failure (a refused message, an acknowledgement that does not come within
// Config.AckTimeout, a broken connection) the sink waits for every
// outstanding acknowledgement, asks the stream for its last message, waits
// (exponential backoff up to Config.MaxBackoff) and publishes again,
// from the oldest unacknowledged message on, chained after the stream's last
// message; messages that were stored after all are dropped by the duplicate
// window. It retries until ctx ends: the NATS server may restart or be
// unreachable for any time. Only a stream limit (with the DiscardNew
// policy), a message over the stream's size limit, missing resources and a
// permission violation are final ([ErrLimit], [ErrPermission]).
//
// At start, NewSink reads the stream's last message: messages of the same
// replication history up to it are not published again even past the
// duplicate window (snapshot keys excepted, see publish.ID).
//
// A master that refuses PSYNC (replication without ids, before Redis 2.8)
// counts offsets from 0 in every session: its messages get no message id
// and no deduplication, so a restart publishes its whole new snapshot.
//
// The stream must be written by this publisher alone (the chain names the
// stream's last message); give each tap its own stream, or its own
// subject prefix in a stream of its own. [EnsureStream] creates one.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/publish"
)

// Errors. A final error of Send is an *Error whose Err matches one of these
// or carries the broker's answer.
var (
	// ErrLimit reports that the stream refuses messages for a limit:
	// MaxMsgs, MaxBytes or MaxMsgsPerSubject with the DiscardNew policy,
	// MaxMsgSize, or the account's or server's storage.
	ErrLimit = errors.New("jetstream: stream limit reached")
	// ErrPermission reports that the connection's user may not publish to
	// the subject (or use the JetStream API).
	ErrPermission = errors.New("jetstream: permission denied")
	// ErrClosed is returned by Send and Flush after Close.
	ErrClosed = errors.New("jetstream: sink closed")
)

// Error is the sink's structured error: the operation ("publish", "stream
// info"), the stream, the subject and message id concerned, and the cause.
type Error struct {
	Op      string
	Stream  string
	Subject string
	MsgID   string
	Err     error
}

func (e *Error) Error() string {
	s := "jetstream: " + e.Op + " " + e.Stream
	if e.Subject != "" {
		s += " subject " + strconv.Quote(e.Subject)
	}
	if e.MsgID != "" {
		s += " msg " + e.MsgID
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Config configures a Sink. Zero values select the documented defaults.
type Config struct {
	// Stream is the name of the stream (required). Its subjects must
	// cover the publisher's ("<prefix>.>").
	Stream string
	// MaxPending bounds the messages published and not yet acknowledged
	// (default 4096).
	MaxPending int
	// AckTimeout is how long an acknowledgement may take before the
	// message counts as failed (default 5s).
	AckTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries:
	// exponential, with jitter (defaults 50ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives retries; nil is silent.
	Logger *slog.Logger
}

type entry struct {
	seq  uint64
	id   string
	msg  *nats.Msg
	fut  jetstream.PubAckFuture // nil: not published (yet, or it failed at once)
	done bool                   // stored already: skipped
	// last holds the value of msg's Nats-Expected-Last-Msg-Id header
	// (len 1); recover gives a fresh message a fresh one.
	last []string
	m    nats.Msg // msg's first value, allocated with the entry
}

// entryHeaders bounds the headers of an entry: the Header* headers of
// package publish (7), Nats-Msg-Id and Nats-Expected-Last-Msg-Id.
const entryHeaders = 9

// Sink is a publish.Sink for a JetStream stream.
type Sink struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg Config

	pubOpts []jetstream.PublishOpt

	mu         sync.Mutex
	changed    chan struct{} // nil, or closed and cleared on the next change of the state below (see wait)
	q          []*entry      // sent, not acknowledged, in order
	lastID     string        // the id the next message names as its predecessor
	stored     publish.ID    // the stream's last message at start; zero once something new is published
	haveStored bool
	recovering bool
	err        error // final
	closed     bool

	acked   atomic.Uint64
	retries atomic.Uint64
	dups    atomic.Uint64
	skipped atomic.Uint64

	stop     chan struct{}
	done     chan struct{}
	closeErr sync.Once
}

// NewSink returns a sink publishing to the stream cfg.Stream through nc,
// which must exist (see EnsureStream). It reads the stream's last message
// (see the package documentation). Close the sink, then nc.
func NewSink(ctx context.Context, nc *nats.Conn, cfg Config) (*Sink, error) {
	if nc == nil || cfg.Stream == "" {
		return nil, errors.New("jetstream: NewSink needs a connection and Config.Stream")
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxPending+1), jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		return nil, &Error{Op: "connect", Stream: cfg.Stream, Err: err}
	}
	s := &Sink{nc: nc, js: js, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	s.pubOpts = []jetstream.PublishOpt{jetstream.WithRetryAttempts(0)}
	var last string
	err = retry(ctx, cfg.MinBackoff, cfg.MaxBackoff, cfg.Logger, func() error {
		actx, cancel := context.WithTimeout(ctx, cfg.AckTimeout)
		defer cancel()
		last, err = s.lastMsgID(actx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.lastID = last
	if id, err := publish.ParseID(last); err == nil {
		s.stored, s.haveStored = id, true
	}
	go s.acker()
	return s, nil
}

// retry calls f until it succeeds, fails for good (a missing stream, a
// permission error) or ctx ends, waiting between the calls: the server may
// be restarting or unreachable for a while.
func retry(ctx context.Context, minWait, maxWait time.Duration, log *slog.Logger, f func() error) error {
	wait := minWait
	for {
		err := f()
		if err == nil || errors.Is(err, ErrPermission) || errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		if log != nil {
			log.Warn("jetstream: server unavailable, retrying", "err", err, "wait", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// lastMsgID returns the Nats-Msg-Id of the stream's last message, "" when
// it is empty or the message has none.
func (s *Sink) lastMsgID(ctx context.Context) (string, error) {
	st, err := s.js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return "", s.apiErr("stream info", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return "", s.apiErr("stream info", err)
	}
	if info.State.LastSeq == 0 || info.State.Msgs == 0 {
		return "", nil
	}
	m, err := st.GetMsg(ctx, info.State.LastSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", nil
	}
	if err != nil {
		return "", s.apiErr("get last message", err)
	}
	return m.Header.Get(jetstream.MsgIDHeader), nil
}

func (s *Sink) apiErr(op string, err error) error { return apiErr(s.cfg.Stream, op, err) }

// broadcast wakes whoever waits for a change; s.mu is held.
func (s *Sink) broadcast() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// wait returns a channel that broadcast closes on the next change; s.mu
// is held. The channel is made only when someone waits: most changes
// (a message sent, one acknowledged) wake no one.
func (s *Sink) wait() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// Send publishes m (see publish.Sink).
func (s *Sink) Send(ctx context.Context, m *publish.Message) error {
	// The copy, outside the lock the acker needs.
	e := newEntry(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.err != nil:
			return s.err
		case s.closed:
			return ErrClosed
		}
		if !s.recovering && len(s.q) < s.cfg.MaxPending {
			break
		}
		ch := s.wait()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			return ctx.Err()
		}
		s.mu.Lock()
	}
	if s.haveStored && storedAlready(s.stored, m) {
		e.done, e.msg = true, nil
		s.skipped.Add(1)
		s.q = append(s.q, e)
		s.broadcast()
		return nil
	}
	s.haveStored = false
	s.q = append(s.q, e)
	if len(s.q) == 1 || s.q[len(s.q)-2].fut != nil || s.q[len(s.q)-2].done {
		s.publishLocked(e)
	}
	s.broadcast()
	return nil
}

// newEntry returns the entry of m: a copy of its subject, body and
// headers as a nats.Msg, and its id.
//
// It makes few allocations, for it runs for every message: the entry with
// its nats.Msg, one string holding the subject, the id and the header
// values, one array of header values, the header map and the body's copy.
func newEntry(m *publish.Message) *entry {
	type hdr struct {
		name     string
		from, to int // the value in text
	}
	var (
		hdrs [entryHeaders - 2]hdr
		nh   int
		buf  [512]byte
	)
	// text: the subject, the id, the header values
	text := append(buf[:0], m.Subject...)
	idFrom := len(text)
	text = m.ID.Append(text)
	idTo := len(text)
	m.AppendHeaders(func(name string, v []byte) {
		if nh < len(hdrs) {
			hdrs[nh] = hdr{name, len(text), len(text) + len(v)}
			nh++
			text = append(text, v...)
		}
	})
	str := string(text)

	// The exact size: a map of up to 8 entries is much cheaper to make
	// than one sized for 9 (a message outside a transaction has 8).
	size := nh + 1 // and Nats-Expected-Last-Msg-Id
	if m.ID.ReplID != "" {
		size++ // Nats-Msg-Id
	}
	e := &entry{seq: m.Seq, id: str[idFrom:idTo]}
	e.m = nats.Msg{Subject: str[:idFrom], Data: append([]byte(nil), m.Body...), Header: make(nats.Header, size)}
	e.msg = &e.m
	vals := make([]string, entryHeaders)
	for i, h := range hdrs[:nh] {
		vals[i] = str[h.from:h.to]
		e.m.Header[h.name] = vals[i : i+1 : i+1]
	}
	e.last = vals[entryHeaders-1 : entryHeaders : entryHeaders]
	if m.ID.ReplID != "" {
		vals[entryHeaders-2] = e.id
		e.m.Header[jetstream.MsgIDHeader] = vals[entryHeaders-2 : entryHeaders-1 : entryHeaders-1]
	} else {
		// A master without PSYNC (SYNC): offsets start from 0 in every
		// session, so ids repeat and must not be deduplicated on.
		e.id = ""
	}
	return e
}

// storedAlready reports whether the stream's last message at start, last,
// shows m as stored: same history, and an earlier offset, or the same one
// for a command's event of a lower or equal index, or anything of a
// snapshot whose end is stored.
func storedAlready(last publish.ID, m *publish.Message) bool {
	id := m.ID
	if id.ReplID != last.ReplID || id.ReplID == "" {
		return false
	}
	switch {
	case id.Offset < last.Offset:
		return true
	case id.Offset > last.Offset:
		return false
	case last.Index == publish.IndexSnapshotDone:
		return true
	case m.Kind == monitor.KindReset:
		return true
	case m.Kind == monitor.KindChange || m.Kind == monitor.KindDBChange:
		return id.Index <= last.Index
	}
	return false
}

// publishLocked publishes e after s.lastID; s.mu is held. A failure leaves
// e.fut nil, for the acker to retry.
func (s *Sink) publishLocked(e *entry) {
	if s.lastID != "" {
		e.last[0] = s.lastID
		e.msg.Header[jetstream.ExpectedLastMsgIDHeader] = e.last
	} else {
		delete(e.msg.Header, jetstream.ExpectedLastMsgIDHeader)
	}
	fut, err := s.js.PublishMsgAsync(e.msg, s.pubOpts...)
	if err != nil {
		s.log("publish failed", "id", e.id, "err", err)
		return
	}
	e.fut = fut
	s.lastID = e.id
}

// acker waits for the acknowledgements in order, and recovers from
// failures.
func (s *Sink) acker() {
	defer close(s.done)
	backoff := time.Duration(0)
	for {
		s.mu.Lock()
		for len(s.q) > 0 && s.q[0].done {
			s.acked.Store(s.q[0].seq)
			s.q = s.q[1:]
			s.broadcast()
		}
		if len(s.q) == 0 || s.recovering {
			ch := s.wait()
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-s.stop:
				return
			}
		}
		head := s.q[0]
		s.mu.Unlock()
		var err error
		if head.fut == nil {
			err = errors.New("not published")
		} else {
			select {
			case ack := <-head.fut.Ok():
				if ack != nil && ack.Duplicate {
					s.dups.Add(1)
				}
			case err = <-head.fut.Err():
			case <-s.stop:
				return
			}
		}
		if err == nil {
			backoff = 0
			s.mu.Lock()
			s.acked.Store(head.seq)
			s.q = s.q[1:]
			s.broadcast()
			s.mu.Unlock()
			continue
		}
		if ferr := s.final(head, err); ferr != nil {
			s.mu.Lock()
			s.err = ferr
			s.broadcast()
			s.mu.Unlock()
			return
		}
		backoff = min(max(2*backoff, s.cfg.MinBackoff), s.cfg.MaxBackoff)
		if !s.recover(head, err, backoff) {
			return
		}
	}
}

// final returns the final error that err is, or nil when it is worth a
// retry.
func (s *Sink) final(e *entry, err error) error {
	wrap := func(sentinel error) error {
		return &Error{Op: "publish", Stream: s.cfg.Stream, Subject: e.msg.Subject, MsgID: e.id, Err: fmt.Errorf("%w: %w", sentinel, err)}
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case 10077, // store failed: maximum messages, bytes, messages per subject exceeded (DiscardNew)
			jetstream.JSErrCodeStreamMessageExceedsMaximum,
			10023, // insufficient resources
			10047, // storage resources exceeded
			10028, // memory resources exceeded
			10002: // account resources exceeded
			return wrap(ErrLimit)
		}
	}
	if errors.Is(err, nats.ErrPermissionViolation) {
		return wrap(ErrPermission)
	}
	if errors.Is(err, jetstream.ErrAsyncPublishTimeout) || e.fut == nil {
		if lerr := s.nc.LastError(); errors.Is(lerr, nats.ErrPermissionViolation) {
			err = lerr
			return wrap(ErrPermission)
		}
	}
	return nil
}

// recover waits for the outstanding acknowledgements, then for backoff,
// asks the stream for its last message and publishes the unacknowledged
// messages again after it. It returns false when the sink is closed.
func (s *Sink) recover(head *entry, cause error, backoff time.Duration) bool {
	s.retries.Add(1)
	s.mu.Lock()
	s.recovering = true
	futs := make([]jetstream.PubAckFuture, 0, len(s.q))
	for _, e := range s.q[1:] {
		if e.fut != nil {
			futs = append(futs, e.fut)
		}
	}
	s.mu.Unlock()
	s.log("publish failed, retrying", "id", head.id, "err", cause, "backoff", backoff)
	for _, f := range futs {
		select {
		case <-f.Ok():
		case <-f.Err():
		case <-s.stop:
			return false
		}
	}
	for {
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
		last, err := s.lastMsgID(ctx)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.lastID = last
			for _, e := range s.q {
				e.fut = nil
				if e.done {
					continue
				}
				// a fresh message: nats.go may still hold the old one
				e.msg = &nats.Msg{Subject: e.msg.Subject, Data: e.msg.Data, Header: cloneHeader(e.msg.Header)}
				e.last = make([]string, 1)
				s.publishLocked(e)
				if e.fut == nil {
					break
				}
			}
			s.recovering = false
			s.broadcast()
			s.mu.Unlock()
			return true
		}
		s.log("stream unavailable, retrying", "err", err)
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// Acked returns the Seq of the newest message stored with all before it.
func (s *Sink) Acked() uint64 { return s.acked.Load() }

// Flush waits until every message sent is acknowledged, or a final error.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.q) > 0 {
		if s.err != nil {
			return s.err
		}
		if s.closed {
			return ErrClosed
		}
		ch := s.wait()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			return ctx.Err()
		}
		s.mu.Lock()
	}
	return s.err
}

// Stats are a sink's counters.
type Stats struct {
	// Pending counts the messages sent and not acknowledged; Retries the
	// recoveries; Duplicates the messages the stream had already stored
	// (dropped by its duplicate window); Skipped those not published again
	// because the stream's last message at start showed them as stored.
	Pending                      int
	Retries, Duplicates, Skipped uint64
}

// Stats returns the sink's counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	n := len(s.q)
	s.mu.Unlock()
	return Stats{Pending: n, Retries: s.retries.Load(), Duplicates: s.dups.Load(), Skipped: s.skipped.Load()}
}

// Close stops the sink without waiting for acknowledgements (see Flush); a
// blocked Send returns ErrClosed. It does not close the connection. Close is
// idempotent.
func (s *Sink) Close() error {
	s.closeErr.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.broadcast()
		s.mu.Unlock()
		close(s.stop)
		<-s.done
	})
	return nil
}

func (s *Sink) log(msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Warn("jetstream: "+msg, args...)
	}
}

func cloneHeader(h nats.Header) nats.Header {
	c := make(nats.Header, len(h))
	for k, v := range h {
		c[k] = append([]string(nil), v...)
	}
	return c
}

var _ publish.Sink = (*Sink)(nil)
