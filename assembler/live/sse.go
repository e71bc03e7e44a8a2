package live

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redtap/redtap/assembler"
)

// SSE returns the Server-Sent Events handler (see the package
// documentation). It answers 503 once the hub has stopped.
func (h *Hub) SSE() http.Handler { return http.HandlerFunc(h.serveSSE) }

// admit starts a viewer's request: it answers 503 once the hub has stopped
// and 400 for bad ?match parameters, and otherwise returns those patterns.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	select {
	case <-h.done:
		http.Error(w, "stream stopped", http.StatusServiceUnavailable)
		return nil, false
	default:
	}
	ps := r.URL.Query()["match"]
	if err := h.checkPatterns(ps); err != nil {
		http.Error(w, "match: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return ps, true
}

func (h *Hub) checkPatterns(ps []string) error {
	if len(ps) > h.cfg.MaxPatterns {
		return fmt.Errorf("%d patterns: at most %d", len(ps), h.cfg.MaxPatterns)
	}
	for _, p := range ps {
		if p == "" || len(p) > 1024 {
			return fmt.Errorf("pattern %q: want 1 to 1024 bytes", p)
		}
	}
	return nil
}

// lastEventID returns the Last-Event-ID header (or the lastEventId query
// parameter, for clients that cannot set headers), -1 when absent or
// invalid.
func lastEventID(r *http.Request) int64 {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("lastEventId")
	}
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id < 0 {
		return -1
	}
	return id
}

func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ps, ok := h.admit(w, r)
	if !ok {
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	if r.Method == http.MethodGet && r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		// Take the connection: the frames then go to the socket as they
		// are, several in one writev, written by the hub's writers.
		if c, _, err := rc.Hijack(); err == nil { // a GET has no body: nothing buffered matters
			var raw syscall.RawConn
			switch c := c.(type) {
			case *net.TCPConn:
				raw, _ = c.SyscallConn()
			case *net.UnixConn:
				raw, _ = c.SyscallConn()
			}
			h.serveTaken(c, raw, ps, lastEventID(r), responseHead(hd))
			return
		}
		// A middleware's ResponseWriter without Hijack (nor Unwrap):
		// net/http's writer, below.
	}

	q := &sseQueue{h: h, c: make(chan *frame, h.cfg.QueueLen)}
	sub, err := h.a.Subscribe(q, ps, lastEventID(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer sub.Unsubscribe()
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if rc.Flush() != nil {
		return // no streaming through this writer
	}
	keep := time.NewTicker(h.cfg.Keepalive)
	defer keep.Stop()
	for {
		var bp *[]byte
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case <-keep.C:
			bp = getBuf()
			*bp = append(*bp, keepaliveFrame.event()...)
		case f := <-q.c:
			// Everything already queued goes in the same write: under
			// load a viewer catches up with one syscall, not one per
			// message.
			bp = getBuf()
			*bp = append(*bp, f.event()...)
			for more := true; more && len(*bp) < maxWrite; {
				select {
				case f := <-q.c:
					*bp = append(*bp, f.event()...)
				default:
					more = false
				}
			}
		}
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		_, err := w.Write(*bp)
		putBuf(bp) // an idle viewer holds no buffer
		if err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// responseHead is the head of the response on a taken connection: status,
// hd (what net/http would not send left out), chunked encoding.
func responseHead(hd http.Header) []byte {
	b := append(make([]byte, 0, 256), "HTTP/1.1 200 OK\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	for k, vs := range hd {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Date":
			continue
		}
		for _, v := range vs {
			if strings.ContainsAny(k, "\r\n: ") || strings.ContainsAny(v, "\r\n") {
				continue // net/http would not send it either
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"...)
}

// writeError answers 400 with err on a taken connection.
func writeError(c net.Conn, timeout time.Duration, err error) {
	msg := err.Error() + "\n"
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(msg), msg)
}

// frame is one message as an SSE event inside an HTTP chunk, built once
// and shared by every viewer that gets the same message.
type frame struct {
	chunk []byte // size line, the SSE event, CRLF
	head  int    // where the event starts in chunk
}

func (f *frame) event() []byte { return f.chunk[f.head : len(f.chunk)-2] }

var keepaliveFrame = newFrame(func(b []byte) []byte { return append(b, ": keepalive\n\n"...) })

func newFrame(event func([]byte) []byte) *frame {
	const head = 10 // up to 8 hex digits and CRLF, right-aligned
	b := event(make([]byte, head, 512))
	n := len(b) - head
	var hx [16]byte
	h := strconv.AppendInt(hx[:0], int64(n), 16)
	h = append(h, "\r\n"...)
	start := head - len(h)
	copy(b[start:], h)
	b = append(b, "\r\n"...)
	return &frame{chunk: b[start:], head: head - start}
}

// sseQueue is an SSE viewer's bounded queue of frames, its
// assembler.Sink. The viewers of one message share its frame: the hub
// keeps the last one built.
type sseQueue struct {
	h *Hub
	c chan *frame
}

func (q *sseQueue) Send(m assembler.Message) bool {
	if len(q.c) == cap(q.c) {
		return false
	}
	select {
	case q.c <- q.h.frameOf(m):
		return true
	default:
		return false
	}
}

// frameOf returns m's frame, the one built for the previous viewer when m
// is the same message (the assembler sends one message to its viewers one
// after the other).
func (h *Hub) frameOf(m assembler.Message) *frame {
	h.fmu.Lock()
	defer h.fmu.Unlock()
	if l := &h.last; l.f != nil && l.id == m.ID && l.event == m.Event && len(l.data) == len(m.Data) &&
		(len(m.Data) == 0 || &l.data[0] == &m.Data[0]) {
		return l.f
	}
	f := newFrame(func(b []byte) []byte { return appendSSE(b, m) })
	h.last.f, h.last.id, h.last.event, h.last.data = f, m.ID, m.Event, m.Data
	return f
}

// bufs are the viewers' write buffers, shared while they wait.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxWrite*2 {
		return // a rare big one (a large window's updates) goes to the GC
	}
	*b = (*b)[:0]
	bufs.Put(b)
}

// maxWrite is the size past which a viewer's goroutine stops adding queued
// messages to one write.
const maxWrite = 256 << 10

// appendSSE appends m as one SSE event. The assembler's JSON is one line;
// a newline in it would still be framed as several data lines.
func appendSSE(b []byte, m assembler.Message) []byte {
	b = append(b, "event: "...)
	b = append(b, m.Event...)
	b = append(b, "\nid: "...)
	b = strconv.AppendInt(b, m.ID, 10)
	d := m.Data
	for {
		b = append(b, "\ndata: "...)
		i := bytes.IndexByte(d, '\n')
		if i < 0 {
			b = append(b, d...)
			break
		}
		b = append(b, bytes.TrimSuffix(d[:i], []byte("\r"))...)
		d = d[i+1:]
	}
	return append(b, "\n\n"...)
}
