package cluster

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// MergedReplID is the ReplID of the positions the merged stream carries
// (Pos of its events): their Offset is the merged offset, which only
// Tap.Commit understands.
const MergedReplID = "redtap-cluster"

// Move marks an event of a slot migration (see Origin).
type Move int

const (
	MoveNone Move = iota
	MoveOut       // the source shard's DEL of a key that moved away
	MoveIn        // the target shard's RESTORE-ASKING of a key that moved in
)

// String returns "", "out" or "in".
func (m Move) String() string {
	switch m {
	case MoveOut:
		return "out"
	case MoveIn:
		return "in"
	}
	return ""
}

// Origin says where the last event Next returned comes from.
type Origin struct {
	// Shard is the shard's stable id: the server's shard id where it has
	// one (Redis 7.2+, Valkey), else the node id of the shard's first
	// primary the tap saw. Empty for the merged start and end of the
	// initial snapshot.
	Shard string
	// Addr is the node the shard was tapped on at that time.
	Addr string
	// Offset and Pos are the event's own offset and position in the
	// shard's replication stream (Pos zero where the event carries none).
	Offset int64
	Pos    replica.Position
	// Move marks the halves of a slot migration (with MovesMark).
	Move Move
}

// Stats are the tap's counters.
type Stats struct {
	Shards int   // shards tapped now
	Offset int64 // merged offset reached
	// Moves counts keys whose migration was recognised (DEL paired with
	// RESTORE-ASKING); UnpairedMoves the halves delivered as ordinary
	// commands because the other half did not come within MoveWait.
	Moves, UnpairedMoves int64
	// LateMoveIns counts RESTORE-ASKINGs delivered as ordinary writes
	// (with REPLACE) because their DEL had already gone out as a delete
	// (it could not be paired in time): the key is written again
	// downstream. LateDels counts DELs taken as the other half of a
	// RESTORE-ASKING given up before they came.
	LateMoveIns, LateDels int64
	// Barriers counts the checks that a DEL is no migration (one INFO
	// replication to every primary, shared by the DELs received before
	// it); BarrierTimeouts the DELs whose barrier did not pass within
	// MoveWait.
	Barriers, BarrierTimeouts int64
	// Redirects counts sessions moved to a new primary (failovers);
	// ShardsAdded and ShardsRemoved the topology changes; ShardFullSyncs
	// the full resynchronisations of one shard after the start.
	Redirects, ShardsAdded, ShardsRemoved, ShardFullSyncs int64
	// PerShard are the sessions' counters, by shard id.
	PerShard map[string]replica.Stats
}

// Tap taps every shard of a cluster and merges their events into one
// stream. Next (and All) must be called from one goroutine at a time;
// Origin is read by that goroutine after Next; Commit, Stats and Close may be
// called from any goroutine.
type Tap struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{} // a shard queued an event
	ctl    ctlPool       // the barriers' connections
	topo   chan []ShardInfo
	pollCh chan struct{}
	closed chan struct{}
	once   sync.Once
	cerr   error

	mu        sync.Mutex
	shards    map[string]*shard
	nodeAddrs map[string]string
	committed map[string]ShardMark
	commitOff int64
	dirty     bool
	autoTo    int64 // with auto commit: what Next has let go of
	st        Stats

	// Merger state: only the goroutine in Next.
	merged    int64
	ready     []*ready
	held      []*item
	last      *ready
	origin    Origin
	err       error
	pending   map[mkey][]*moveIn
	gate      bool // the initial full snapshot is merged
	gateHeld  []*item
	gateKeys  int64
	gateBytes int64
	synced    bool       // the first Sync was delivered
	sticky    *shard     // in the middle of a snapshot key's chunks: the others wait
	order     []*shard   // the shards, in the order the merger takes from them
	rr        int        // where the next pass over order starts
	barriers  []*barrier // recent ones, oldest first
	// Halves that went out alone (see Stats.LateMoveIns, LateDels), for
	// 2×MoveWait: a DEL delivered as a delete, a RESTORE-ASKING given up.
	lateDels, givenUp map[mkey]lateHalf
	latePruned        time.Time // when they were last pruned
}

// lateHalf is one half of a migration that went out alone.
type lateHalf struct {
	sh *shard
	at time.Time
}

