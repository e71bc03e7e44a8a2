package replica

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Position is a point in a master's replication stream, as a replica needs
// it to resume with PSYNC.
//
// Offset is the replication offset of the last byte processed: the next
// byte to read is Offset+1, which is what PSYNC asks for. DB is the
// database selected at that point of the stream: a master does not repeat
// SELECT after a partial resynchronisation (replication.c:
// "the slave already has this state from the previous connection"), so a
// resumed stream may go on writing to a non-zero database without naming
// it; Redis itself keeps it in the RDB's "repl-stream-db" field.
type Position struct {
	ReplID string // 40 hex characters; "" when the master did not tell (SYNC fallback)
	Offset int64
	DB     int
}

// String formats the position as "<replid>:<offset>", with ":<db>"
// appended when DB is not 0.
func (p Position) String() string {
	s := p.ReplID + ":" + strconv.FormatInt(p.Offset, 10)
	if p.DB != 0 {
		s += ":" + strconv.Itoa(p.DB)
	}
	return s
}

// ParsePosition parses the form written by [Position.String].
func ParsePosition(s string) (Position, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return Position{}, fmt.Errorf("replica: position %q: want <replid>:<offset>[:<db>]", s)
	}
	p := Position{ReplID: parts[0]}
	if err := validReplID(p.ReplID); err != nil {
		return Position{}, fmt.Errorf("replica: position %q: %w", s, err)
	}
	off, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || off < 0 {
		return Position{}, fmt.Errorf("replica: position %q: bad offset %q", s, parts[1])
	}
	p.Offset = off
	if len(parts) == 3 {
		db, err := strconv.Atoi(parts[2])
		if err != nil || db < 0 {
			return Position{}, fmt.Errorf("replica: position %q: bad db %q", s, parts[2])
		}
		p.DB = db
	}
	return p, nil
}

// Compare orders positions by Offset only, returning -1, 0 or +1. Offsets
// of different replication ids are compared as well: after a failover the
// promoted replica continues the old id's offsets, so the comparison stays
// meaningful along one history, but it says nothing about positions of
// unrelated masters.
func (p Position) Compare(q Position) int { return cmp.Compare(p.Offset, q.Offset) }

// IsZero reports whether p is the zero Position (nothing to resume from).
func (p Position) IsZero() bool { return p == Position{} }

func validReplID(id string) error {
	if id == "" {
		return nil
	}
	if len(id) != 40 {
		return fmt.Errorf("replication id %q: want 40 hex characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("replication id %q: want 40 hex characters", id)
		}
	}
	return nil
}
