package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/redtap/redtap/assembler"
)

// maxControl bounds a client's control message.
const maxControl = 64 << 10

// control is a message from a WebSocket client.
type control struct {
	Match  *[]string `json:"match"` // replace the selection
	Add    []string  `json:"add"`
	Remove []string  `json:"remove"`
}

// WebSocket returns the WebSocket handler (see the package documentation).
// It answers 503 once the hub has stopped.
func (h *Hub) WebSocket() http.Handler { return http.HandlerFunc(h.serveWS) }

func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	ps, ok := h.admit(w, r)
	if !ok {
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	c.SetReadLimit(maxControl)

	v := &wsViewer{h: h, c: c, q: make(queue, h.cfg.QueueLen), pats: slices.Clone(ps)}
	if len(ps) == 0 {
		v.pats = []string{"*"} // so that removing "*" leaves nothing
	}
	v.lastID.Store(-1)
	v.sub, err = h.a.Subscribe(v.q, ps, lastEventID(r))
	if err != nil {
		c.Close(websocket.StatusPolicyViolation, truncate(err.Error()))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	readDone := make(chan struct{})
	go func() { // the reader: owns v.sub and v.pats until it returns
		defer close(readDone)
		defer cancel()
		v.read(ctx)
	}()
	status, reason := v.write(ctx)
	if status != 0 {
		// Before cancel: a Read whose context ends closes the
		// connection, and the close frame would not go out.
		c.Close(status, reason)
	}
	cancel()
	c.CloseNow()
	<-readDone
	if v.sub != nil {
		v.sub.Unsubscribe()
	}
}

// wsViewer is one WebSocket connection.
type wsViewer struct {
	h      *Hub
	c      *websocket.Conn
	q      queue
	lastID atomic.Int64 // of the last message written

	sub  *assembler.Subscription // nil: no patterns
	pats []string
}

// write is the writer loop (the handler's goroutine). It returns the
// status to close with, 0 when the connection is already gone.
func (v *wsViewer) write(ctx context.Context) (websocket.StatusCode, string) {
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return 0, ""
		case <-v.h.done:
			return websocket.StatusGoingAway, "stream stopped"
		case m := <-v.q:
			buf = appendWS(buf[:0], m)
			wctx, cancel := context.WithTimeout(ctx, v.h.cfg.WriteTimeout)
			err := v.c.Write(wctx, websocket.MessageText, buf)
			cancel()
			if err != nil {
				return 0, ""
			}
			v.lastID.Store(m.ID)
		}
	}
}

// read is the reader loop: the client's pattern changes.
func (v *wsViewer) read(ctx context.Context) {
	for {
		typ, p, err := v.c.Read(ctx)
		if err != nil {
			return
		}
		var ctl control
		if typ != websocket.MessageText || json.Unmarshal(p, &ctl) != nil {
			v.c.Close(websocket.StatusUnsupportedData, `want {"add"|"remove"|"match":[patterns]}`)
			return
		}
		if err := v.change(ctx, ctl); err != nil {
			v.c.Close(websocket.StatusPolicyViolation, truncate(err.Error()))
			return
		}
	}
}

// change applies a control message to the selection.
func (v *wsViewer) change(ctx context.Context, ctl control) error {
	ps := slices.Clone(v.pats)
	if ctl.Match != nil {
		ps = slices.Clone(*ctl.Match)
	}
	for _, p := range ctl.Add {
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	ps = slices.DeleteFunc(ps, func(p string) bool { return slices.Contains(ctl.Remove, p) })
	if err := v.h.checkPatterns(ps); err != nil {
		return err
	}
	if len(ps) == 0 {
		if v.sub != nil {
			v.sub.Unsubscribe()
			v.sub = nil
		}
		v.pats = nil
		// An empty selection: an updates with no windows, in order after
		// what is queued.
		id := max(v.lastID.Load(), 0)
		m := assembler.Message{Event: "updates", ID: id,
			Data: fmt.Appendf(nil, `{"offset":%d,"windows":[]}`, id)}
		select {
		case v.q <- m:
		case <-ctx.Done():
		}
		return nil
	}
	v.pats = ps
	if v.sub == nil {
		s, err := v.h.a.Subscribe(v.q, ps, -1)
		if err != nil {
			return err
		}
		v.sub = s
		return nil
	}
	return v.sub.SetPatterns(ps)
}

// appendWS appends m as the JSON of one frame.
func appendWS(b []byte, m assembler.Message) []byte {
	b = append(b, `{"event":"`...)
	b = append(b, m.Event...)
	b = append(b, `","id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, `,"data":`...)
	b = append(b, m.Data...)
	return append(b, '}')
}

// truncate cuts a close reason to what a close frame carries.
func truncate(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}
