// Package kafka publishes redtap's events to a Kafka topic with franz-go's
// idempotent producer (see package publish for the messages).
//
// The record key is the Redis key, so a key's events stay in one partition
// and in order; the value is the JSON record, the headers those of package
// publish (Redtap-Replid, Redtap-Offset ...). Partitions are chosen by a
// 32-bit FNV-1a hash of the key. The events without a key (the reset
// marker, the end of a snapshot, FLUSHDB, FLUSHALL, SWAPDB) go to every
// partition, with the same id, so that each partition's consumer sees them
// in its order.
//
// # Exactly once
//
// Within one run the idempotent producer (acks from all in-sync replicas,
// sequence numbers per partition) stores each record once and in order,
// retrying on its own. A message counts as acknowledged when all of its
// records are; the publisher commits positions only up to there. Across
// restarts, NewSink reads the last record of every partition and Send skips
// the messages that record shows as stored (same replication id, lower
// offset, or the same offset and a lower or equal index for a command's
// event). A republished snapshot at the very same offset (a restart in the
// middle of a snapshot, with no write on the master meanwhile) may repeat
// some of its keys: snapshot keys are "key has this value" and can be
// applied again, except for the later chunks of a big list.
//
// A failed record (an error franz-go does not retry: authorization, a record
// too large, a delivery timeout) is final: Send returns an *Error, and the
// caller restarts from its checkpoint.
//
// The package is tested against franz-go's kfake, an in-process fake that
// speaks the Kafka protocol. That proves the client side (records, keys,
// headers, partitions, acknowledgements, reading the last records back) but
// not a real broker's replication, leader changes, idempotence across
// broker failures, or retention; run it against a real cluster before
// relying on it.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/publish"
)

// Errors matched by the Err of an *Error.
var (
	// ErrLimit reports a record over the broker's or topic's size limit.
	ErrLimit = errors.New("kafka: record too large")
	// ErrPermission reports that the client may not write the topic.
	ErrPermission = errors.New("kafka: permission denied")
	// ErrClosed is returned by Send and Flush after Close.
	ErrClosed = errors.New("kafka: sink closed")
	// ErrNoTopic reports a topic that does not exist.
	ErrNoTopic = errors.New("kafka: no such topic")
)

