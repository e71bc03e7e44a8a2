package replica

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const readBufferSize = 64 << 10

// link is the connection state that Next shares with Close, Redirect and
// the ACK goroutine.
type link struct {
	mu         sync.Mutex
	addr       string   // where the next connection goes
	conn       net.Conn // the current connection, or nil
	side       net.Conn // a second connection of the session (dual-channel snapshot), or nil
	streaming  bool     // conn is in its command stream: ACKs may be sent
	redirected string   // set by Redirect until the next connection
	// closed is set under mu (so that attach and close agree on who
	// closes a new connection) and read anywhere.
	closed atomic.Bool
}

// target returns the address the next connection goes to.
func (l *link) target() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// attach makes conn the current connection. It reports false when the
// replica is closed: the caller must then close conn itself.
func (l *link) attach(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return false
	}
	l.conn, l.streaming, l.redirected = conn, false, ""
	return true
}

// swap replaces the current connection old by its wrapper conn.
func (l *link) swap(old, conn net.Conn) {
	l.mu.Lock()
	if l.conn == old {
		l.conn = conn
	}
	l.mu.Unlock()
}

// attachSide makes conn the session's second connection, closed with the
// first by Close and Redirect. It reports false when the replica is closed.
func (l *link) attachSide(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return false
	}
	l.side = conn
	return true
}

// detachSide forgets conn if it is the second connection.
func (l *link) detachSide(conn net.Conn) {
	l.mu.Lock()
	if l.side == conn {
		l.side = nil
	}
	l.mu.Unlock()
}

// closeSide closes the second connection, if any; mu is held.
func (l *link) closeSide() {
	if l.side != nil {
		l.side.Close()
		l.side = nil
	}
}

// detach forgets conn if it is the current connection.
func (l *link) detach(conn net.Conn) {
	l.mu.Lock()
	if l.conn == conn {
		l.conn, l.streaming = nil, false
	}
	l.mu.Unlock()
}

// stream marks conn, if current, as being in its command stream.
func (l *link) stream(conn net.Conn) {
	l.mu.Lock()
	if l.conn == conn {
		l.streaming = true
	}
	l.mu.Unlock()
}

// streamingConn returns the current connection if it may be sent ACKs.
func (l *link) streamingConn() (net.Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn, l.streaming
}

// redirect sets the next address and returns the current connection, which
// the caller closes.
func (l *link) redirect(addr string) net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addr = addr
	if l.conn != nil {
		l.redirected = addr
	}
	l.closeSide()
	return l.conn
}

// redirectedTo returns the address given to Redirect since the current
// connection was made, or "".
func (l *link) redirectedTo() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.redirected
}

// close marks the link closed and returns the current connection, which
// the caller closes.
func (l *link) close() net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed.Store(true)
	l.streaming = false
	l.closeSide()
	return l.conn
}

// input is the read side of a connection: the connection reader, the
// buffered readers over it and the RESP parser of the command stream.
// Only Next uses it.
type input struct {
	cr  connReader
	br  *bufio.Reader
	ibr *bufio.Reader // bounded reader for "$<len>" payloads, made on first use
	p   *respParser
	sr  streamReader
}

func (in *input) init(cfg Config, bytes *atomic.Int64) {
	in.cr.timeout, in.cr.bytes = cfg.ReadTimeout, bytes
	in.br = bufio.NewReaderSize(&in.cr, readBufferSize)
	in.p = newRespParser(cfg.MaxBulkLen, cfg.MaxArgs)
	in.sr = streamReader{br: in.br, p: in.p}
}

// reset starts reading a new connection.
func (in *input) reset(conn net.Conn) {
	in.cr.reset(conn)
	in.br.Reset(&in.cr)
	in.p.reset()
}

const maxReplyLine = 4096

// readLine reads a reply line without its line ending. With skipEmpty,
// empty lines (keepalive newlines) are skipped.
func (in *input) readLine(skipEmpty bool) (string, error) {
	return readLine(in.br, skipEmpty)
}

// readLine reads a reply line from br (see input.readLine).
func readLine(br *bufio.Reader, skipEmpty bool) (string, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(line) > maxReplyLine {
			return "", protoErr("reply line longer than %d bytes", maxReplyLine)
		}
		if err != nil {
			return "", err
		}
		line = line[:len(line)-1]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			if skipEmpty {
				continue
			}
			return "", protoErr("empty reply line")
		}
		return string(line), nil
	}
}

// connWriter serialises the writes to a connection: handshake commands
// from Next and REPLCONF ACK from the ACK goroutine. Every write gets a
// deadline of timeout.
type connWriter struct {
	mu      sync.Mutex
	buf     []byte
	num     [20]byte
	timeout time.Duration
}

// command writes one command as a RESP array.
func (w *connWriter) command(conn net.Conn, args ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := append(w.buf[:0], '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	w.buf = b
	return w.write(conn)
}

// newline writes an empty line: a replica's keepalive that refreshes the
// master's last-ACK time without claiming an offset.
func (w *connWriter) newline(conn net.Conn) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf[:0], '\n')
	return w.write(conn)
}

// ack writes REPLCONF ACK <off> without allocating.
func (w *connWriter) ack(conn net.Conn, off int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	num := strconv.AppendInt(w.num[:0], off, 10)
	b := append(w.buf[:0], "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$"...)
	b = strconv.AppendInt(b, int64(len(num)), 10)
	b = append(b, "\r\n"...)
	b = append(b, num...)
	b = append(b, "\r\n"...)
	w.buf = b
	return w.write(conn)
}

func (w *connWriter) write(conn net.Conn) error {
	if err := conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	_, err := conn.Write(w.buf)
	return err
}

// connReader is the reader under the bufio.Reader: it counts bytes, keeps
// the read deadline ReadTimeout ahead (resetting it at most every
// ReadTimeout/16, so that it costs nothing per read), makes a pending read
// return when the caller's context ends, and remembers the connection's
// first error.
type connReader struct {
	conn    net.Conn
	timeout time.Duration
	ctx     context.Context
	lastSet time.Time
	dirty   bool  // the deadline was moved by a cancellation
	err     error // sticky: the connection failed
	bytes   *atomic.Int64
}

var longAgo = time.Unix(1, 0)

func (c *connReader) reset(conn net.Conn) {
	c.conn, c.err, c.dirty, c.lastSet = conn, nil, false, time.Time{}
}

func (c *connReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	ctx := c.ctx
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := time.Now()
	if c.dirty || now.Sub(c.lastSet) >= c.timeout/16 {
		if err := c.conn.SetReadDeadline(now.Add(c.timeout)); err != nil {
			c.err = err
			return 0, err
		}
		c.lastSet, c.dirty = now, false
	}
	var stop func() bool
	var fired chan struct{}
	if ctx.Done() != nil {
		fired = make(chan struct{})
		conn := c.conn
		stop = context.AfterFunc(ctx, func() {
			conn.SetReadDeadline(longAgo) //nolint:errcheck // best effort
			close(fired)
		})
	}
	n, err := c.conn.Read(p)
	c.bytes.Add(int64(n))
	if stop != nil && !stop() {
		<-fired
		c.dirty = true
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			return n, ctx.Err()
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &timeoutError{d: c.timeout, err: err}
		}
		c.err = err
	}
	return n, err
}

// timeoutError reports a master silent for Config.ReadTimeout.
type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("nothing from the master for %v: %v", e.d, e.err)
}

func (e *timeoutError) Unwrap() error { return e.err }
