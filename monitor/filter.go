package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/redtap/redtap/internal/glob"
	"github.com/redtap/redtap/rdb"
)

// Filter selects the events a subscriber receives. Each non-empty field is
// a condition, and an event must meet all of them; the zero Filter selects
// everything.
//
//   - Match: the key matches one of these Redis glob patterns ('*', '?',
//     '[a-z]', '\' escapes, byte-wise and case-sensitive, as KEYS and SCAN
//     MATCH).
//   - DBs: the key's database is one of these.
//   - Commands: the command is one of these (names in any case: "set",
//     "HSET"; a container's name for its subcommands: "xgroup").
//   - Types: the key's type is one of these: Entry.Type for a snapshot key,
//     the type the command implies (Event.Type) for a change. A command
//     that works on keys of any type (DEL, UNLINK, EXPIRE, PERSIST, RENAME,
//     MOVE, COPY, RESTORE, SORT ... STORE) passes every Types condition,
//     since the monitor does not know the key's type: a consumer gets such
//     events for keys of other types too, and ignores those it does not
//     hold.
//
// Snapshot keys are subject to Match, DBs and Types (not Commands). The
// db-wide events (FLUSHDB, FLUSHALL, SWAPDB, and a command whose keys cannot
// be told) are subject to DBs only: FLUSHALL passes every filter, SWAPDB
// passes when one of its two databases is selected. Reset and SnapshotDone
// always pass.
//
// To decode only the snapshot keys a filter selects, a caller can also give
// the replica the equivalent rdb options (replica.Config.RDBOptions with
// rdb.WithMatch, rdb.WithDBs, rdb.WithTypes); the monitor does not require
// it, it filters snapshot keys anyway.
type Filter struct {
	Match    []string
	DBs      []int
	Commands []string
	Types    []rdb.Type
}

// compiled is a validated Filter, ready to test events. It is immutable:
// changing a subscriber's filter replaces it.
type compiled struct {
	f       Filter // a private copy, for Subscriber.Filter
	all     bool   // no condition at all
	pats    []pattern
	dbs     []int
	cmds    [][]byte // lower case
	types   uint16   // bit per rdb.Type; 0 for all
	keyOnly bool     // Match is the only condition
}

// pattern is a glob with fast paths for the common shapes.
type pattern struct {
	kind uint8 // patExact, patPrefix or patGlob
	p    []byte
}

const (
	patExact  = iota // no special character
	patPrefix        // literal followed by one '*' ("cpu:*", "*")
	patGlob
)

func compilePattern(s string) pattern {
	p := []byte(s)
	special := bytes.IndexAny(p, `*?[\`)
	switch {
	case special < 0:
		return pattern{patExact, p}
	case special == len(p)-1 && p[special] == '*':
		return pattern{patPrefix, p[:special]}
	}
	return pattern{patGlob, p}
}

func (p *pattern) match(key []byte) bool {
	switch p.kind {
	case patExact:
		return bytes.Equal(p.p, key)
	case patPrefix:
		return bytes.HasPrefix(key, p.p)
	}
	return glob.Match(p.p, key)
}

var errFilter = errors.New("monitor: invalid filter")

func compileFilter(f Filter) (*compiled, error) {
	c := &compiled{f: Filter{
		Match:    slices.Clone(f.Match),
		DBs:      slices.Clone(f.DBs),
		Commands: slices.Clone(f.Commands),
		Types:    slices.Clone(f.Types),
	}}
	for _, m := range f.Match {
		c.pats = append(c.pats, compilePattern(m))
	}
	for _, db := range f.DBs {
		if db < 0 {
			return nil, fmt.Errorf("%w: database %d", errFilter, db)
		}
		if !slices.Contains(c.dbs, db) {
			c.dbs = append(c.dbs, db)
		}
	}
	for _, name := range f.Commands {
		var b [24]byte
		l := lowerTok(&b, []byte(name))
		if len(name) == 0 || l == nil {
			return nil, fmt.Errorf("%w: command %q", errFilter, name)
		}
		c.cmds = append(c.cmds, slices.Clone(l))
	}
	for _, t := range f.Types {
		if t < rdb.TypeString || t > rdb.TypeModule {
			return nil, fmt.Errorf("%w: type %v", errFilter, t)
		}
		c.types |= 1 << t
	}
	c.all = len(c.pats) == 0 && len(c.dbs) == 0 && len(c.cmds) == 0 && c.types == 0
	c.keyOnly = len(c.pats) > 0 && len(c.dbs) == 0 && len(c.cmds) == 0 && c.types == 0
	return c, nil
}

func (c *compiled) db(db int) bool {
	if len(c.dbs) == 0 {
		return true
	}
	for _, d := range c.dbs {
		if d == db {
			return true
		}
	}
	return false
}

func (c *compiled) key(k []byte) bool {
	if len(c.pats) == 0 {
		return true
	}
	for i := range c.pats {
		if c.pats[i].match(k) {
			return true
		}
	}
	return false
}

func (c *compiled) typ(t rdb.Type) bool {
	return c.types == 0 || t == 0 || c.types&(1<<t) != 0
}

func (c *compiled) command(name []byte) bool {
	if len(c.cmds) == 0 {
		return true
	}
	var b [24]byte
	l := lowerTok(&b, name)
	for _, n := range c.cmds {
		if bytes.Equal(n, l) {
			return true
		}
	}
	return false
}

// pass reports whether e passes the filter.
func (c *compiled) pass(e *Event) bool {
	if c.all {
		return true
	}
	switch e.Kind {
	case KindChange:
		if c.keyOnly {
			return c.key(e.Key)
		}
		return c.db(e.DB) && c.typ(e.Type) && c.key(e.Key) && c.command(e.Args[0])
	case KindSnapshotKey:
		return c.db(e.DB) && c.typ(e.Type) && c.key(e.Key)
	case KindDBChange:
		switch e.Op {
		case OpFlushAll:
			return true
		case OpSwapDB:
			return c.db(e.DB) || c.db(e.OtherDB)
		}
		return c.db(e.DB)
	}
	return true
}

// withMatch returns the filter with patterns added to Match (those already
// there are not added twice).
func (c *compiled) withMatch(patterns []string) Filter {
	f := c.f
	f.Match = slices.Clone(f.Match)
	for _, p := range patterns {
		if !slices.Contains(f.Match, p) {
			f.Match = append(f.Match, p)
		}
	}
	return f
}

// withoutMatch returns the filter without patterns in Match.
func (c *compiled) withoutMatch(patterns []string) Filter {
	f := c.f
	f.Match = slices.DeleteFunc(slices.Clone(f.Match), func(p string) bool { return slices.Contains(patterns, p) })
	return f
}