// Error is the sink's structured error.
type Error struct {
	Op, Topic string
	Partition int32
	MsgID     string
	Err       error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("kafka: %s %s", e.Op, e.Topic)
	if e.MsgID != "" {
		s += fmt.Sprintf(" partition %d msg %s", e.Partition, e.MsgID)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Config configures a Sink.
type Config struct {
	// Brokers are seed brokers ("host:port"); Topic the topic, which must
	// exist (see EnsureTopic).
	Brokers []string
	Topic   string
	// MaxPending bounds the messages produced and not yet acknowledged
	// (default 10000).
	MaxPending int
	// Opts are more franz-go options (TLS, SASL ...).
	Opts []kgo.Opt
	// Logger receives franz-go's warnings; nil is silent.
	Logger *slog.Logger
}

// Sink is a publish.Sink for a Kafka topic.
type Sink struct {
	cl    *kgo.Client
	cfg   Config
	parts int32
	last  map[int32]publish.ID // the last record of each partition at start

	mu      sync.Mutex
	changed chan struct{}
	pending map[uint64]int // messages produced: records not yet acknowledged
	floor   uint64         // every message up to it is acknowledged
	sent    uint64         // the last Seq sent
	err     error
	closed  bool

	acked     atomic.Uint64
	closeOnce sync.Once
	life      context.Context // the records' context: cancelled by Close only
	cancel    context.CancelFunc
}

// NewSink connects to the brokers, learns the topic's partitions and reads
// the last record of each.
func NewSink(ctx context.Context, cfg Config) (*Sink, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("kafka: NewSink needs Brokers and Topic")
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 10000
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(2 * cfg.MaxPending), // the window bounds messages; markers go to every partition
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, cfg.Opts...)
	if cfg.Logger != nil {
		opts = append(opts, kgo.WithLogger(kgoLogger{cfg.Logger}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, &Error{Op: "connect", Topic: cfg.Topic, Err: err}
	}
	s := &Sink{cl: cl, cfg: cfg, changed: make(chan struct{}), pending: map[uint64]int{}, last: map[int32]publish.ID{}}
	s.life, s.cancel = context.WithCancel(context.Background())
	if err := s.readLast(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return s, nil
}

// readLast learns the partitions and the id of each one's last record.
func (s *Sink) readLast(ctx context.Context) error {
	adm := kadm.NewClient(s.cl)
	ends, err := adm.ListEndOffsets(ctx, s.cfg.Topic)
	if err != nil {
		return s.err2("list offsets", err)
	}
	want := map[int32]kgo.Offset{}
	for p, o := range ends[s.cfg.Topic] {
		if o.Err != nil {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				return &Error{Op: "list offsets", Topic: s.cfg.Topic, Err: ErrNoTopic}
			}
			return s.err2("list offsets", o.Err)
		}
		s.parts = max(s.parts, p+1)
		if o.Offset > 0 {
			want[p] = kgo.NewOffset().At(o.Offset - 1)
		}
	}
	if s.parts == 0 {
		return &Error{Op: "list offsets", Topic: s.cfg.Topic, Err: ErrNoTopic}
	}
	if len(want) == 0 {
		return nil
	}
	rd, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: want})}, s.cfg.Opts...)...)
	if err != nil {
		return s.err2("read last records", err)
	}
	defer rd.Close()
	// A partition whose last offset holds no record for us (a control
	// record, a compacted one) is left without a last id after a while:
	// nothing of it is skipped.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(want) > 0 {
		fs := rd.PollFetches(pctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if pctx.Err() != nil {
			break
		}
		for _, fe := range fs.Errors() {
			return s.err2("read last records", fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := want[r.Partition]; !ok {
				return
			}
			delete(want, r.Partition)
			if id, err := idOf(r); err == nil {
				s.last[r.Partition] = id
			}
		})
	}
	return nil
}

func idOf(r *kgo.Record) (publish.ID, error) {
	var id publish.ID
	var off, idx string
	for _, h := range r.Headers {
		switch h.Key {
		case publish.HeaderReplID:
			id.ReplID = string(h.Value)
		case publish.HeaderOffset:
			off = string(h.Value)
		case publish.HeaderIndex:
			idx = string(h.Value)
		}
	}
	return publish.ParseID(id.ReplID + ":" + off + ":" + idx)
}

func (s *Sink) err2(op string, err error) error {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		err = fmt.Errorf("%w: %w", ErrPermission, err)
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		err = fmt.Errorf("%w: %w", ErrLimit, err)
	}
	return &Error{Op: op, Topic: s.cfg.Topic, Err: err}
}

func (s *Sink) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// partition returns the partition of a key.
func (s *Sink) partition(key []byte) int32 {
	h := fnv.New32a()
	h.Write(key)
	return int32(h.Sum32() % uint32(s.parts))
}

