package live

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/redtap/redtap/assembler"
)

// An sseConn is an SSE viewer on a TCP connection taken from net/http, and
// its assembler.Sink. The hub's writers write its frames: Send only queues
// the frame and puts the viewer on its writer's list, so a message reaches
// a hundred viewers without waking a hundred goroutines. A writer tries
// one non-blocking writev per viewer; when the socket cannot take it all
// (a slow client), the viewer's own goroutine (its handler) writes the
// rest, blocking, until the viewer has caught up, and the writer takes
// over again. The two never write at the same time: blocked says whose
// turn it is. On a connection whose socket the hub cannot reach (a
// listener's own net.Conn type, TLS), the handler always writes.
type sseConn struct {
	h    *Hub
	c    net.Conn
	raw  syscall.RawConn // nil: the handler always writes
	w    *writer
	kick chan struct{} // the handler has writing to do (cap 1)

	mu      sync.Mutex
	pend    []*frame    // queued, not yet taken by a write: at most QueueLen
	spare   []*frame    // the slice a writer has taken, for the next swap
	rest    net.Buffers // what a writer left unwritten, for the handler
	queued  bool        // on w's list
	blocked bool        // the handler writes (and the writer does not)
	closed  bool
}

// Send implements assembler.Sink.
func (v *sseConn) Send(m assembler.Message) bool { return v.push(v.h.frameOf(m)) }

func (v *sseConn) push(f *frame) bool {
	v.mu.Lock()
	if v.closed || len(v.pend) >= v.h.cfg.QueueLen {
		v.mu.Unlock()
		return false
	}
	v.pend = append(v.pend, f)
	wake := !v.queued && !v.blocked
	v.queued = v.queued || wake
	v.mu.Unlock()
	switch {
	case wake:
		v.w.add(v)
	case v.raw == nil:
		select {
		case v.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// attempt is the writer's turn: one non-blocking writev of what is queued.
// It reuses and returns iov.
func (v *sseConn) attempt(iov [][]byte) [][]byte {
	v.mu.Lock()
	v.queued = false
	if v.closed || v.blocked || len(v.pend) == 0 {
		v.mu.Unlock()
		return iov
	}
	fs := v.pend
	v.pend, v.spare = v.spare[:0], fs
	v.mu.Unlock()

	total := 0
	for _, f := range fs {
		iov = append(iov, f.chunk)
		total += len(f.chunk)
	}
	clear(fs)
	n, err := v.writev(iov)
	switch {
	case err == nil && n == total:
		return iov
	case err != nil && !errors.Is(err, unix.EAGAIN):
		v.fail()
		return iov
	}
	// The socket is full: the handler writes the rest, blocking.
	var rest net.Buffers
	for _, b := range iov {
		if n >= len(b) {
			n -= len(b)
			continue
		}
		rest = append(rest, b[n:])
		n = 0
	}
	v.mu.Lock()
	v.rest, v.blocked = rest, true
	v.mu.Unlock()
	select {
	case v.kick <- struct{}{}:
	default:
	}
	return iov
}

// writev writes iov once, without waiting for the socket.
func (v *sseConn) writev(iov [][]byte) (int, error) {
	var n int
	var werr error
	if err := v.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), iov)
			if werr != unix.EINTR {
				return true
			}
		}
	}); err != nil {
		return 0, err // closed, or a deadline passed
	}
	if werr != nil {
		n = 0
	}
	return n, werr
}

// drain is the handler's turn: it writes, blocking, what a writer left
// and what was queued since, until nothing is left, and then gives the
// turn back to the writer.
func (v *sseConn) drain() error {
	for {
		v.mu.Lock()
		bs := v.rest
		v.rest = nil
		if len(bs) == 0 {
			for _, f := range v.pend {
				bs = append(bs, f.chunk)
			}
			clear(v.pend)
			v.pend = v.pend[:0]
		}
		if len(bs) == 0 {
			v.blocked = v.raw == nil
			v.mu.Unlock()
			return nil
		}
		v.mu.Unlock()
		_ = v.c.SetWriteDeadline(time.Now().Add(v.h.cfg.WriteTimeout))
		_, err := bs.WriteTo(v.c)
		// The writers' non-blocking writes have no deadline: one left
		// here would fail them once it has passed.
		_ = v.c.SetWriteDeadline(time.Time{})
		if err != nil {
			return err
		}
	}
}

// fail ends a viewer whose write failed: closing the connection ends its
// handler's read, and so the handler.
func (v *sseConn) fail() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.c.Close()
}

// serveTaken serves the viewer on c, a connection taken from net/http
// whose writes go straight to the socket, until the client goes away, the
// hub stops or a write fails.
func (h *Hub) serveTaken(c net.Conn, raw syscall.RawConn, ps []string, lastID int64, head []byte) {
	defer c.Close()
	v := &sseConn{h: h, c: c, raw: raw, w: h.nextWriter(), kick: make(chan struct{}, 1), blocked: true}
	if raw == nil {
		v.w = nil
	}
	sub, err := h.a.Subscribe(v, ps, lastID)
	if err != nil {
		writeError(c, h.cfg.WriteTimeout, err)
		return
	}
	defer sub.Unsubscribe()
	defer v.fail() // no Send is taken after it

	// The header, then what the subscription queued meanwhile (its
	// updates): the handler's turn, as blocked was set.
	_ = c.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if _, err := c.Write(head); err != nil {
		return
	}
	gone := watchGone(c)
	defer func() { c.Close(); <-gone }()
	if v.drain() != nil {
		return
	}
	keep := time.NewTicker(h.cfg.Keepalive)
	defer keep.Stop()
	for {
		select {
		case <-gone:
			return
		case <-h.done:
			// The writers have stopped: what is left, then the last
			// chunk, which ends the response cleanly.
			v.mu.Lock()
			v.blocked = true
			v.mu.Unlock()
			if v.drain() == nil {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.Write([]byte("0\r\n\r\n"))
			}
			return
		case <-keep.C:
			v.push(keepaliveFrame)
		case <-v.kick:
			if v.drain() != nil {
				return
			}
		}
	}
}

// watchGone reads c, on which the client sends nothing more, and closes
// the returned channel when the read fails: when the client goes away or
// c is closed (as net/http's background read does for a request's
// context).
func watchGone(c net.Conn) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				close(gone)
				return
			}
		}
	}()
	return gone
}

// A writer is one of the hub's writer goroutines: it writes the frames of
// the viewers on its list, in the order they were queued.
type writer struct {
	mu   sync.Mutex
	list []*sseConn
	wake chan struct{} // cap 1
}

func (w *writer) add(v *sseConn) {
	w.mu.Lock()
	w.list = append(w.list, v)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writer) run(ctx context.Context) {
	var list []*sseConn
	var iov [][]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		list, w.list = w.list, list[:0]
		w.mu.Unlock()
		for i, v := range list {
			iov = v.attempt(iov[:0])
			clear(iov)
			list[i] = nil
		}
	}
}

// nextWriter returns the writer of a new viewer, in turn.
func (h *Hub) nextWriter() *writer {
	return h.writers[h.nextW.Add(1)%uint64(len(h.writers))]
}