// noteLate records k's lone half in m. Once per MoveWait it forgets the
// halves past 2×MoveWait: every user DEL is noted, so pruning on each
// would cost a scan of every recent DEL per DEL.
func (t *Tap) noteLate(m map[mkey]lateHalf, k mkey, sh *shard, now time.Time) {
	if now.Sub(t.latePruned) > t.cfg.MoveWait {
		t.latePruned = now
		for _, lm := range []map[mkey]lateHalf{t.lateDels, t.givenUp} {
			for k, h := range lm {
				if now.Sub(h.at) > 2*t.cfg.MoveWait {
					delete(lm, k)
				}
			}
		}
	}
	m[k] = lateHalf{sh: sh, at: now}
}

// takeLate reports whether m holds a lone half of k from another shard
// than sh, recent enough, and forgets it.
func (t *Tap) takeLate(m map[mkey]lateHalf, k mkey, sh *shard, now time.Time) bool {
	h, ok := m[k]
	if !ok || h.sh == sh {
		return false
	}
	delete(m, k)
	return now.Sub(h.at) <= 2*t.cfg.MoveWait
}

type ready struct {
	it     *item
	ev     replica.Event
	origin Origin
	merged int64
}

type mkey struct {
	db  int
	key string
}

type moveIn struct {
	sh *shard
	e  *commitEntry
	at time.Time
}

// Dial discovers the shards from cfg.Addrs, loads the checkpoint, connects
// a session to every shard's primary (PSYNC from the shard's checkpointed
// position, or a full sync) and starts the topology poller. The first call
// of Next returns a *replica.Sync: SyncFull when every shard starts with a
// snapshot (their records follow, then one *replica.SnapshotDone), else
// SyncContinue.
func Dial(ctx context.Context, cfg Config) (*Tap, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("cluster: Config.Addrs is empty")
	}
	cfg.defaults()
	var cp Checkpoint
	if cfg.Checkpointer != nil {
		var err error
		if cp, err = cfg.Checkpointer.Load(ctx); err != nil {
			return nil, err
		}
	}
	infos, err := discover(ctx, &cfg, cfg.Addrs)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithCancel(context.Background())
	t := &Tap{
		cfg: cfg, log: cfg.Logger, ctx: tctx, cancel: cancel,
		wake: make(chan struct{}, 1), topo: make(chan []ShardInfo, 1), pollCh: make(chan struct{}, 1),
		closed: make(chan struct{}), shards: map[string]*shard{}, nodeAddrs: map[string]string{},
		committed: map[string]ShardMark{}, pending: map[mkey][]*moveIn{},
		lateDels: map[mkey]lateHalf{}, givenUp: map[mkey]lateHalf{},
		merged: cp.Offset, commitOff: cp.Offset,
	}
	for id, m := range cp.Shards {
		t.committed[id] = m
	}
	var first []*item
	for _, ts := range infos {
		p, ok := ts.Primary()
		if !ok {
			continue
		}
		id, start := t.resolve(ts, cp)
		sh := t.newShard(id, ts, p.Addr)
		r, err := replica.Dial(ctx, t.shardConfig(p.Addr, start))
		if err == nil {
			sh.r.Store(r)
			var ev replica.Event
			if ev, err = r.Next(ctx); err == nil {
				first = append(first, &item{sh: sh, ev: ev, recv: time.Now(), ack: true})
			}
		}
		if err != nil {
			t.closeShards()
			cancel()
			return nil, &Error{Shard: id, Addr: p.Addr, Op: "dial", Err: err}
		}
	}
	if len(t.shards) == 0 {
		cancel()
		return nil, ErrNoShards
	}
	t.mu.Lock()
	for _, ts := range infos {
		for _, n := range ts.Nodes {
			t.nodeAddrs[n.ID] = n.Addr
		}
	}
	t.mu.Unlock()
	allFull := true
	for _, it := range first {
		if s, ok := it.ev.(*replica.Sync); !ok || s.Mode != replica.SyncFull {
			allFull = false
		}
	}
	t.gate = allFull
	// Continuing shards first: with a mix, the merged stream continues.
	sort.SliceStable(first, func(i, j int) bool {
		return first[i].ev.(*replica.Sync).Mode == replica.SyncContinue && first[j].ev.(*replica.Sync).Mode != replica.SyncContinue
	})
	for _, it := range first {
		it.sh.gated = allFull
		t.wg.Add(1)
		go t.run(it.sh, true)
	}
	for _, it := range first {
		t.accept(it)
	}
	t.wg.Add(1)
	go t.poller()
	if cfg.Checkpointer != nil {
		t.wg.Add(1)
		go t.saver()
	}
	return t, nil
}

