package assembler

import (
	"fmt"
	"time"

	"github.com/redtap/redtap/internal/glob"
)

// AtOnce as Config.Interval delivers every batch's deltas from Apply,
// without coalescing.
const AtOnce time.Duration = -1

// Defaults of Config.
const (
	DefaultInterval        = 50 * time.Millisecond
	DefaultLimit           = 100
	DefaultMaxEntries      = 1 << 20
	DefaultMaxBytes        = 256 << 20
	DefaultMaxPending      = 16
	DefaultMaxPendingBytes = 4 << 20
	DefaultHistory         = 64
)

// Window selects keys by a glob and says what their windows show. The
// first Window whose Match matches a key applies to it; keys no Window
// matches are not held.
type Window struct {
	// Match is a Redis glob pattern over key names ("sysmon:*").
	Match string
	// Limit is the most entries the window of one key shows (default
	// DefaultLimit): the newest N members of a sorted set by score, the
	// newest N entries of a stream, N elements at the pushed end of a
	// list (see FromHead), the first N fields of a hash and members of a
	// set in byte order.
	Limit int
	// MaxAge hides sorted-set members whose score, read as Unix
	// milliseconds, and stream entries whose id's milliseconds, are older
	// than the clock minus MaxAge (0: no limit). It does not apply to the
	// other types.
	MaxAge time.Duration
	// DedupID: a sorted-set member that is a JSON object carrying "id" is
	// identified by that id, and the window shows only the newest member
	// (highest score) of each id. Without it a member is its own id.
	DedupID bool
	// FromHead: the newest elements of a list are at its head (LPUSH):
	// the window shows the first Limit elements. Otherwise (RPUSH, the
	// default) it shows the last Limit.
	FromHead bool
}

type spec struct {
	Window
	pat []byte
}

// Config configures an Assembler. The zero value of each field means its
// default.
type Config struct {
	// Windows select the keys to hold (at least one).
	Windows []Window
	// MaxEntries and MaxBytes bound what the assembler holds over all keys
	// (defaults DefaultMaxEntries, DefaultMaxBytes; bytes are an estimate
	// of the memory held). Past them the oldest entries are evicted (see
	// the package documentation).
	MaxEntries int
	MaxBytes   int64
	// Interval is how often deltas are delivered (by Tick): the changes of
	// one interval become one dUpdates message. Default DefaultInterval;
	// AtOnce delivers them from Apply, one message per batch.
	Interval time.Duration
	// Clock tells the time (default time.Now). It decides intervals and
	// MaxAge, and the age of list, hash, set and string entries.
	Clock func() time.Time
	// MaxPending and MaxPendingBytes bound the messages held for a
	// subscriber whose Sink refused them (defaults DefaultMaxPending,
	// DefaultMaxPendingBytes; a negative MaxPending holds none). Past them
	// the subscriber is behind: its messages are dropped and it gets a
	// fresh updates once its Sink accepts again.
	MaxPending      int
	MaxPendingBytes int64
	// History is how many dUpdates messages each selection keeps for
	// resuming a subscriber from a Last-Event-ID (default DefaultHistory;
	// negative: none).
	History int
}

// New returns an Assembler for cfg.
func New(cfg Config) (*Assembler, error) {
	if len(cfg.Windows) == 0 {
		return nil, fmt.Errorf("%w: no Windows", ErrConfig)
	}
	a := &Assembler{cfg: cfg, slots: make(map[slotKey]*slot), groups: make(map[string]*group),
		subs: make(map[*Subscription]struct{}), shown: shownState{lastID: -1},
		scratch: flushScratch{seen: make(map[string]struct{}), old: make(map[string][]byte)}}
	for i, w := range cfg.Windows {
		if w.Match == "" {
			return nil, fmt.Errorf("%w: Windows[%d]: empty Match", ErrConfig, i)
		}
		if w.Limit < 0 || w.MaxAge < 0 {
			return nil, fmt.Errorf("%w: Windows[%d]: negative Limit or MaxAge", ErrConfig, i)
		}
		if w.Limit == 0 {
			w.Limit = DefaultLimit
		}
		a.specs = append(a.specs, spec{Window: w, pat: []byte(w.Match)})
	}
	c := &a.cfg
	if c.MaxEntries < 0 || c.MaxBytes < 0 || c.MaxPendingBytes < 0 || c.Interval < 0 && c.Interval != AtOnce {
		return nil, fmt.Errorf("%w: negative bound or Interval", ErrConfig)
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	a.clock = c.Clock
	if a.clock == nil {
		a.clock = time.Now
	}
	return a, nil
}

func (a *Assembler) specFor(key []byte) *spec {
	for i := range a.specs {
		if glob.Match(a.specs[i].pat, key) {
			return &a.specs[i]
		}
	}
	return nil
}
