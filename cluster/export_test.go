package cluster

import (
	"fmt"
	"strings"
)

// Debug describes the merger's state (tests only; racy by design: call it
// while Next is blocked).
func (t *Tap) Debug() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ready %d held %d pending %d gate %v\n", len(t.ready), len(t.held), len(t.pending), t.gate)
	for _, it := range t.held {
		fmt.Fprintf(&b, "  held %s %T del=%+v\n", it.sh.id, it.ev, it.del)
	}
	for _, sh := range t.shardList() {
		sh.qmu.Lock()
		queued := len(sh.local) - sh.li + len(sh.q)
		sh.qmu.Unlock()
		fmt.Fprintf(&b, "  shard %s addr %s seen %d moveIns %d cur %v queued %d inNext %v\n", sh.id, sh.getAddr(), sh.seen, sh.moveIns, sh.cur != nil, queued, sh.inNext.Load())
	}
	return b.String()
}
