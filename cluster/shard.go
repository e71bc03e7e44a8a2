package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redtap/redtap/internal/rdbcopy"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// shard is one shard's session and the merger's state about it.
type shard struct {
	id  string
	sid string // the server's shard id, when it has one

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ack    chan struct{} // the merger released an event that was not copied
	room   chan struct{} // the merger took the queue

	// The read-ahead queue: events the shard's goroutine has read and the
	// merger has not taken yet, in order. Commands and transactions in it
	// are copies (see own), so the goroutine reads on; any other event is
	// the last one in it until the merger releases it.
	qmu    sync.Mutex
	q      []*item
	qBytes int

	r       atomic.Pointer[replica.Replica]
	addrMu  sync.Mutex
	addr    string
	inNext  atomic.Bool
	returns atomic.Int64

	// Guarded by Tap.mu.
	members map[string]bool
	cq      []*commitEntry

	// Merger state (the goroutine in Tap.Next).
	local    []*item // taken from q; local[li:] not yet accepted
	li       int
	cur      *item // accepted, not yet released
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
	ack  bool // not copied: the shard reads on once it is released
}

// delState is a DEL being told apart: migration or user delete.
type delState struct {
	paired   int
	unpaired map[mkey]bool
	bar      *barrier
	since    time.Time // when the merger first took it (recv may be older: the shard reads ahead)
}

// commitEntry maps a merged offset to a shard position. A pending entry
// (a RESTORE-ASKING whose DEL has not come) stops the shard's commits.
type commitEntry struct {
	merged  int64
	pos     replica.Position
	pending bool
}

// Read-ahead limits of a shard: events, and bytes copied.
const (
	queueMax      = 256
	queueMaxBytes = 1 << 20
	ownMax        = 64 << 10 // an event with more bytes to copy is not copied
)

// run is a shard's goroutine: it reads the session and queues each event
// for the merger. What own copies (commands, transactions, snapshot keys)
// lets it read on, up to queueMax events or queueMaxBytes ahead of the
// merger; after any other event it waits until the merger is done with it,
// since the event's slices alias the session's buffers. primed says
// the first event was read by Dial and is in the merger already.
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
		it := &item{sh: sh, ev: ev, err: err, recv: time.Now()}
		n := -1
		if err == nil {
			n = own(ev)
		}
		it.ack = n < 0
		full := sh.push(it, max(n, 0))
		t.signal()
		if err != nil {
			return
		}
		if it.ack {
			select {
			case <-sh.ack:
			case <-ctx.Done():
				return
			}
		}
		for full {
			select {
			case <-sh.room:
			case <-ctx.Done():
				return
			}
			full = sh.full()
		}
	}
}

// push queues an event that holds n copied bytes, and reports whether the
// queue is full.
func (sh *shard) push(it *item, n int) bool {
	sh.qmu.Lock()
	defer sh.qmu.Unlock()
	sh.q = append(sh.q, it)
	sh.qBytes += n
	return len(sh.q) >= queueMax || sh.qBytes >= queueMaxBytes
}

func (sh *shard) full() bool {
	sh.qmu.Lock()
	defer sh.qmu.Unlock()
	return len(sh.q) >= queueMax || sh.qBytes >= queueMaxBytes
}

// head returns the next event of the shard for the merger, nil if none is
// queued. Only the merger calls it.
func (sh *shard) head() *item {
	if sh.li == len(sh.local) {
		clear(sh.local)
		spare := sh.local[:0]
		sh.qmu.Lock()
		sh.local, sh.q, sh.qBytes = sh.q, spare, 0
		sh.qmu.Unlock()
		sh.li = 0
		if len(sh.local) == 0 {
			return nil
		}
		select {
		case sh.room <- struct{}{}:
		default:
		}
	}
	return sh.local[sh.li]
}

// queued reports whether the merger has events of the shard to take.
func (sh *shard) queued() bool {
	if sh.li < len(sh.local) {
		return true
	}
	sh.qmu.Lock()
	defer sh.qmu.Unlock()
	return len(sh.q) > 0
}

// own copies a command's or a transaction's arguments, or a snapshot key,
// out of the session's buffers, so that the shard can read on. It returns
// the bytes copied, or -1 for an event it leaves as it is: any other kind,
// a stream or module key, or more than ownMax bytes.
func own(ev replica.Event) int {
	var one [1]*[][]byte
	var lists []*[][]byte
	switch e := ev.(type) {
	case *replica.Command:
		one[0] = &e.Args
		lists = one[:]
	case *replica.Transaction:
		lists = make([]*[][]byte, len(e.Commands))
		for i := range e.Commands {
			lists[i] = &e.Commands[i].Args
		}
	case *replica.SnapshotRecord:
		return ownRecord(e)
	default:
		return -1
	}
	size, nargs := 0, 0
	for _, l := range lists {
		for _, a := range *l {
			size += len(a)
		}
		nargs += len(*l)
	}
	if size > ownMax {
		return -1
	}
	buf := make([]byte, 0, size)
	args := make([][]byte, 0, nargs)
	for _, l := range lists {
		from := len(args)
		for _, a := range *l {
			at := len(buf)
			buf = append(buf, a...)
			args = append(args, buf[at:len(buf):len(buf)])
		}
		*l = args[from:len(args):len(args)]
	}
	return size
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
			// comes after that event cannot be taken yet. Treat it as
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
	// The goroutine queues an event before it calls Next again: with Next
	// in progress, whatever it returned before is in the queue or taken.
	if r.Stats().ProcessedOffset < off || !sh.inNext.Load() || sh.queued() {
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

// ownRecord copies a snapshot key (the Entry too: the decoder may reuse it)
// into one new Entry and one byte array. Streams and modules are left as
// they are: their copies are not bounded by the bytes Size counts.
func ownRecord(e *replica.SnapshotRecord) int {
	en, ok := e.Record.(*rdb.Entry)
	if !ok || en.Stream != nil || en.Module != nil {
		return -1
	}
	vecs, size := rdbcopy.Size(en)
	if size > ownMax {
		return -1
	}
	c, n := rdbcopy.Entry(rdbcopy.NewHeap(vecs, size), en)
	e.Record = c
	return n
}