// Send produces m's records (see publish.Sink).
func (s *Sink) Send(ctx context.Context, m *publish.Message) error {
	s.mu.Lock()
	for {
		switch {
		case s.err != nil:
			s.mu.Unlock()
			return s.err
		case s.closed:
			s.mu.Unlock()
			return ErrClosed
		}
		if m.Seq-s.floor <= uint64(s.cfg.MaxPending) {
			break
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	var parts []int32
	if m.Key != nil {
		parts = []int32{s.partition(m.Key)}
	} else {
		parts = make([]int32, 0, s.parts)
		for p := range s.parts {
			parts = append(parts, p)
		}
	}
	n := 0
	for _, p := range parts {
		if last, ok := s.last[p]; ok && storedAlready(last, m) {
			continue
		}
		n++
	}
	s.sent = m.Seq
	if n == 0 {
		s.pending[m.Seq] = 0
		s.advance()
		s.mu.Unlock()
		return nil
	}
	s.pending[m.Seq] = n
	s.mu.Unlock()

	id := m.ID.String()
	// The headers' values share one array.
	hdrs := make([]kgo.RecordHeader, 0, 7)
	vals := make([]byte, 0, 128)
	m.AppendHeaders(func(name string, v []byte) {
		from := len(vals)
		vals = append(vals, v...)
		hdrs = append(hdrs, kgo.RecordHeader{Key: name, Value: vals[from:len(vals):len(vals)]})
	})
	value := append([]byte(nil), m.Body...)
	var key []byte
	if m.Key != nil {
		key = append([]byte{}, m.Key...)
	}
	seq := m.Seq
	for _, p := range parts {
		if last, ok := s.last[p]; ok && storedAlready(last, m) {
			continue
		}
		// Not ctx: franz-go fails a buffered record whose context ends, and
		// a record sent must be stored even when the caller stops sending.
		r := &kgo.Record{Key: key, Value: value, Headers: hdrs, Partition: p, Context: s.life}
		s.cl.Produce(s.life, r, func(r *kgo.Record, err error) { s.done(seq, id, r.Partition, err) })
	}
	return nil
}

// done counts one record of message seq as acknowledged, or fails.
func (s *Sink) done(seq uint64, id string, part int32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			e := s.err2("produce", err).(*Error)
			e.Partition, e.MsgID = part, id
			s.err = e
			s.broadcast()
		}
		return
	}
	s.pending[seq]--
	s.advance()
}

// advance moves the floor over the messages whose records are all
// acknowledged; s.mu is held.
func (s *Sink) advance() {
	moved := false
	for {
		n, ok := s.pending[s.floor+1]
		if !ok || n > 0 {
			break
		}
		delete(s.pending, s.floor+1)
		s.floor++
		moved = true
	}
	if moved {
		s.acked.Store(s.floor)
		s.broadcast()
	}
}

// storedAlready reports whether last, a partition's last record at start,
// shows m as stored there.
func storedAlready(last publish.ID, m *publish.Message) bool {
	id := m.ID
	if id.ReplID != last.ReplID || id.ReplID == "" {
		return false
	}
	switch {
	case id.Offset != last.Offset:
		return id.Offset < last.Offset
	case last.Index == publish.IndexSnapshotDone, m.Kind == monitor.KindReset:
		return true
	case m.Kind == monitor.KindChange || m.Kind == monitor.KindDBChange:
		return id.Index <= last.Index
	}
	return false
}

// Acked returns the Seq of the newest message acknowledged with all before
// it.
func (s *Sink) Acked() uint64 { return s.acked.Load() }

// Flush waits until every message sent is acknowledged, or a final error.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.floor < s.sent {
		if s.err != nil {
			return s.err
		}
		if s.closed {
			return ErrClosed
		}
		ch := s.changed
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

// Close closes the client: records not yet acknowledged are abandoned (see
// Flush). Close is idempotent.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.broadcast()
		s.mu.Unlock()
		s.cancel()
		s.cl.Close()
	})
	return nil
}

// EnsureTopic creates the topic with partitions partitions and the
// brokers' default replication unless it exists. It reports whether it
// created it.
func EnsureTopic(ctx context.Context, brokers []string, topic string, partitions int32, opts ...kgo.Opt) (bool, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return false, &Error{Op: "connect", Topic: topic, Err: err}
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ts, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return false, &Error{Op: "list topics", Topic: topic, Err: err}
	}
	if ts.Has(topic) {
		return false, nil
	}
	if _, err := adm.CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return false, nil
		}
		return false, &Error{Op: "create topic", Topic: topic, Err: err}
	}
	return true, nil
}

// kgoLogger hands franz-go's warnings and errors to slog.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }
func (k kgoLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	k.l.Log(context.Background(), slog.LevelWarn, "kafka: "+msg, kv...)
}

var _ publish.Sink = (*Sink)(nil)