// resolve names a discovered shard and finds its checkpointed position.
func (t *Tap) resolve(ts ShardInfo, cp Checkpoint) (string, replica.Position) {
	if ts.ID != "" {
		if m, ok := cp.Shards[ts.ID]; ok {
			return ts.ID, m.Pos()
		}
	}
	for id, m := range cp.Shards {
		for _, n := range m.Nodes {
			for _, tn := range ts.Nodes {
				if n == tn.ID {
					return id, m.Pos()
				}
			}
		}
	}
	if ts.ID != "" {
		return ts.ID, replica.Position{}
	}
	p, _ := ts.Primary()
	return p.ID, replica.Position{}
}

func (t *Tap) newShard(id string, ts ShardInfo, addr string) *shard {
	ctx, cancel := context.WithCancel(t.ctx)
	sh := &shard{id: id, sid: ts.ID, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		ack: make(chan struct{}, 1), room: make(chan struct{}, 1), addr: addr, members: map[string]bool{}}
	t.order = append(t.order, sh)
	t.mu.Lock()
	for _, n := range ts.Nodes {
		sh.members[n.ID] = true
	}
	for _, n := range t.committed[id].Nodes {
		sh.members[n] = true
	}
	t.shards[id] = sh
	t.mu.Unlock()
	return sh
}

func (t *Tap) closeShards() {
	t.mu.Lock()
	var all []*shard
	for _, sh := range t.shards {
		all = append(all, sh)
	}
	t.mu.Unlock()
	for _, sh := range all {
		sh.cancel()
		if r := sh.r.Load(); r != nil {
			r.Close()
		}
	}
}

// Next returns the next event of the merged stream: a *replica.Sync,
// *replica.SnapshotRecord, *replica.SnapshotDone, *replica.Command,
// *replica.Transaction or *replica.Disconnected, as package replica
// delivers them, with merged offsets and positions (see the package
// documentation); Origin tells the shard. The event and its slices are
// valid until the next call of Next. It returns ErrClosed after Close,
// ctx.Err() when ctx ends (nothing is lost), and a shard's final error as
// an *Error, again on every later call.
func (t *Tap) Next(ctx context.Context) (replica.Event, error) {
	if t.err != nil {
		return nil, t.err
	}
	select {
	case <-t.closed:
		return nil, ErrClosed
	default:
	}
	if t.last != nil {
		t.release(t.last.it)
		t.last = nil
	}
	if !t.cfg.ManualCommit {
		t.autoCommit()
	}
	var tick *time.Ticker
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		if len(t.ready) > 0 {
			r := t.ready[0]
			t.ready[0] = nil
			t.ready = t.ready[1:]
			t.last, t.origin = r, r.origin
			if !t.cfg.ManualCommit {
				t.mu.Lock()
				t.autoTo = max(t.autoTo, r.merged)
				t.mu.Unlock()
			}
			return r.ev, nil
		}
		if t.err != nil {
			return nil, t.err
		}
		// While events flow, Next never waits in the select below: look
		// at the rest first, or a shard whose primary failed over would
		// never be redirected.
		select {
		case infos := <-t.topo:
			t.applyTopology(infos)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.closed:
			return nil, ErrClosed
		default:
		}
		if t.pull() {
			continue
		}
		var tc <-chan time.Time
		if len(t.held) > 0 {
			if tick == nil {
				tick = time.NewTicker(2 * time.Millisecond)
			}
			tc = tick.C
		}
		select {
		case <-t.wake:
			if len(t.held) > 0 { // a barrier may have finished
				t.recheck(time.Now())
			}
		case infos := <-t.topo:
			t.applyTopology(infos)
		case <-tc:
			t.recheck(time.Now())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.closed:
			return nil, ErrClosed
		}
	}
}

