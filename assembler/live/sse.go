package live

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	rc := http.NewResponseController(w)
	q := make(queue, h.cfg.QueueLen)
	sub, err := h.a.Subscribe(q, ps, lastEventID(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer sub.Unsubscribe()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
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
			*bp = append(*bp, ": keepalive\n\n"...)
		case m := <-q:
			// Everything already queued goes in the same write: under
			// load a viewer catches up with one syscall, not one per
			// message.
			bp = getBuf()
			*bp = appendSSE(*bp, m)
			for more := true; more && len(*bp) < maxWrite; {
				select {
				case m := <-q:
					*bp = appendSSE(*bp, m)
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
