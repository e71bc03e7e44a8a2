package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// dashConfig is what the dashboard's server needs to know: where the master
// is, which keys to show and how many records per key a window keeps.
type dashConfig struct {
	Addr     string // master "host:port"
	Username string
	Password string
	TLS      *tls.Config // nil: plain TCP
	Match    []string    // glob patterns of the keys to show
	Window   int         // newest records kept per key
}

// newDashboardHandler returns the handler of /events (SSE) and /ws, and a
// function that stops its background work and waits for it. Messages follow
// the schema of web/README.md: "updates" (every window, on connect), then
// "dUpdates" (changes).
//
// TEMPORARY: replaced by the assembler's SSE handler. This stand-in polls
// the sorted sets with go-redis every second (ZREVRANGE of the newest
// window, then ZRANGEBYSCORE from the newest score seen), which the project
// never does in production: the real handler taps the master through
// replica + monitor + assembler. It exists so that the page and its browser
// test can be built against the message schema now. It serves zsets only,
// answers /ws with 501, and numbers its messages 1, 2, 3... where the real
// handler sends the replication offset.
func newDashboardHandler(ctx context.Context, cfg dashConfig) (http.Handler, func() error, error) {
	if cfg.Window <= 0 {
		return nil, nil, fmt.Errorf("sysmon: window %d: want at least 1", cfg.Window)
	}
	if len(cfg.Match) == 0 {
		cfg.Match = []string{"*"}
	}
	c := redis.NewClient(&redis.Options{
		Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, TLSConfig: cfg.TLS,
		DisableIdentity: true, MaxRetries: -1,
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := c.Ping(pctx).Err()
	cancel()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("sysmon: connect to %s: %w", cfg.Addr, err)
	}
	ctx, cancel = context.WithCancel(ctx)
	s := &standIn{rdb: c, cfg: cfg, keys: map[string]*window{}, viewers: map[*viewer]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	stop := func() error {
		cancel()
		<-done
		return c.Close()
	}
	return s, sync.OnceValue(stop), nil
}

// pollInterval is how often the stand-in reads the sorted sets.
const pollInterval = time.Second

// Wire types of the message schema (web/README.md).
type (
	entry struct {
		ID    string  `json:"id"`
		Score float64 `json:"score"`
		Value string  `json:"value"`
	}
	windowMsg struct {
		DB      int     `json:"db"`
		Key     string  `json:"key"`
		Type    string  `json:"type"`
		Entries []entry `json:"entries"`
	}
	updatesMsg struct {
		Offset  int64       `json:"offset"`
		Windows []windowMsg `json:"windows"`
	}
	delta struct {
		DB    int      `json:"db"`
		Key   string   `json:"key"`
		Type  string   `json:"type"`
		Clear bool     `json:"clear"`
		Del   []string `json:"del"`
		Set   []entry  `json:"set"`
	}
	dUpdatesMsg struct {
		Offset int64   `json:"offset"`
		Deltas []delta `json:"deltas"`
	}
)

// entryID is the member's JSON "id" when it is a JSON object carrying a
// string one, else the member itself.
func entryID(member string) string {
	if !strings.HasPrefix(member, "{") {
		return member
	}
	var m struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal([]byte(member), &m) != nil || m.ID == nil {
		return member
	}
	return *m.ID
}

// window is the newest entries of one key, ascending by (score, id).
type window struct {
	entries []entry
	max     float64 // newest score read so far
}

// put adds or replaces e by id and evicts the oldest entries beyond n.
func (w *window) put(e entry, n int) {
	if i := slices.IndexFunc(w.entries, func(x entry) bool { return x.ID == e.ID }); i >= 0 {
		w.entries = slices.Delete(w.entries, i, i+1)
	}
	i, _ := slices.BinarySearchFunc(w.entries, e, cmpEntry)
	w.entries = slices.Insert(w.entries, i, e)
	if len(w.entries) > n {
		w.entries = slices.Delete(w.entries, 0, len(w.entries)-n)
	}
	w.max = max(w.max, e.Score)
}

func cmpEntry(a, b entry) int {
	if a.Score != b.Score {
		if a.Score < b.Score {
			return -1
		}
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

// standIn is the temporary dashboard server: see newDashboardHandler.
type standIn struct {
	rdb *redis.Client
	cfg dashConfig

	mu      sync.Mutex // guards everything below; broadcasts happen under it
	keys    map[string]*window
	offset  int64 // messages so far: the stand-in has no replication offset
	viewers map[*viewer]bool
}

// viewer is one /events connection. Deltas queue in ch; when ch is full the
// viewer gets a fresh "updates" instead (resync).
type viewer struct {
	ch     chan []byte
	resync chan struct{} // capacity 1
}

func (s *standIn) run(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		s.poll(ctx) // errors: nothing changes this round, try again
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll reads the changes since the last poll and broadcasts them as one
// dUpdates.
func (s *standIn) poll(ctx context.Context) {
	var keys []string
	for _, pat := range s.cfg.Match {
		iter := s.rdb.ScanType(ctx, 0, pat, 100, "zset").Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if iter.Err() != nil {
			return
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	s.mu.Lock()
	known := make(map[string]float64, len(keys))
	for _, k := range keys {
		if w := s.keys[k]; w != nil {
			known[k] = w.max
		}
	}
	s.mu.Unlock()

	// Read outside the lock: new keys from their newest window, known keys
	// from their newest score on (inclusive: a member with that same score
	// may be new; ids dedup), plus each key's oldest score (retention).
	type reads struct {
		members *redis.ZSliceCmd
		oldest  *redis.ZSliceCmd
	}
	rs := make([]reads, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			if m, ok := known[k]; ok {
				rs[i].members = p.ZRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Min: strconv.FormatFloat(m, 'f', -1, 64), Max: "+inf"})
			} else {
				rs[i].members = p.ZRevRangeWithScores(ctx, k, 0, int64(s.cfg.Window-1))
			}
			rs[i].oldest = p.ZRangeWithScores(ctx, k, 0, 0)
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var msg dUpdatesMsg
	present := make(map[string]bool, len(keys))
	for i, k := range keys {
		present[k] = true
		w := s.keys[k]
		if w == nil {
			w = &window{}
			s.keys[k] = w
		}
		before := make(map[string]string, len(w.entries))
		for _, e := range w.entries {
			before[e.ID] = e.Value
		}
		if old, _ := rs[i].oldest.Result(); len(old) == 1 {
			n := 0
			for n < len(w.entries) && w.entries[n].Score < old[0].Score {
				n++
			}
			w.entries = slices.Delete(w.entries, 0, n)
		}
		zs, _ := rs[i].members.Result()
		for _, z := range zs {
			m, _ := z.Member.(string)
			w.put(entry{ID: entryID(m), Score: z.Score, Value: m}, s.cfg.Window)
		}
		d := delta{Key: k, Type: "zset", Del: []string{}, Set: []entry{}}
		after := make(map[string]bool, len(w.entries))
		for _, e := range w.entries {
			after[e.ID] = true
			if v, ok := before[e.ID]; !ok || v != e.Value {
				d.Set = append(d.Set, e)
			}
		}
		for id := range before {
			if !after[id] {
				d.Del = append(d.Del, id)
			}
		}
		slices.Sort(d.Del)
		if len(d.Set) > 0 || len(d.Del) > 0 {
			msg.Deltas = append(msg.Deltas, d)
		}
	}
	for k := range s.keys {
		if !present[k] {
			delete(s.keys, k)
			msg.Deltas = append(msg.Deltas, delta{Key: k, Type: "zset", Clear: true, Del: []string{}, Set: []entry{}})
		}
	}
	if len(msg.Deltas) == 0 {
		return
	}
	s.offset++
	msg.Offset = s.offset
	ev := sseEvent("dUpdates", s.offset, msg)
	for v := range s.viewers {
		select {
		case v.ch <- ev:
		default:
			select {
			case v.resync <- struct{}{}:
			default:
			}
		}
	}
}

// snapshot returns the "updates" event of the current windows. s.mu is
// held.
func (s *standIn) snapshot() []byte {
	msg := updatesMsg{Offset: s.offset, Windows: []windowMsg{}}
	for k, w := range s.keys {
		msg.Windows = append(msg.Windows, windowMsg{Key: k, Type: "zset", Entries: slices.Clone(w.entries)})
	}
	slices.SortFunc(msg.Windows, func(a, b windowMsg) int { return strings.Compare(a.Key, b.Key) })
	return sseEvent("updates", s.offset, msg)
}

func sseEvent(name string, id int64, data any) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "event: %s\nid: %d\ndata: ", name, id)
	json.NewEncoder(&b).Encode(data) //nolint:errcheck // our own types always encode
	b.WriteString("\n")              // Encode ended the data line; this ends the event
	return b.Bytes()
}

// keepAlive is how often an idle /events stream gets a comment line, so
// that proxies keep it open and a dead viewer is noticed.
const keepAlive = 15 * time.Second

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/events":
		s.serveEvents(w, r)
	case "/ws":
		http.Error(w, "sysmon: /ws is not served by the temporary stand-in; use /events", http.StatusNotImplemented)
	default:
		http.NotFound(w, r)
	}
}

func (s *standIn) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	v := &viewer{ch: make(chan []byte, 64), resync: make(chan struct{}, 1)}
	s.mu.Lock()
	first := s.snapshot()
	s.viewers[v] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.viewers, v)
		s.mu.Unlock()
	}()
	// retry: reconnect after a second when the server goes away.
	if _, err := w.Write(append([]byte("retry: 1000\n\n"), first...)); err != nil {
		return
	}
	ka := time.NewTicker(keepAlive)
	defer ka.Stop()
	for {
		if rc.Flush() != nil {
			return
		}
		var out []byte
		select {
		case <-r.Context().Done():
			return
		case out = <-v.ch:
		case <-v.resync:
			s.mu.Lock()
			for len(v.ch) > 0 {
				<-v.ch
			}
			out = s.snapshot()
			s.mu.Unlock()
		case <-ka.C:
			out = []byte(": keep-alive\n\n")
		}
		if _, err := w.Write(out); err != nil {
			return
		}
	}
}