// All returns an iterator over Next's events; it ends after the first
// error, which it yields with a nil event.
func (t *Tap) All(ctx context.Context) iter.Seq2[replica.Event, error] {
	return func(yield func(replica.Event, error) bool) {
		for {
			ev, err := t.Next(ctx)
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Origin returns where the last event Next returned comes from.
func (t *Tap) Origin() Origin { return t.origin }

// release hands the shard its turn again.
func (t *Tap) release(it *item) {
	if it == nil || it.sh.cur != it {
		return
	}
	it.sh.cur = nil
	if !it.ack {
		return
	}
	select {
	case it.sh.ack <- struct{}{}:
	default:
	}
}

// signal wakes the merger: a shard queued an event.
func (t *Tap) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// pull makes one pass over the shards and accepts the next queued event of
// each shard that has released its last one, and reports whether it
// accepted any. While a snapshot key's chunks go out, only their shard is
// taken from (and errors of the others).
func (t *Tap) pull() bool {
	took := false
	n := len(t.order)
	for i := 0; i < n; i++ {
		sh := t.order[(t.rr+i)%n]
		if sh.cur != nil {
			continue
		}
		it := sh.head()
		if it == nil || (t.sticky != nil && t.sticky != sh && it.err == nil) {
			continue
		}
		sh.local[sh.li] = nil
		sh.li++
		took = true
		t.accept(it)
		if len(t.ready) > 0 || t.err != nil {
			t.rr = (t.rr + i + 1) % n
			return true
		}
	}
	if n > 0 {
		t.rr = (t.rr + 1) % n
	}
	return took
}

// accept takes a new event of a shard.
func (t *Tap) accept(it *item) {
	sh := it.sh // a live shard: pull takes from t.order only
	sh.cur = it
	if it.err != nil {
		t.err = &Error{Shard: sh.id, Addr: sh.getAddr(), Op: "stream", Err: it.err}
		return
	}
	switch e := it.ev.(type) {
	case *replica.Command:
		sh.seen = e.Offset
	case *replica.Transaction:
		sh.seen = e.Offset
	case *replica.Sync:
		sh.seen = e.Offset
	case *replica.SnapshotDone:
		sh.seen = e.Offset
	case *replica.Disconnected:
		t.pollSoon()
	}
	if !t.step(it, it.recv) {
		it.held = it.recv
		t.held = append(t.held, it)
		return
	}
	if len(t.held) > 0 {
		t.recheck(time.Now())
	}
}

// unstick ends sh's run of chunks, and takes the events that waited.
func (t *Tap) unstick(sh *shard) {
	if t.sticky != sh {
		return
	}
	t.sticky = nil // the others' events are taken again
}

// recheck steps the held events until none moves.
func (t *Tap) recheck(now time.Time) {
	for moved := true; moved; {
		moved = false
		for i := 0; i < len(t.held); i++ {
			it := t.held[i]
			if it.sh.cur != it { // its shard went away
				t.held = append(t.held[:i], t.held[i+1:]...)
				i--
				continue
			}
			if t.step(it, now) {
				it.held = time.Time{}
				t.held = append(t.held[:i], t.held[i+1:]...)
				i--
				moved = true
			}
		}
	}
}

// step decides an event: it is delivered (queued for Next), consumed, or
// held; step returns false for the latter.
func (t *Tap) step(it *item, now time.Time) bool {
	sh := it.sh
	switch e := it.ev.(type) {
	case *replica.Sync:
		t.unstick(sh)
		if e.Mode == replica.SyncFull {
			t.dropMoveIns(sh)
			if !(t.gate && sh.gated) {
				t.mu.Lock()
				t.st.ShardFullSyncs++
				t.mu.Unlock()
				t.log.Warn("cluster: full resynchronisation of one shard: its snapshot is delivered as keys, without a reset",
					"shard", sh.id, "addr", e.Addr, "reason", e.Reason)
				sh.lastOff = e.Offset
				t.consume(it, false)
				return true
			}
			sh.lastOff = e.Offset
			if !t.synced {
				t.synced = true
				t.merged++
				e.Offset, e.ReplID, e.Pos = t.merged, MergedReplID, replica.Position{}
				t.enqueue(it, e, Origin{Shard: sh.id, Addr: e.Addr, Offset: sh.lastOff}, t.merged)
				return true
			}
			t.consume(it, false)
			return true
		}
		if !t.synced {
			t.synced = true
			off, pos := e.Offset, e.Pos
			m := t.advance(sh, off)
			t.pushCommit(sh, m, pos, false)
			e.Offset, e.ReplID, e.Pos = m, MergedReplID, mergedPos(m, pos.DB)
			t.enqueue(it, e, Origin{Shard: sh.id, Addr: e.Addr, Offset: off, Pos: pos}, m)
			return true
		}
		t.consume(it, false)
		return true
	case *replica.SnapshotRecord:
		if en, ok := e.Record.(*rdb.Entry); ok && !en.Last {
			t.sticky = sh
		} else {
			t.unstick(sh)
		}
		t.enqueue(it, e, Origin{Shard: sh.id, Addr: sh.getAddr()}, t.merged)
		return true
	case *replica.SnapshotDone:
		if t.gate && sh.gated {
			sh.gated = false
			t.gateKeys += e.Keys
			t.gateBytes += e.Bytes
			t.gateHeld = append(t.gateHeld, it)
			for _, s := range t.shardList() {
				if s.gated {
					return true // stays in gateHeld, its shard waits
				}
			}
			t.gate = false
			last := t.gateHeld[len(t.gateHeld)-1]
			for _, g := range t.gateHeld[:len(t.gateHeld)-1] {
				t.consume(g, false)
			}
			t.gateHeld = nil
			le := last.ev.(*replica.SnapshotDone)
			off, pos := le.Offset, le.Pos
			m := t.advance(last.sh, off)
			t.pushCommit(last.sh, m, pos, false)
			le.Offset, le.Keys, le.Bytes, le.Pos = m, t.gateKeys, t.gateBytes, mergedPos(m, 0)
			t.enqueue(last, le, Origin{}, m)
			return true
		}
		t.consume(it, false)
		return true
	case *replica.Disconnected:
		t.unstick(sh)
		t.enqueue(it, e, Origin{Shard: sh.id, Addr: e.Addr}, t.merged)
		return true
	case *replica.Transaction:
		if t.waitMoveIns(sh, now) {
			return false
		}
		t.deliver(it, MoveNone)
		return true
	case *replica.Command:
		return t.command(it, e, now)
	}
	t.err = fmt.Errorf("cluster: unknown event %T", it.ev)
	return true
}

// waitMoveIns reports whether sh must wait: it has delivered (or hidden)
// RESTORE-ASKINGs whose DEL on the source has not come, and anything after
// them might be a write to a moved key that must follow the source's
// writes. Past MoveWait the waiting ones are given up.
func (t *Tap) waitMoveIns(sh *shard, now time.Time) bool {
	if sh.moveIns == 0 {
		return false
	}
	oldest, n := now, 0
	for _, l := range t.pending {
		for _, mi := range l {
			if mi.sh == sh {
				n++
				if mi.at.Before(oldest) {
					oldest = mi.at
				}
			}
		}
	}
	if n == 0 {
		// Nothing of sh waits any more: the count is stale.
		if n != sh.moveIns {
			t.log.Warn("cluster: move-in count without moves", "shard", sh.id, "count", sh.moveIns)
		}
		sh.moveIns = 0
		return false
	}
	if now.Sub(oldest) < t.cfg.MoveWait {
		return true
	}
	t.dropMoveIns(sh)
	return false
}

// dropMoveIns gives up the RESTORE-ASKINGs of sh that wait for a DEL.
func (t *Tap) dropMoveIns(sh *shard) {
	if sh.moveIns == 0 {
		return
	}
	for k, l := range t.pending {
		kept := l[:0]
		for _, mi := range l {
			if mi.sh != sh {
				kept = append(kept, mi)
				continue
			}
			t.unpend(mi)
			t.noteLate(t.givenUp, k, mi.sh, time.Now())
			t.mu.Lock()
			t.st.UnpairedMoves++
			t.mu.Unlock()
			t.log.Warn("cluster: RESTORE-ASKING without its DEL", "shard", sh.id, "key", k.key)
		}
		if len(kept) == 0 {
			delete(t.pending, k)
		} else {
			t.pending[k] = kept
		}
	}
	sh.moveIns = 0
}

func (t *Tap) unpend(mi *moveIn) {
	if mi.e != nil {
		t.mu.Lock()
		mi.e.pending = false
		t.mu.Unlock()
	}
}

// takePending pairs key k with a RESTORE-ASKING of another shard than sh.
func (t *Tap) takePending(k mkey, sh *shard) bool {
	l := t.pending[k]
	for i, mi := range l {
		if mi.sh == sh {
			continue
		}
		t.unpend(mi)
		mi.sh.moveIns--
		l = append(l[:i], l[i+1:]...)
		if len(l) == 0 {
			delete(t.pending, k)
		} else {
			t.pending[k] = l
		}
		return true
	}
	return false
}

func (t *Tap) command(it *item, e *replica.Command, now time.Time) bool {
	sh := it.sh
	if isMoveIn(e.Args) {
		k := mkey{e.DB, string(e.Args[1])}
		// A DEL of another shard waiting for this key?
		for _, h := range t.held {
			if h.del != nil && h.sh != sh && h.del.unpaired[k] {
				delete(h.del.unpaired, k)
				h.del.paired++
				t.countMove()
				if t.cfg.Moves == MovesMark {
					t.deliver(it, MoveIn)
				} else {
					t.consume(it, false)
				}
				return true
			}
		}
		// No DEL waits for it: did its DEL go out as a delete?
		if t.takeLate(t.lateDels, k, sh, now) {
			// Its DEL went out as a delete: write the key again.
			t.mu.Lock()
			t.st.LateMoveIns++
			t.mu.Unlock()
			t.log.Warn("cluster: RESTORE-ASKING after its DEL went out: delivered as a write", "shard", sh.id, "key", k.key)
			// With REPLACE: should that DEL have been a user's after
			// all, and the key written again since, this only writes
			// the key's current value once more.
			if !hasArg(e.Args[4:], "REPLACE") {
				e.Args = append(e.Args[:len(e.Args):len(e.Args)], []byte("REPLACE"))
			}
			t.deliver(it, MoveNone)
			// Should a DEL still come (the key was deleted and
			// written again before it moved), it pairs with this.
			t.noteLate(t.givenUp, k, sh, now)
			return true
		}
		var ce *commitEntry
		if t.cfg.Moves == MovesMark {
			ce = t.deliverPending(it, MoveIn)
		} else {
			ce = t.consume(it, true)
		}
		t.pending[k] = append(t.pending[k], &moveIn{sh: sh, e: ce, at: now})
		sh.moveIns++
		return true
	}
	if t.waitMoveIns(sh, now) {
		return false
	}
	if isClusterCommand(e.Args) {
		// Cluster bookkeeping (Valkey 8 replicates CLUSTER SETSLOT
		// during a migration): no key changes, and no server outside
		// the cluster would take it.
		t.consume(it, false)
		return true
	}
	if !isDel(e.Args) || t.numShards() < 2 {
		t.deliver(it, MoveNone)
		return true
	}
	ds := it.del
	if ds == nil {
		ds = &delState{unpaired: map[mkey]bool{}, since: time.Now()}
		it.del = ds
		for _, a := range e.Args[1:] {
			k := mkey{e.DB, string(a)}
			switch {
			case t.takePending(k, sh):
				ds.paired++
				t.countMove()
			case t.takeLate(t.givenUp, k, sh, now):
				// Its RESTORE-ASKING was given up: this is its other
				// half all the same.
				ds.paired++
				t.countMove()
				t.mu.Lock()
				t.st.LateDels++
				t.mu.Unlock()
			default:
				ds.unpaired[k] = true
			}
		}
	}
	if len(ds.unpaired) > 0 {
		if ds.bar == nil {
			ds.bar = t.startBarrier(it.recv)
		}
		if !t.barrierPassed(ds.bar, sh, now) {
			if now.Sub(ds.since) < t.cfg.MoveWait {
				return false
			}
			t.mu.Lock()
			t.st.BarrierTimeouts++
			t.mu.Unlock()
		}
	}
	for k := range ds.unpaired { // going out as deletes
		t.noteLate(t.lateDels, k, sh, now)
	}
	switch {
	case ds.paired == 0:
		t.deliver(it, MoveNone)
	case len(ds.unpaired) == 0 && t.cfg.Moves == MovesHide:
		t.consume(it, false)
	case t.cfg.Moves == MovesMark:
		t.deliver(it, MoveOut)
	default:
		// Hide the moved keys; the others were deleted by a user.
		args := e.Args[:1]
		for _, a := range e.Args[1:] {
			if ds.unpaired[mkey{e.DB, string(a)}] {
				args = append(args, a)
			}
		}
		e.Args = args
		t.deliver(it, MoveNone)
	}
	return true
}

func (t *Tap) countMove() {
	t.mu.Lock()
	t.st.Moves++
	t.mu.Unlock()
}

// hasArg reports whether args has name (case-insensitive).
func hasArg(args [][]byte, name string) bool {
	for _, a := range args {
		if equalFold(a, name) {
			return true
		}
	}
	return false
}

// isMoveIn reports a RESTORE-ASKING (or a RESTORE with an ASKING
// argument), how MIGRATE writes a key to the target.
func isMoveIn(args [][]byte) bool {
	if len(args) < 4 {
		return false
	}
	if equalFold(args[0], "RESTORE-ASKING") {
		return true
	}
	if !equalFold(args[0], "RESTORE") {
		return false
	}
	return hasArg(args[4:], "ASKING")
}

func isClusterCommand(args [][]byte) bool { return len(args) > 0 && equalFold(args[0], "CLUSTER") }

func isDel(args [][]byte) bool { return len(args) > 1 && equalFold(args[0], "DEL") }

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// advance moves the merged offset for an event of sh at its offset off.
func (t *Tap) advance(sh *shard, off int64) int64 {
	d := int64(1)
	if off > sh.lastOff && sh.lastOff > 0 {
		d = off - sh.lastOff
	}
	if off > 0 {
		sh.lastOff = off
	}
	t.merged += d
	return t.merged
}

func mergedPos(m int64, db int) replica.Position {
	return replica.Position{ReplID: MergedReplID, Offset: m, DB: db}
}

// offPos returns an event's own offset and position.
func offPos(ev replica.Event) (int64, replica.Position) {
	switch e := ev.(type) {
	case *replica.Command:
		return e.Offset, e.Pos
	case *replica.Transaction:
		return e.Offset, e.Pos
	case *replica.Sync:
		return e.Offset, e.Pos
	case *replica.SnapshotDone:
		return e.Offset, e.Pos
	}
	return 0, replica.Position{}
}

// consume takes an event that is not delivered: its position counts for
// commits, and its shard goes on at once.
func (t *Tap) consume(it *item, pending bool) *commitEntry {
	off, pos := offPos(it.ev)
	var ce *commitEntry
	if off != 0 || !pos.IsZero() {
		m := t.advance(it.sh, off)
		ce = t.pushCommit(it.sh, m, pos, pending)
	}
	t.release(it)
	return ce
}

func (t *Tap) deliver(it *item, mv Move) { t.deliverPending(it, mv) }

// deliverPending queues a command or transaction for Next with merged
// offsets.
func (t *Tap) deliverPending(it *item, mv Move) *commitEntry {
	off, pos := offPos(it.ev)
	m := t.advance(it.sh, off)
	ce := t.pushCommit(it.sh, m, pos, mv == MoveIn)
	o := Origin{Shard: it.sh.id, Addr: it.sh.getAddr(), Offset: off, Pos: pos, Move: mv}
	switch e := it.ev.(type) {
	case *replica.Command:
		e.Offset, e.Pos = m, mergedPos(m, pos.DB)
	case *replica.Transaction:
		for i := range e.Commands {
			e.Commands[i].Offset = max(m-(e.Offset-e.Commands[i].Offset), 1)
		}
		e.Start = max(m-(e.Offset-e.Start), 0)
		e.Offset, e.Pos = m, mergedPos(m, pos.DB)
	}
	t.enqueue(it, it.ev, o, m)
	return ce
}

func (t *Tap) enqueue(it *item, ev replica.Event, o Origin, m int64) {
	t.ready = append(t.ready, &ready{it: it, ev: ev, origin: o, merged: m})
}

func (t *Tap) pushCommit(sh *shard, m int64, pos replica.Position, pending bool) *commitEntry {
	if pos.IsZero() {
		return nil
	}
	ce := &commitEntry{merged: m, pos: pos, pending: pending}
	t.mu.Lock()
	sh.cq = append(sh.cq, ce)
	t.mu.Unlock()
	return ce
}

// autoCommit commits what Next has returned and what was consumed before
// the first event still queued.
func (t *Tap) autoCommit() {
	to := t.merged
	if len(t.ready) > 0 {
		to = t.ready[0].merged - 1
	}
	t.commitTo(to)
}

// Commit declares that the consumer has durably processed the merged
// stream up to p, the Pos of an event Next returned: every shard's
// position at that point may be saved. Positions of other replication ids
// than MergedReplID are ignored. It is safe from any goroutine. Unless
// Config.ManualCommit is set, Next commits by itself.
func (t *Tap) Commit(p replica.Position) {
	if p.ReplID != MergedReplID {
		return
	}
	t.commitTo(p.Offset)
}

func (t *Tap) commitTo(m int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sh := range t.shards {
		n := 0
		for n < len(sh.cq) && sh.cq[n].merged <= m && !sh.cq[n].pending {
			n++
		}
		if n == 0 {
			continue
		}
		p := sh.cq[n-1].pos
		mk := t.committed[sh.id]
		mk.ReplID, mk.Offset, mk.DB = p.ReplID, p.Offset, p.DB
		t.committed[sh.id] = mk
		sh.cq = append(sh.cq[:0], sh.cq[n:]...)
		t.dirty = true
	}
	if m > t.commitOff {
		t.commitOff = m
		t.dirty = true
	}
}

// Checkpoint returns the committed positions, as the Checkpointer gets them.
func (t *Tap) Checkpoint() Checkpoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checkpointLocked()
}

func (t *Tap) checkpointLocked() Checkpoint {
	c := Checkpoint{Offset: t.commitOff, Shards: map[string]ShardMark{}}
	for id, m := range t.committed {
		if sh, ok := t.shards[id]; ok {
			m.Nodes = m.Nodes[:0:0]
			for n := range sh.members {
				m.Nodes = append(m.Nodes, n)
			}
			sort.Strings(m.Nodes)
		}
		if m.ReplID != "" {
			c.Shards[id] = m
		}
	}
	return c
}

func (t *Tap) save(ctx context.Context, force bool) error {
	t.mu.Lock()
	if !t.dirty && !force {
		t.mu.Unlock()
		return nil
	}
	c := t.checkpointLocked()
	t.dirty = false
	t.mu.Unlock()
	err := t.cfg.Checkpointer.Save(ctx, c)
	if err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
	}
	return err
}

func (t *Tap) saver() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			if err := t.save(t.ctx, false); err != nil && t.ctx.Err() == nil {
				t.log.Warn("cluster: checkpoint save failed", "err", err)
			}
		}
	}
}

