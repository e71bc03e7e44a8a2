package cluster

import (
	"context"
	"slices"
	"sort"
	"time"
)

// barrier is a check that a DEL is no migration: every primary is asked
// for its replication offset after the DEL arrived; once the merger has
// received each other shard's stream up to there, any RESTORE-ASKING
// written before the DEL has been seen. One barrier serves every DEL, of any
// shard, received before it started.
type barrier struct {
	start time.Time
	done  chan struct{}
	offs  map[*shard]int64 // the shards that answered
}

// maxBarriers is how many recent barriers the merger keeps for DELs to
// share.
const maxBarriers = 8

// startBarrier returns a barrier for a DEL received at recv: the earliest
// recent one that started after recv, else a new one.
func (t *Tap) startBarrier(recv time.Time) *barrier {
	for _, b := range t.barriers {
		if b.start.After(recv) {
			return b
		}
	}
	now := time.Now()
	b := &barrier{start: now, done: make(chan struct{}), offs: map[*shard]int64{}}
	// Keep the recent ones: a DEL received before the oldest kept one
	// starts its own.
	t.barriers = slices.DeleteFunc(t.barriers, func(o *barrier) bool { return now.Sub(o.start) > t.cfg.MoveWait })
	if len(t.barriers) == maxBarriers {
		t.barriers = slices.Delete(t.barriers, 0, 1)
	}
	t.barriers = append(t.barriers, b)
	t.mu.Lock()
	t.st.Barriers++
	t.mu.Unlock()
	type target struct {
		sh   *shard
		addr string
	}
	var ts []target
	for _, o := range t.order {
		ts = append(ts, target{o, o.getAddr()})
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ctx, cancel := context.WithTimeout(t.ctx, t.cfg.MoveWait)
		defer cancel()
		offs := make([]int64, len(ts))
		oks := make([]bool, len(ts))
		done := make(chan int, len(ts))
		for i, tg := range ts {
			go func() {
				defer func() { done <- i }()
				if off, err := t.ctl.offset(ctx, &t.cfg, tg.addr); err == nil {
					offs[i], oks[i] = off, true
				}
			}()
		}
		for range ts {
			<-done
		}
		for i, tg := range ts {
			if oks[i] {
				b.offs[tg.sh] = offs[i]
			}
		}
		close(b.done)
		t.signal() // the merger rechecks its held DELs now, not at its next tick
	}()
	return b
}

// barrierPassed reports whether every shard but from (the DEL's own) that
// answered has been read up to its answer. A shard that did not answer (its
// primary is down) is not waited for.
func (t *Tap) barrierPassed(b *barrier, from *shard, now time.Time) bool {
	select {
	case <-b.done:
	default:
		return false
	}
	for sh, off := range b.offs {
		if sh == from {
			continue
		}
		t.mu.Lock()
		_, live := t.shards[sh.id]
		t.mu.Unlock()
		if live && !t.caught(sh, off, now) {
			return false
		}
	}
	return true
}

// pollSoon asks the poller for a topology poll now.
func (t *Tap) pollSoon() {
	select {
	case t.pollCh <- struct{}{}:
	default:
	}
}

// poller polls the topology every PollInterval (or when asked) and hands it
// to the merger.
func (t *Tap) poller() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		case <-t.pollCh:
		}
		ctx, cancel := context.WithTimeout(t.ctx, t.cfg.PollInterval+t.cfg.Replica.DialTimeout)
		infos, err := discover(ctx, &t.cfg, t.knownAddrs())
		cancel()
		if err != nil {
			if t.ctx.Err() == nil {
				t.log.Warn("cluster: topology poll failed", "err", err)
			}
			continue
		}
		select { // keep only the newest
		case <-t.topo:
		default:
		}
		select {
		case t.topo <- infos:
		case <-t.ctx.Done():
			return
		}
	}
}

// knownAddrs are the addresses to ask for the topology: the shards'
// primaries, then every node seen, then the seeds.
func (t *Tap) knownAddrs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, sh := range t.shardList() {
		add(sh.getAddr())
	}
	t.mu.Lock()
	var rest []string
	for _, a := range t.nodeAddrs {
		rest = append(rest, a)
	}
	t.mu.Unlock()
	sort.Strings(rest)
	for _, a := range rest {
		add(a)
	}
	for _, a := range t.cfg.Addrs {
		add(a)
	}
	return out
}

// applyTopology follows a polled topology: sessions move to a promoted
// primary, new shards get a session, shards gone for three polls lose theirs.
func (t *Tap) applyTopology(infos []ShardInfo) {
	// Shards with a healthy primary and slots first: a failed old primary
	// is listed on its own, without slots.
	sort.SliceStable(infos, func(i, j int) bool {
		_, pi := infos[i].Primary()
		_, pj := infos[j].Primary()
		if pi != pj {
			return pi
		}
		return infos[i].Slots > infos[j].Slots
	})
	matched := map[*shard]bool{}
	t.mu.Lock()
	for _, ts := range infos {
		for _, n := range ts.Nodes {
			t.nodeAddrs[n.ID] = n.Addr
		}
	}
	t.mu.Unlock()
	for _, ts := range infos {
		sh := t.match(ts)
		p, ok := ts.Primary()
		if sh != nil {
			t.mu.Lock()
			for _, n := range ts.Nodes {
				sh.members[n.ID] = true
			}
			t.mu.Unlock()
			if matched[sh] {
				continue
			}
			matched[sh] = true
			sh.missing = 0
			if ok && p.Addr != sh.getAddr() {
				t.log.Info("cluster: shard has a new primary", "shard", sh.id, "from", sh.getAddr(), "to", p.Addr)
				sh.setAddr(p.Addr)
				if r := sh.r.Load(); r != nil {
					r.Redirect(p.Addr)
				}
				t.mu.Lock()
				t.st.Redirects++
				t.mu.Unlock()
			}
			continue
		}
		if !ok {
			continue
		}
		id := ts.ID
		if id == "" {
			id = p.ID
		}
		t.log.Info("cluster: new shard", "shard", id, "primary", p.Addr)
		nsh := t.newShard(id, ts, p.Addr)
		matched[nsh] = true
		t.mu.Lock()
		t.st.ShardsAdded++
		t.mu.Unlock()
		t.wg.Add(1)
		go t.run(nsh, false)
	}
	for _, sh := range t.shardList() {
		if matched[sh] {
			continue
		}
		if sh.missing++; sh.missing < 3 {
			continue
		}
		t.log.Info("cluster: shard left the cluster", "shard", sh.id)
		t.mu.Lock()
		delete(t.shards, sh.id)
		delete(t.committed, sh.id)
		t.st.ShardsRemoved++
		t.mu.Unlock()
		t.dropMoveIns(sh)
		t.unstick(sh)
		sh.cur = nil
		t.order = slices.DeleteFunc(t.order, func(o *shard) bool { return o == sh })
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			sh.stop() //nolint:errcheck
		}()
	}
}

// match finds the known shard a polled one is: same shard id, or a node in
// common.
func (t *Tap) match(ts ShardInfo) *shard {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sh := range t.shards {
		if ts.ID != "" && sh.sid == ts.ID {
			return sh
		}
	}
	for _, sh := range t.shards {
		for _, n := range ts.Nodes {
			if sh.members[n.ID] {
				return sh
			}
		}
	}
	return nil
}
