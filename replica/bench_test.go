package replica

import (
	"context"
	"net"
	"testing"
	"time"
)

// loopConn is a net.Conn that replays data forever and discards writes.
type loopConn struct {
	net.Conn
	data []byte
	off  int
}

func (c *loopConn) Read(p []byte) (int, error) {
	if c.off == len(c.data) {
		c.off = 0
	}
	n := copy(p, c.data[c.off:])
	c.off += n
	return n, nil
}

func (c *loopConn) Write(p []byte) (int, error)            { return len(p), nil }
func (c *loopConn) Close() error                           { return nil }
func (c *loopConn) SetReadDeadline(time.Time) error        { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error       { return nil }
func (c *loopConn) SetDeadline(time.Time) error            { return nil }
func (c *loopConn) LocalAddr() net.Addr                    { return &net.TCPAddr{} }
func (c *loopConn) RemoteAddr() net.Addr                   { return &net.TCPAddr{} }
func (c *loopConn) String() string                         { return "loop" }
func (c *loopConn) SetReadBuffer(int) error                { return nil }
func (c *loopConn) SetKeepAlive(bool) error                { return nil }
func (c *loopConn) SetKeepAlivePeriod(time.Duration) error { return nil }

// BenchmarkNext measures the whole path of one SET through Next: socket
// reader, parser, offsets, position, the Command event. One op is one
// command; allocs/op is the amortised allocations per command.
func BenchmarkNext(b *testing.B) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"cancelable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, err := Config{Addr: "127.0.0.1:1"}.withDefaults()
			if err != nil {
				b.Fatal(err)
			}
			r := newReplica(cfg, Position{})
			defer r.life.cancel()
			data := setStream(100000)
			conn := &loopConn{data: data}
			r.in.reset(conn)
			r.sess = &session{conn: conn, phase: phaseStream, began: true, replid: "0123456789012345678901234567890123456789"}
			ctx, cancel := tc.ctx()
			defer cancel()
			b.SetBytes(int64(len(data)) / 100000)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ev, err := r.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := ev.(*Command); !ok {
					b.Fatalf("got %T", ev)
				}
			}
		})
	}
}
