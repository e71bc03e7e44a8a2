package replica

import (
	"net"
	"sync/atomic"
	"time"
)

// While the stream of a new session has not started, ACKs go out every
// eagerAck, for at most eagerWindow.
const (
	eagerAck    = 25 * time.Millisecond
	eagerWindow = 3 * time.Second
)

// acker is the state of REPLCONF ACK: the processed offset it reports and
// the eager window of a new session.
type acker struct {
	interval  time.Duration
	processed atomic.Int64 // what Next has returned, plus what it consumed after: what ACKs report
	// eagerUntil (Unix ns) > now while the stream of a new session has not
	// started: ACKs go out every eagerAck instead of every interval,
	// because a master that finished a diskless transfer starts streaming
	// only on an ACK that arrives after it noticed the transfer's end.
	eagerUntil atomic.Int64
	eagerFrom  atomic.Int64  // the stream's start offset for that session
	kick       chan struct{} // wakes the loop when eager ACKs begin
}

// beginEager opens the eager window of a stream starting at off.
func (a *acker) beginEager(off int64) {
	a.eagerFrom.Store(off)
	a.eagerUntil.Store(time.Now().Add(eagerWindow).UnixNano())
}

// wake makes the loop look at the eager window at once.
func (a *acker) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// eager reports whether an eager ACK is due at now: the window is open and
// nothing has arrived since the stream's start (received).
func (a *acker) eager(now time.Time, received int64) bool {
	return now.UnixNano() < a.eagerUntil.Load() && received == a.eagerFrom.Load()
}

// ackLoop sends REPLCONF ACK every AckInterval while a session streams,
// whatever the caller's pace. It never reads the connection.
func (r *Replica) ackLoop() {
	defer r.life.wg.Done()
	a := &r.ack
	t := time.NewTimer(a.interval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.life.ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
		now := time.Now()
		eager := a.eager(now, r.st.received.Load())
		if eager || now.Sub(last) >= a.interval {
			if conn, ok := r.link.streamingConn(); ok {
				r.writeAck(conn, a.processed.Load())
				last = now
			}
		}
		next := a.interval - time.Since(last)
		if eager || a.eagerUntil.Load() > now.UnixNano() {
			next = min(next, eagerAck)
		}
		t.Reset(max(next, time.Millisecond))
	}
}

// writeAck sends REPLCONF ACK <off> on conn. A failed write closes conn, so
// that Next notices and reconnects.
func (r *Replica) writeAck(conn net.Conn, off int64) {
	if err := r.w.ack(conn, off); err != nil {
		r.log.Debug("replica: ack failed", "err", err)
		conn.Close()
	}
}