func (t *Tap) shardList() []*shard {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := make([]*shard, 0, len(t.shards))
	for _, sh := range t.shards {
		l = append(l, sh)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].id < l[j].id })
	return l
}

func (t *Tap) numShards() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.shards)
}

// Shards returns the ids of the shards tapped now, sorted.
func (t *Tap) Shards() []string {
	var ids []string
	for _, sh := range t.shardList() {
		ids = append(ids, sh.id)
	}
	return ids
}

// Stats returns the counters.
func (t *Tap) Stats() Stats {
	l := t.shardList()
	t.mu.Lock()
	st := t.st
	t.mu.Unlock()
	st.Shards = len(l)
	st.Offset = t.commitOffset()
	st.PerShard = map[string]replica.Stats{}
	for _, sh := range l {
		if r := sh.r.Load(); r != nil {
			st.PerShard[sh.id] = r.Stats()
		}
	}
	return st
}

func (t *Tap) commitOffset() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.commitOff
}

// Close stops every session and the poller and waits for their goroutines;
// a blocked Next returns ErrClosed. Unless Config.ManualCommit is set, it
// first commits what Next has returned, as a further call of Next would.
// Then it saves the checkpoint once more. Close is idempotent; it returns
// the final save's error.
func (t *Tap) Close() error {
	t.once.Do(func() {
		close(t.closed)
		t.cancel()
		var errs []error
		for _, sh := range t.shardList() {
			sh.stop() //nolint:errcheck // no checkpointer of their own
		}
		t.wg.Wait()
		t.ctl.close()
		if !t.cfg.ManualCommit {
			t.mu.Lock()
			to := t.autoTo
			t.mu.Unlock()
			t.commitTo(to)
		}
		if t.cfg.Checkpointer != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errs = append(errs, t.save(ctx, true))
			cancel()
		}
		t.cerr = errors.Join(errs...)
	})
	return t.cerr
}
