package publish

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// cmdSource delivers a full sync, then n SETs of distinct keys, reusing
// one Command as a replica does, then io.EOF.
type cmdSource struct {
	n, i int
	sync replica.Sync
	cmd  replica.Command
	key  []byte
}

func newCmdSource(n int) *cmdSource {
	s := &cmdSource{n: n, sync: replica.Sync{Mode: replica.SyncFull, ReplID: replid, Offset: 100}}
	s.cmd.Args = [][]byte{[]byte("SET"), nil, []byte("0123456789abcdef")}
	return s
}

func (s *cmdSource) Next(context.Context) (replica.Event, error) {
	switch {
	case s.i == 0:
		s.i++
		return &s.sync, nil
	case s.i == 1:
		s.i++
		return &replica.SnapshotDone{Offset: 100, Pos: pos(100)}, nil
	case s.i-2 >= s.n:
		return nil, io.EOF
	}
	s.i++
	s.key = strconv.AppendInt(append(s.key[:0], "key:"...), int64(s.i), 10)
	s.cmd.Args[1] = s.key
	s.cmd.Offset += 50
	s.cmd.Pos = replica.Position{ReplID: replid, Offset: 100 + s.cmd.Offset}
	return &s.cmd, nil
}

func (s *cmdSource) Commit(replica.Position) {}

// headerSink does what a broker's sink does with a message apart from the
// I/O: it reads the subject, body and headers, into buffers it reuses, and
// acknowledges at once.
type headerSink struct {
	seq uint64
	buf []byte
}

func (s *headerSink) Send(_ context.Context, m *Message) error {
	s.buf = append(s.buf[:0], m.Subject...)
	s.buf = append(s.buf, m.Body...)
	s.buf = m.ID.Append(s.buf)
	m.AppendHeaders(func(name string, v []byte) {
		s.buf = append(s.buf, name...)
		s.buf = append(s.buf, v...)
	})
	s.seq = m.Seq
	return nil
}
func (s *headerSink) Acked() uint64               { return s.seq }
func (s *headerSink) Flush(context.Context) error { return nil }
func (s *headerSink) Close() error                { return nil }

// BenchmarkPublish measures the publisher's cost per message (one SET, one
// message) from the source to a sink that reads the message and its
// headers: monitor, JSON encoding, subject, id and headers.
func BenchmarkPublish(b *testing.B) {
	src := newCmdSource(b.N)
	sink := &headerSink{}
	p, err := New(src, sink, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.Run(context.Background()); !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := p.Stats().Messages; got != uint64(b.N)+2 {
		b.Fatalf("%d messages, want %d", got, b.N+2)
	}
}

// BenchmarkAppendHeaders measures Message.AppendHeaders.
func BenchmarkAppendHeaders(b *testing.B) {
	m := &Message{ID: ID{ReplID: replid, Offset: 123456789, Index: 2}, Kind: monitor.KindChange, DB: 3, Tx: true, Batch: 2, BatchLen: 5}
	b.ReportAllocs()
	for b.Loop() {
		m.AppendHeaders(func(_ string, v []byte) { headerBytes += len(v) })
	}
}

var headerBytes int
