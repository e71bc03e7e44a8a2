package replica

import (
	"strconv"
	"sync"
)

// nextStream reads commands until one is an event: a command outside
// MULTI, or a whole MULTI ... EXEC block. PING, REPLCONF and SELECT are
// consumed.
func (r *Replica) nextStream(s *session) (Event, error) {
	for {
		args, size, err := r.in.sr.next()
		if err != nil {
			return nil, err
		}
		s.off += size
		r.st.received.Store(s.off)
		name := args[0]
		switch {
		case equalFold(name, "PING"):
			r.consumed(s)
		case equalFold(name, "REPLCONF"):
			if len(args) > 1 && equalFold(args[1], "GETACK") {
				// Like a Redis replica: answer at once with the offset
				// processed before this command.
				r.writeAck(s.conn, r.ack.processed.Load())
			}
			r.consumed(s)
		case equalFold(name, "SELECT"):
			if len(args) != 2 {
				return nil, protoErr("SELECT with %d arguments", len(args)-1)
			}
			db, err := strconv.Atoi(string(args[1]))
			if err != nil || db < 0 {
				return nil, protoErr("SELECT %q", args[1])
			}
			s.db = db
			r.consumed(s)
		case equalFold(name, "MULTI"):
			if err := r.tx.begin(s.db, s.off-size); err != nil {
				return nil, err
			}
		case equalFold(name, "EXEC"):
			tx, err := r.tx.end(s.off)
			if err != nil {
				return nil, err
			}
			r.st.commands.Add(int64(len(tx.Commands)))
			tx.Pos = r.delivered(s)
			return tx, nil
		default:
			if r.tx.open {
				if err := r.tx.add(s.db, args, s.off, int64(r.in.p.arenaLen()), 2*r.cfg.MaxBulkLen); err != nil {
					return nil, err
				}
				continue
			}
			c := r.slab.command()
			c.DB, c.Args, c.Offset = s.db, args, s.off
			r.st.commands.Add(1)
			c.Pos = r.delivered(s)
			return c, nil
		}
	}
}

// consumed records a command that is not delivered (PING, REPLCONF,
// SELECT): outside a transaction it is processed at once.
func (r *Replica) consumed(s *session) {
	if !r.tx.open {
		r.delivered(s)
		r.in.p.release()
	}
}

// delivered advances the processed offset and the position to s.off, and
// returns the position.
func (r *Replica) delivered(s *session) Position {
	p := Position{ReplID: s.replid, Offset: s.off, DB: s.db}
	r.ack.processed.Store(s.off)
	r.pos.set(p)
	return p
}

// posCell holds the position Next has reached, for Position from any
// goroutine.
type posCell struct {
	mu sync.Mutex
	p  Position
}

func (c *posCell) get() Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.p
}

func (c *posCell) set(p Position) {
	c.mu.Lock()
	c.p = p
	c.mu.Unlock()
}

// slabs hand out events: one allocation per 256 events, and an event is
// never reused.
type slabs struct {
	cmds []Command
	recs []SnapshotRecord
}

func (s *slabs) command() *Command {
	if len(s.cmds) == 0 {
		s.cmds = make([]Command, 256)
	}
	c := &s.cmds[0]
	s.cmds = s.cmds[1:]
	return c
}

func (s *slabs) record() *SnapshotRecord {
	if len(s.recs) == 0 {
		s.recs = make([]SnapshotRecord, 256)
	}
	c := &s.recs[0]
	s.recs = s.recs[1:]
	return c
}

// equalFold compares an ASCII command name case-insensitively.
func equalFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}
