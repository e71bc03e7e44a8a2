package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/publish"
)

// StreamConfig describes the stream EnsureStream creates.
type StreamConfig struct {
	// Name of the stream (required), and Prefix of the publisher's
	// subjects (default "redtap"): the stream takes "<Prefix>.>".
	Name, Prefix string
	// Duplicates is the duplicate window: how long JetStream remembers a
	// message id (default 10 minutes). A tap that restarts within it
	// publishes nothing twice whatever it republishes; past it, the sink
	// still skips what the stream's last message shows as stored.
	Duplicates time.Duration
	// Memory selects memory storage instead of files.
	Memory bool
}

// EnsureStream creates the stream unless it exists, with file storage, the
// duplicate window, no limits and the DiscardNew policy (should limits be
// added, the stream refuses messages instead of dropping old ones, and the
// sink stops with ErrLimit). It reports whether it created the stream. An
// existing stream is left as it is.
func EnsureStream(ctx context.Context, nc *nats.Conn, cfg StreamConfig) (created bool, err error) {
	if cfg.Name == "" {
		return false, errors.New("jetstream: EnsureStream needs a stream name")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "redtap"
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = 10 * time.Minute
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return false, &Error{Op: "connect", Stream: cfg.Name, Err: err}
	}
	err = retry(ctx, 50*time.Millisecond, 5*time.Second, nil, func() error {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := js.Stream(sctx, cfg.Name)
		return apiErrOrNil(cfg.Name, "stream info", err)
	})
	if err == nil {
		return false, nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, err
	}
	sc := jetstream.StreamConfig{
		Name:       cfg.Name,
		Subjects:   []string{cfg.Prefix + ".>"},
		Storage:    jetstream.FileStorage,
		Duplicates: cfg.Duplicates,
		Discard:    jetstream.DiscardNew,
	}
	if cfg.Memory {
		sc.Storage = jetstream.MemoryStorage
	}
	if _, err := js.CreateStream(ctx, sc); err != nil {
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return false, nil
		}
		return false, apiErr(cfg.Name, "create stream", err)
	}
	return true, nil
}

func apiErrOrNil(stream, op string, err error) error {
	if err == nil {
		return nil
	}
	return apiErr(stream, op, err)
}

