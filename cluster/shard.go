package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redtap/redtap/replica"
)

// shard is one shard's session and the merger's state about it.
type shard struct {
	id  string
	sid string // the server's shard id, when it has one

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ack    chan struct{}

	r       atomic.Pointer[replica.Replica]
	addrMu  sync.Mutex
	addr    string
	inNext  atomic.Bool
	returns atomic.Int64

	// Guarded by Tap.mu.
	members map[string]bool
	cq      []*commitEntry

	// Merger state (the goroutine in Tap.Next).
	cur      *item // received, not yet released
	lastOff  int64 // the shard's offset of the last event taken
	seen     int64 // the shard's offset of the last event received
	gated    bool  // in the initial snapshot, which is merged
	moveIns  int   // RESTORE-ASKINGs waiting for their DEL
	missing  int   // topology polls that did not list it
	probeRet int64
	probeAt  time.Time
	probeOK  bool
}

func (s *shard) getAddr() string {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

func (s *shard) setAddr(a string) {
	s.addrMu.Lock()
	s.addr = a
	s.addrMu.Unlock()
}

// item is an event of one shard as the merger holds it.
type item struct {
	sh   *shard
	ev   replica.Event
	err  error
	recv time.Time
	held time.Time // when first held; zero once no longer held
	del  *delState
}

// delState is a DEL being told apart: migration or user delete.
type delState struct {
	paired   int
	unpaired map[mkey]bool
	bar      *barrier
}

// commitEntry maps a merged offset to a shard position. A pending entry
// (a RESTORE-ASKING whose DEL has not come) stops the shard's commits.
type commitEntry struct {
	merged  int64
	pos     replica.Position
	pending bool
}

// run is a shard's goroutine: it reads the session and hands each event
// to the merger, then waits until the merger is done with it (the event's
// slices alias the session's buffers). primed says the first event was
// read by Dial and is in the merger already.
func (t *Tap) run(sh *shard, primed bool) {
	defer t.wg.Done()
	defer close(sh.done)
	ctx := sh.ctx
	if primed {
		select {
		case <-sh.ack:
		case <-ctx.Done():
			return
		}
	}
	r := sh.r.Load()
	for wait := 100 * time.Millisecond; r == nil; wait = min(2*wait, t.cfg.Replica.MaxBackoff) {
		addr := sh.getAddr()
		nr, err := replica.Dial(ctx, t.shardConfig(addr, replica.Position{}))
		if err == nil {
			sh.r.Store(nr)
			r = nr
			if ctx.Err() != nil { // closed meanwhile
				nr.Close()
				return
			}
			break
		}
		if ctx.Err() != nil {
			return
		}
		t.log.Warn("cluster: dial shard", "shard", sh.id, "addr", addr, "err", err)
		t.pollSoon()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
	for {
		sh.inNext.Store(true)
		ev, err := r.Next(ctx)
		sh.inNext.Store(false)
		sh.returns.Add(1)
		if err != nil && ctx.Err() != nil {
			return
		}
		select {
		case t.in <- &item{sh: sh, ev: ev, err: err, recv: time.Now()}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		select {
		case <-sh.ack:
		case <-ctx.Done():
			return
		}
	}
}

// stop ends the shard's session and goroutine.
func (sh *shard) stop() error {
	sh.cancel()
	var err error
	if r := sh.r.Load(); r != nil {
		err = r.Close()
	}
	<-sh.done
	if r := sh.r.Load(); r != nil { // stored after the first Close
		err = r.Close()
	}
	return err
}

// shardConfig is the session configuration for a shard at addr.
func (t *Tap) shardConfig(addr string, start replica.Position) replica.Config {
	c := t.cfg.Replica
	c.Addr, c.Start = addr, start
	c.Checkpointer, c.ManualCommit = nil, false
	return c
}

// caught reports whether the merger has received everything sh's primary
// had written when it reported off.
func (t *Tap) caught(sh *shard, off int64, now time.Time) bool {
	if sh.seen >= off {
		return true
	}
	if it := sh.cur; it != nil {
		if !it.held.IsZero() {
			// The shard waits on the merger (its event is held): what
			// comes after that event cannot be read yet. Treat it as
			// caught up, or two shards holding a DEL each would wait
			// for each other.
			return true
		}
		// Its event is on its way to the consumer, and what follows
		// comes once the consumer has it: not caught up yet. (Taking it
		// as caught up let a migration's DEL go out as a user delete
		// when its RESTORE-ASKING came right after such an event.)
		sh.probeOK = false
		return false
	}
	r := sh.r.Load()
	if r == nil || !sh.inNext.Load() {
		sh.probeOK = false
		return false
	}
	ret := sh.returns.Load()
	if r.Stats().ProcessedOffset < off || !sh.inNext.Load() {
		sh.probeOK = false
		return false
	}
	// The session consumed the rest (PING, REPLCONF) inside Next. Make sure
	// no event is on its way out of Next: the same state twice, 2ms apart.
	if sh.probeOK && sh.probeRet == ret && now.Sub(sh.probeAt) >= 2*time.Millisecond {
		return true
	}
	if !sh.probeOK || sh.probeRet != ret {
		sh.probeOK, sh.probeRet, sh.probeAt = true, ret, now
	}
	return false
}
