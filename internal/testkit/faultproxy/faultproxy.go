// Package faultproxy is a test-only TCP proxy on 127.0.0.1 that forwards
// connections to a target and injects faults on demand: cut every
// connection, cut after a number of bytes, stall forwarding, refuse new
// connections, or redirect new connections to another target.
//
//	client ──▶ Proxy.Addr() ──▶ target
//	       ◀──  (faults)    ◀──
//
// All methods are safe for concurrent use.
package faultproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a running fault-injecting proxy. Create it with New and stop it
// with Close.
type Proxy struct {
	ln net.Listener

	mu       sync.Mutex
	target   string
	conns    map[*pair]struct{}
	down     bool
	stalled  bool
	stallCh  chan struct{} // closed when a stall ends
	cutAfter int64         // >0: downstream bytes left before a cut; 0: off
	closed   bool

	accepted  atomic.Int64
	cuts      atomic.Int64
	bytesDown atomic.Int64 // bytes forwarded target -> client
	bytesUp   atomic.Int64 // bytes forwarded client -> target

	wg sync.WaitGroup
}

type pair struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{} // closed by close
}

func (p *pair) close() {
	p.once.Do(func() {
		close(p.done)
		p.client.Close()
		if p.server != nil {
			p.server.Close()
		}
	})
}

// New starts a proxy listening on a free port of 127.0.0.1 that forwards to
// target ("host:port").
func New(target string) (*Proxy, error) {
	if target == "" {
		return nil, errors.New("faultproxy: empty target")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*pair]struct{}{}, stallCh: make(chan struct{})}
	close(p.stallCh)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the current target address.
func (p *Proxy) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// Accepted counts the connections accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Cuts counts the connections closed by Cut, CutAfter, SetDown and
// Redirect with cut.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// BytesDown counts the bytes forwarded from targets to clients. Like
// BytesUp, it is final once Close has returned.
func (p *Proxy) BytesDown() int64 { return p.bytesDown.Load() }

// BytesUp counts the bytes forwarded from clients to targets.
func (p *Proxy) BytesUp() int64 { return p.bytesUp.Load() }

// Conns returns the number of open proxied connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut closes every open connection (both sides) and returns how many it
// closed. New connections are still accepted.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutLocked()
}

func (p *Proxy) cutLocked() int {
	n := 0
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
		n++
	}
	p.cuts.Add(int64(n))
	return n
}

// CutAfter arms a cut: after n more bytes have been forwarded from the
// target to the client (on any connection), the proxy forwards exactly
// those n bytes and closes every connection. n <= 0 disarms it.
func (p *Proxy) CutAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n < 0 {
		n = 0
	}
	p.cutAfter = n
}

// Armed reports whether a CutAfter is still pending.
func (p *Proxy) Armed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutAfter > 0
}

// SetDown(true) cuts every connection and closes new ones as soon as they
// are accepted (the target looks unreachable); SetDown(false) ends that.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		p.cutLocked()
	}
}

// Stall(true) stops forwarding bytes in both directions on every
// connection, existing and new (they stay open, bytes wait in the kernel
// buffers); Stall(false) resumes forwarding.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on == p.stalled {
		return
	}
	p.stalled = on
	if on {
		p.stallCh = make(chan struct{})
	} else {
		close(p.stallCh)
	}
}

// Redirect makes new connections go to target. With cut set it also closes
// the open connections, so that clients reconnect to the new target.
func (p *Proxy) Redirect(target string, cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
	if cut {
		p.cutLocked()
	}
}

// Close stops accepting, closes every connection and waits for the
// forwarding goroutines. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.stalled {
		p.stalled = false
		close(p.stallCh)
	}
	err := p.ln.Close()
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.closed || p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		target := p.target
		pr := &pair{client: c, done: make(chan struct{})}
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(pr, target)
	}
}

func (p *Proxy) serve(pr *pair, target string) {
	defer p.wg.Done()
	s, err := net.Dial("tcp", target)
	p.mu.Lock()
	_, open := p.conns[pr]
	if err != nil || !open {
		delete(p.conns, pr)
		p.mu.Unlock()
		if s != nil {
			s.Close()
		}
		pr.close()
		return
	}
	pr.server = s
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pump(pr, pr.server, pr.client, true)
	}()
	p.pump(pr, pr.client, pr.server, false)
}

// pump copies src to dst until either side fails, honouring stalls and,
// downstream, an armed CutAfter.
func (p *Proxy) pump(pr *pair, src, dst net.Conn, down bool) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, pr)
		p.mu.Unlock()
		pr.close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.forward(pr, dst, buf[:n], down) {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) forward(pr *pair, dst net.Conn, b []byte, down bool) bool {
	for {
		p.mu.Lock()
		if _, open := p.conns[pr]; !open {
			p.mu.Unlock()
			return false
		}
		if p.stalled {
			ch := p.stallCh
			p.mu.Unlock()
			select {
			case <-ch:
			case <-pr.done:
				return false
			}
			continue
		}
		cut := false
		if down && p.cutAfter > 0 {
			if int64(len(b)) >= p.cutAfter {
				b = b[:p.cutAfter]
				p.cutAfter = 0
				cut = true
			} else {
				p.cutAfter -= int64(len(b))
			}
		}
		if cut {
			// Write the last bytes while holding the lock so that no other
			// connection forwards anything past the cut point.
			dst.SetWriteDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
			_, err := dst.Write(b)
			if err == nil {
				p.bytesDown.Add(int64(len(b)))
			}
			p.cutLocked()
			p.mu.Unlock()
			return false
		}
		p.mu.Unlock()
		if _, err := dst.Write(b); err != nil {
			return false
		}
		if down {
			p.bytesDown.Add(int64(len(b)))
		} else {
			p.bytesUp.Add(int64(len(b)))
		}
		return true
	}
}