func apiErr(stream, op string, err error) error {
	if errors.Is(err, nats.ErrPermissionViolation) {
		err = fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return &Error{Op: op, Stream: stream, Err: err}
}

// Message is one message read back from the stream by Consume.
type Message struct {
	ID       publish.ID
	Kind     monitor.Kind
	DB       int
	Tx       bool
	Batch    int // position in its batch
	BatchLen int // the batch's length
	Subject  string
	Body     []byte // one JSON record (package jsonl's Decode reads it)
	Seq      uint64 // the stream sequence
}

// ConsumeConfig configures Consume.
type ConsumeConfig struct {
	// Stream and Durable name the stream and the durable consumer whose
	// acknowledged position is where Consume starts (both required).
	Stream, Durable string
	// Batch is how many messages the client pulls ahead (default 256).
	Batch int
}

// ErrMessage reports a message without redtap's headers.
var ErrMessage = errors.New("jetstream: not a redtap message")

// Consume reads the stream in order with the durable consumer cfg.Durable
// (created when missing, acknowledging in bulk), from the message after
// the last one it acknowledged, and calls f with each message; a message
// is acknowledged once f has returned nil for it. It returns when ctx ends
// (ctx.Err()), or f's error. A restart of Consume continues after the last
// message acknowledged: f sees every message at least once, and exactly
// once when the acknowledgements reach the server (the last one is
// confirmed before Consume returns). Consume needs a server that can reset
// a consumer to its acknowledged floor (the JetStream consumer reset API;
// tested with nats-server 2.15.2).
func Consume(ctx context.Context, nc *nats.Conn, cfg ConsumeConfig, f func(*Message) error) error {
	if cfg.Stream == "" || cfg.Durable == "" {
		return errors.New("jetstream: Consume needs Stream and Durable")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return &Error{Op: "connect", Stream: cfg.Stream, Err: err}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       time.Minute,
		MaxAckPending: -1,
	})
	if err != nil {
		return apiErr(cfg.Stream, "create consumer", err)
	}
	// Deliver again from the acknowledged floor: what an earlier run
	// fetched without acknowledging comes first, in order.
	st, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return apiErr(cfg.Stream, "stream info", err)
	}
	if _, err := st.ResetConsumer(ctx, cfg.Durable); err != nil {
		return apiErr(cfg.Stream, "reset consumer", err)
	}
	var last jetstream.Msg
	var lastSeq, resetFor uint64
	ack := func(final bool) error {
		if last == nil {
			return nil
		}
		m := last
		last = nil
		if final {
			actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return m.DoubleAck(actx)
		}
		return m.Ack()
	}
	var it jetstream.MessagesContext
	defer func() {
		if it != nil {
			it.Stop()
		}
	}()
	handled := 0
	for {
		if ctx.Err() != nil {
			ack(true) //nolint:errcheck // best effort: the next run starts from the floor
			return ctx.Err()
		}
		if it == nil {
			if it, err = cons.Messages(jetstream.PullMaxMessages(cfg.Batch)); err != nil {
				it = nil
				sleep(ctx, 200*time.Millisecond) // the server restarts or is unreachable
				continue
			}
		}
		jm, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				it = nil
			}
			continue
		}
		md, err := jm.Metadata()
		if err != nil {
			return &Error{Op: "consume", Stream: cfg.Stream, Err: err}
		}
		seq := md.Sequence.Stream
		if seq <= lastSeq { // redelivered: done already
			continue
		}
		if lastSeq > 0 && seq > lastSeq+1 && resetFor != lastSeq {
			// A delivery went missing (a pull request lost while the server
			// restarted: the server redelivers it only after AckWait).
			// Start again after the last message handled; a gap found again
			// right after is real (deleted messages).
			it.Stop()
			it = nil
			if ack(true) == nil {
				if _, err := st.ResetConsumer(ctx, cfg.Durable); err == nil {
					resetFor = lastSeq
				}
			}
			continue
		}
		m, err := parseMessage(jm.Subject(), jm.Headers(), jm.Data())
		if err != nil {
			ack(true) //nolint:errcheck
			return &Error{Op: "consume", Stream: cfg.Stream, Subject: jm.Subject(), Err: err}
		}
		m.Seq = seq
		if err := f(m); err != nil {
			ack(true) //nolint:errcheck
			return err
		}
		last, lastSeq = jm, seq
		// Acknowledge (everything up to here: AckAll) when caught up, and
		// every 100 messages.
		if handled++; md.NumPending == 0 || handled%100 == 0 {
			ack(false) //nolint:errcheck // the next one covers it
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// parseMessage reads the headers the publisher sets.
func parseMessage(subject string, h nats.Header, body []byte) (*Message, error) {
	m := &Message{Subject: subject, Body: body}
	get := func(name string) (string, error) {
		v := h.Get(name)
		if v == "" {
			return "", fmt.Errorf("%w: no %s header", ErrMessage, name)
		}
		return v, nil
	}
	var err error
	var v string
	if m.ID.ReplID, err = get(publish.HeaderReplID); err != nil {
		return nil, err
	}
	num := func(name string) (int64, error) {
		if v, err = get(name); err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s %q", ErrMessage, name, v)
		}
		return n, nil
	}
	if m.ID.Offset, err = num(publish.HeaderOffset); err != nil {
		return nil, err
	}
	if v, err = get(publish.HeaderIndex); err != nil {
		return nil, err
	}
	if m.ID.Index, err = strconv.ParseUint(v, 10, 64); err != nil {
		return nil, fmt.Errorf("%w: %s %q", ErrMessage, publish.HeaderIndex, v)
	}
	db, err := num(publish.HeaderDB)
	if err != nil {
		return nil, err
	}
	m.DB = int(db)
	if v, err = get(publish.HeaderKind); err != nil {
		return nil, err
	}
	if m.Kind, err = publish.ParseKind(v); err != nil {
		return nil, err
	}
	m.Tx = h.Get(publish.HeaderTx) == "1"
	if v, err = get(publish.HeaderBatch); err != nil {
		return nil, err
	}
	i, n, ok := strings.Cut(v, "/")
	bi, err1 := strconv.Atoi(i)
	bn, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: %s %q", ErrMessage, publish.HeaderBatch, v)
	}
	m.Batch, m.BatchLen = bi, bn
	return m, nil
}
