package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// ctlConn is a minimal RESP2 client for the control queries (CLUSTER
// SHARDS, CLUSTER NODES, INFO replication). One query at a time.
type ctlConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

// respError is an error reply ("-ERR ...").
type respError string

func (e respError) Error() string { return string(e) }

// maxReply caps a bulk string or an array of a control reply.
const maxReply = 64 << 20

func dialCtl(ctx context.Context, cfg *Config, addr string) (*ctlConn, error) {
	rc := &cfg.Replica
	dctx, cancel := context.WithTimeout(ctx, rc.DialTimeout)
	defer cancel()
	var c net.Conn
	var err error
	if rc.Dialer != nil {
		c, err = rc.Dialer(dctx, "tcp", addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if rc.TLS != nil {
		tc := rc.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		t := tls.Client(c, tc)
		if err := t.HandshakeContext(dctx); err != nil {
			c.Close()
			return nil, err
		}
		c = t
	}
	cc := &ctlConn{addr: addr, c: c, br: bufio.NewReader(c)}
	if rc.Password != "" {
		args := []string{"AUTH", rc.Password}
		if rc.Username != "" {
			args = []string{"AUTH", rc.Username, rc.Password}
		}
		if _, err := cc.do(ctx, args...); err != nil {
			cc.Close()
			return nil, err
		}
	}
	return cc, nil
}

func (c *ctlConn) Close() error { return c.c.Close() }

// do sends one command and reads its reply: string, []byte (nil for a nil
// bulk), int64, []any, or a respError as the error.
func (c *ctlConn) do(ctx context.Context, args ...string) (any, error) {
	dl := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.c.SetDeadline(dl)                                                         //nolint:errcheck
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) }) //nolint:errcheck
	defer stop()
	b := make([]byte, 0, 64)
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	if _, err := c.c.Write(b); err != nil {
		return nil, err
	}
	v, err := c.read(0)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return v, err
}

var errBadReply = errors.New("cluster: malformed reply")

func (c *ctlConn) read(depth int) (any, error) {
	if depth > 8 {
		return nil, errBadReply
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errBadReply
	}
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, respError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil || n > maxReply {
			return nil, errBadReply
		}
		if n < 0 {
			return []byte(nil), nil
		}
		buf := make([]byte, n+2)
		if _, err := readFull(c.br, buf); err != nil {
			return nil, err
		}
		return buf[:n], nil
	case '*':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil || n > maxReply {
			return nil, errBadReply
		}
		if n < 0 {
			return []any(nil), nil
		}
		out := make([]any, 0, min(n, 1024))
		for range n {
			v, err := c.read(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: type byte %q", errBadReply, line[0])
}

func readFull(br *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := br.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// str renders a reply element as a string.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// ctlPool keeps control connections to the primaries for the barriers'
// queries, so that a barrier costs one INFO round trip, not a connection
// (and a TLS handshake and an AUTH) per primary.
type ctlPool struct {
	mu     sync.Mutex
	idle   map[string][]*ctlConn
	closed bool
}

// maxIdleCtl is how many idle connections the pool keeps per address.
const maxIdleCtl = 2

func (p *ctlPool) get(addr string) *ctlConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[addr]
	if len(l) == 0 {
		return nil
	}
	c := l[len(l)-1]
	p.idle[addr] = l[:len(l)-1]
	return c
}

func (p *ctlPool) put(c *ctlConn) {
	p.mu.Lock()
	if p.closed || len(p.idle[c.addr]) >= maxIdleCtl {
		p.mu.Unlock()
		c.Close()
		return
	}
	if p.idle == nil {
		p.idle = map[string][]*ctlConn{}
	}
	p.idle[c.addr] = append(p.idle[c.addr], c)
	p.mu.Unlock()
}

// close closes the idle connections, and any put back later.
func (p *ctlPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, l := range p.idle {
		for _, c := range l {
			c.Close()
		}
	}
	p.idle = nil
}

// offset asks the node at addr for its master_repl_offset, on an idle
// connection if there is one. An idle connection the server has closed
// meanwhile costs one retry on a new one.
func (p *ctlPool) offset(ctx context.Context, cfg *Config, addr string) (int64, error) {
	for {
		c := p.get(addr)
		pooled := c != nil
		if !pooled {
			var err error
			if c, err = dialCtl(ctx, cfg, addr); err != nil {
				return 0, err
			}
		}
		_, off, err := replOffset(ctx, c)
		// With ctx still live after do, its deadline hook can no longer
		// fire on the connection: it may be used again.
		if err == nil && ctx.Err() == nil {
			p.put(c)
			return off, nil
		}
		c.Close()
		if !pooled || ctx.Err() != nil {
			return 0, err
		}
	}
}
