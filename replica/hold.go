package replica

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// pipeLimit bounds what a hold buffers once the snapshot is done: from then
// on it reads the main connection only while less than this is unread, so
// the caller's pace is the backpressure again.
const pipeLimit = 1 << 20

// ErrHoldLimit reports that the command stream held during a dual-channel
// snapshot outgrew Config.DualChannel.HoldLimit. The session is dropped and the replica
// reconnects.
var ErrHoldLimit = errors.New("replica: held stream over Config.DualChannel.HoldLimit")

// hold reads the main connection of a dual-channel sync while the snapshot
// travels on the other one, and keeps what it reads: in memory up to
// memLimit, then in an unlinked temporary file, up to limit bytes unread in
// all (0: no limit). Once the snapshot is done (pipe), it keeps reading,
// but only while less than pipeLimit is unread. Its consumer reads it
// through a heldConn, in order: memory first, then the file (whatever is
// unread in the file is newer than what is in memory).
type hold struct {
	src       io.Reader // the main connection, or a buffered reader over it
	conn      net.Conn  // the main connection: read deadlines, keepalives
	timeout   time.Duration
	memLimit  int64
	limit     int64
	dir       string
	held      *atomic.Int64 // Stats: bytes held before the snapshot ended
	spilled   *atomic.Int64 // Stats: of those, bytes written to the file
	keepalive func()        // called every interval until the snapshot ends
	abort     func()        // called when the reader ends before the snapshot does

	mu       sync.Mutex
	cond     *sync.Cond
	chunks   [][]byte // in memory, oldest first
	memLen   int64
	file     *os.File
	fileR    int64 // read offset in file
	fileW    int64 // write offset in file
	piping   bool
	err      error // the reader's end, reported after the data
	closed   bool
	deadline time.Time
	timer    *time.Timer
	stop     chan struct{}
	wg       sync.WaitGroup
}

// startHold starts the goroutines of a hold.
func startHold(h *hold, interval time.Duration) {
	h.cond = sync.NewCond(&h.mu)
	h.stop = make(chan struct{})
	h.wg.Add(2)
	go h.readLoop()
	go h.keepaliveLoop(interval)
}

func (h *hold) readLoop() {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		for h.piping && h.unread() >= pipeLimit && !h.closed {
			h.cond.Wait()
		}
		closed := h.closed
		h.mu.Unlock()
		if closed {
			return
		}
		buf := make([]byte, readBufferSize)
		if err := h.conn.SetReadDeadline(time.Now().Add(h.timeout)); err != nil {
			h.end(err)
			return
		}
		n, err := h.src.Read(buf)
		h.mu.Lock()
		if n > 0 {
			if perr := h.put(buf[:n]); perr != nil {
				err = perr
			}
		}
		h.cond.Broadcast()
		h.mu.Unlock()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = &timeoutError{d: h.timeout, err: err}
			}
			h.end(err)
			return
		}
	}
}

// end records the reader's end; before the snapshot is done it aborts the
// snapshot too: the session cannot go on without its stream.
func (h *hold) end(err error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = err
	}
	abort := !h.piping && !h.closed
	h.cond.Broadcast()
	h.mu.Unlock()
	if abort && h.abort != nil {
		h.abort()
	}
}

// keepaliveLoop refreshes the master's idea of when this replica last
// spoke while the snapshot travels: a replica's empty line counts as an
// ACK without claiming an offset.
func (h *hold) keepaliveLoop(interval time.Duration) {
	defer h.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		piping := h.piping
		h.mu.Unlock()
		if piping {
			return
		}
		h.keepalive()
	}
}

func (h *hold) unread() int64 { return h.memLen + h.fileW - h.fileR }

// put keeps b; mu is held.
func (h *hold) put(b []byte) error {
	n := int64(len(b))
	if !h.piping && h.limit > 0 && h.unread()+n > h.limit {
		return fmt.Errorf("%w: %d bytes held while the snapshot travels", ErrHoldLimit, h.unread()+n)
	}
	if !h.piping {
		h.held.Add(n)
	}
	if h.fileW == h.fileR && h.memLen+n <= h.memLimit {
		h.chunks = append(h.chunks, b)
		h.memLen += n
		return nil
	}
	if h.file == nil {
		f, err := os.CreateTemp(h.dir, "redtap-held-*")
		if err != nil {
			return fmt.Errorf("replica: spill the held stream to a file: %w", err)
		}
		os.Remove(f.Name()) //nolint:errcheck // unlinked at once: gone with the process
		h.file = f
	}
	if _, err := h.file.WriteAt(b, h.fileW); err != nil {
		return fmt.Errorf("replica: spill the held stream to a file: %w", err)
	}
	h.fileW += n
	if !h.piping {
		h.spilled.Add(n)
	}
	return nil
}

// pipe ends the holding: the snapshot is done.
func (h *hold) pipe() {
	h.mu.Lock()
	h.piping = true
	h.cond.Broadcast()
	h.mu.Unlock()
}

// read is the consumer's Read.
func (h *hold) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.unread() == 0 {
		switch {
		case h.closed:
			return 0, net.ErrClosed
		case h.err != nil:
			return 0, h.err
		case !h.deadline.IsZero() && !time.Now().Before(h.deadline):
			return 0, os.ErrDeadlineExceeded
		}
		h.cond.Wait()
	}
	var n int
	if len(h.chunks) > 0 {
		n = copy(p, h.chunks[0])
		h.chunks[0] = h.chunks[0][n:]
		if len(h.chunks[0]) == 0 {
			h.chunks[0] = nil
			h.chunks = h.chunks[1:]
		}
		h.memLen -= int64(n)
	} else {
		m := min(int64(len(p)), h.fileW-h.fileR)
		var err error
		n, err = h.file.ReadAt(p[:m], h.fileR)
		h.fileR += int64(n)
		if err != nil && n == 0 {
			return 0, fmt.Errorf("replica: read the held stream back: %w", err)
		}
		if h.fileR == h.fileW {
			// Drained: start the file over.
			h.fileR, h.fileW = 0, 0
			h.file.Truncate(0) //nolint:errcheck // only reclaims space
		}
	}
	h.cond.Broadcast()
	return n, nil
}

func (h *hold) setDeadline(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deadline = t
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	if !t.IsZero() {
		h.timer = time.AfterFunc(time.Until(t), func() {
			h.mu.Lock()
			h.cond.Broadcast()
			h.mu.Unlock()
		})
	}
	h.cond.Broadcast()
}

// close stops the goroutines (the caller closes the connection first, to
// unblock a pending read) and drops what is held.
func (h *hold) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.stop)
	if h.timer != nil {
		h.timer.Stop()
	}
	h.cond.Broadcast()
	h.mu.Unlock()
	h.wg.Wait()
	h.mu.Lock()
	h.chunks, h.memLen = nil, 0
	if h.file != nil {
		h.file.Close()
		h.file = nil
	}
	h.mu.Unlock()
}

// heldConn is the main connection of a dual-channel session as its
// consumer sees it: reads come from the hold, writes go to the connection.
type heldConn struct {
	net.Conn
	h    *hold
	once sync.Once
}

func (c *heldConn) Read(p []byte) (int, error) { return c.h.read(p) }

func (c *heldConn) SetReadDeadline(t time.Time) error {
	c.h.setDeadline(t)
	return nil
}

func (c *heldConn) SetDeadline(t time.Time) error {
	c.h.setDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *heldConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.h.close()
	})
	return err
}

// holdErr returns the error that ended the hold's reader, if any.
func (c *heldConn) holdErr() error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return c.h.err
}
