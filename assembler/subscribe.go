package assembler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/redtap/redtap/internal/glob"
)

// maxIdleGroups bounds the selections kept without subscribers (for
// resuming them).
const maxIdleGroups = 64

// group is the subscribers of one selection: their messages are encoded
// once and shared.
type group struct {
	name string
	pats [][]byte
	subs []*Subscription

	upd    Message // the cached updates of the shown state
	updGen uint64

	hist      []Message // the latest dUpdates
	histFloor int64     // every message after this ID is in hist
	idle      int       // messages recorded since the last subscriber left
}

func (g *group) match(key []byte) bool {
	for _, p := range g.pats {
		if glob.Match(p, key) {
			return true
		}
	}
	return false
}

// Subscription is one subscriber: a Sink and its selection.
type Subscription struct {
	a     *Assembler
	sink  Sink
	group *group

	queue      []Message // refused by the sink, to retry in order
	queueBytes int64
	behind     bool // needs a fresh updates
	slow       bool // behind because it fell behind (for Stats)
	gone       bool
}

func groupName(patterns []string) ([]string, string, error) {
	if len(patterns) == 0 {
		patterns = []string{"*"}
	}
	ps := slices.Clone(patterns)
	for _, p := range ps {
		if p == "" {
			return nil, "", fmt.Errorf("%w: empty pattern", ErrConfig)
		}
	}
	slices.Sort(ps)
	ps = slices.Compact(ps)
	return ps, strings.Join(ps, "\x00"), nil
}

func (a *Assembler) group(patterns []string) (*group, error) {
	ps, name, err := groupName(patterns)
	if err != nil {
		return nil, err
	}
	if g := a.groups[name]; g != nil {
		return g, nil
	}
	g := &group{name: name, histFloor: a.shown.lastID}
	for _, p := range ps {
		g.pats = append(g.pats, []byte(p))
	}
	a.groups[name] = g
	return g, nil
}

// Subscribe adds a subscriber of the keys that match any of patterns
// (Redis globs; none: every key the Assembler holds). Keys outside the
// Windows of the Config are never shown, whatever the patterns.
//
// The sink first gets an updates message (the selection's windows), or,
// when lastEventID (-1: none) is the ID of a message of this selection
// that History still covers, the dUpdates after it (an SSE reconnection
// with Last-Event-ID). Before the first snapshot is complete the
// subscriber waits: it gets its updates when the snapshot is.
func (a *Assembler) Subscribe(sink Sink, patterns []string, lastEventID int64) (*Subscription, error) {
	if sink == nil {
		return nil, ErrNilSink
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	g, err := a.group(patterns)
	if err != nil {
		return nil, err
	}
	s := &Subscription{a: a, sink: sink, group: g, behind: true}
	a.join(s, g)
	if a.ready && lastEventID >= 0 && lastEventID >= g.histFloor && lastEventID <= a.shown.lastID {
		s.behind = false
		for _, m := range g.hist {
			if m.ID > lastEventID {
				a.deliver(s, m)
			}
		}
		return s, nil
	}
	a.retry(s)
	return s, nil
}

func (a *Assembler) join(s *Subscription, g *group) {
	s.group = g
	g.subs = append(g.subs, s)
	g.idle = 0
	a.subs[s] = struct{}{}
}

// leave takes s out of g (s has joined another group, or is gone).
func (a *Assembler) leave(s *Subscription, g *group) {
	if i := slices.Index(g.subs, s); i >= 0 {
		g.subs = slices.Delete(g.subs, i, i+1)
	}
	if len(g.subs) > 0 {
		return
	}
	if a.cfg.History < 0 {
		delete(a.groups, g.name)
		return
	}
	// Keep it for a resumption; drop the idlest past maxIdleGroups.
	var idle []*group
	for _, o := range a.groups {
		if len(o.subs) == 0 {
			idle = append(idle, o)
		}
	}
	if len(idle) > maxIdleGroups {
		slices.SortFunc(idle, func(x, y *group) int { return y.idle - x.idle })
		for _, o := range idle[:len(idle)-maxIdleGroups] {
			delete(a.groups, o.name)
		}
	}
}

// Unsubscribe removes the subscriber; its Sink gets nothing more.
// Calling it again does nothing.
func (s *Subscription) Unsubscribe() {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.gone {
		return
	}
	s.gone = true
	delete(a.subs, s)
	s.queue, s.queueBytes = nil, 0
	a.leave(s, s.group)
}

// SetPatterns changes the subscriber's selection (a WebSocket client adding
// or removing key patterns): it then gets an updates of the new selection
// (once the first snapshot is complete).
func (s *Subscription) SetPatterns(patterns []string) error {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.gone {
		return ErrUnsubscribed
	}
	g, err := a.group(patterns)
	if err != nil {
		return err
	}
	old := s.group
	a.join(s, g)
	a.leave(s, old)
	s.queue, s.queueBytes = nil, 0
	s.behind, s.slow = true, false
	a.retry(s)
	return nil
}

// Patterns returns the subscriber's selection, sorted.
func (s *Subscription) Patterns() []string {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	var ps []string
	for _, p := range s.group.pats {
		ps = append(ps, string(p))
	}
	return ps
}

// record keeps a dUpdates message for resumptions.
func (a *Assembler) record(g *group, m Message) {
	if len(g.subs) == 0 {
		g.idle++
		if g.idle > max(a.cfg.History, 0) {
			delete(a.groups, g.name)
			return
		}
	}
	if a.cfg.History <= 0 {
		g.histFloor = m.ID
		return
	}
	if len(g.hist) == a.cfg.History {
		g.histFloor = g.hist[0].ID
		copy(g.hist, g.hist[1:])
		g.hist = g.hist[:len(g.hist)-1]
	}
	g.hist = append(g.hist, m)
}

// deliver hands a dUpdates message to a subscriber, after the ones its
// Sink refused before; when it is behind, not at all.
func (a *Assembler) deliver(s *Subscription, m Message) {
	if s.behind {
		return
	}
	if len(s.queue) > 0 {
		a.drain(s)
	}
	if len(s.queue) == 0 && a.send(s, m) {
		return
	}
	s.queue = append(s.queue, m)
	s.queueBytes += int64(len(m.Data))
	if len(s.queue) > a.cfg.MaxPending || s.queueBytes > a.cfg.MaxPendingBytes {
		s.queue, s.queueBytes = nil, 0
		s.behind, s.slow = true, true
	}
}

func (a *Assembler) send(s *Subscription, m Message) bool {
	if s.sink.Send(m) {
		a.st.Messages++
		return true
	}
	a.st.Refused++
	return false
}

// drain retries the queued messages in order.
func (a *Assembler) drain(s *Subscription) {
	n := 0
	for n < len(s.queue) && a.send(s, s.queue[n]) {
		s.queueBytes -= int64(len(s.queue[n].Data))
		n++
	}
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
}

// retry sends a subscriber behind its fresh updates, or retries its queue.
func (a *Assembler) retry(s *Subscription) {
	if !a.ready {
		return
	}
	if !s.behind {
		if len(s.queue) > 0 {
			a.drain(s)
		}
		return
	}
	if a.send(s, a.updates(s.group)) {
		if s.slow {
			a.st.FreshUpdates++
		}
		s.behind, s.slow = false, false
	}
}
