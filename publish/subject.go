package publish

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/redtap/redtap/monitor"
)

// SubjectMode says how a message's subject is made from the event (see
// Config.Subjects).
type SubjectMode uint8

const (
	// PerKey (the default): "<prefix>.<db>.<key>" for the events of a key,
	// the key escaped by [AppendToken]; "<prefix>.<db>" for FLUSHDB,
	// SWAPDB and commands whose keys cannot be told; "<prefix>.all" for
	// FLUSHALL; "<prefix>.sync" for the reset marker and the end of a
	// snapshot.
	PerKey SubjectMode = iota
	// PerDB: "<prefix>.<db>" for every event of a database,
	// "<prefix>.all" and "<prefix>.sync" as with PerKey.
	PerDB
)

// String returns "key" or "db".
func (m SubjectMode) String() string {
	if m == PerDB {
		return "db"
	}
	return "key"
}

// AppendToken appends key as one NATS subject token: the printable ASCII
// bytes other than '.', '*', '>' and '%' as they are, every other byte
// (space, control characters, bytes of multi-byte UTF-8 sequences ...) as
// %XX with upper-case hex digits, and the empty key as a lone "%". A
// consumer can subscribe to one key's subject exactly, and ParseToken gives
// the key back.
func AppendToken(b, key []byte) []byte {
	if len(key) == 0 {
		return append(b, '%')
	}
	for _, c := range key {
		if c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>' && c != '%' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&0xf])
	}
	return b
}

const upperHex = "0123456789ABCDEF"

// ErrBadToken reports a subject token that AppendToken cannot have made.
var ErrBadToken = errors.New("publish: malformed subject token")

// ParseToken returns the key a token made by AppendToken stands for.
func ParseToken(tok string) ([]byte, error) {
	if tok == "%" {
		return []byte{}, nil
	}
	if tok == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadToken)
	}
	key := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '%':
			if i+2 >= len(tok) {
				return nil, fmt.Errorf("%w: %q: short escape at %d", ErrBadToken, tok, i)
			}
			v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
			if err != nil || !isUpperHex(tok[i+1]) || !isUpperHex(tok[i+2]) {
				return nil, fmt.Errorf("%w: %q: bad escape at %d", ErrBadToken, tok, i)
			}
			b := byte(v)
			if b > ' ' && b < 0x7f && b != '.' && b != '*' && b != '>' && b != '%' {
				return nil, fmt.Errorf("%w: %q: needless escape at %d", ErrBadToken, tok, i)
			}
			key = append(key, b)
			i += 2
		case c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>':
			key = append(key, c)
		default:
			return nil, fmt.Errorf("%w: %q: byte %#x at %d", ErrBadToken, tok, c, i)
		}
	}
	return key, nil
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// subject appends the subject of an event to b.
func appendSubject(b []byte, prefix string, mode SubjectMode, kind monitor.Kind, db int, key []byte) []byte {
	b = append(b, prefix...)
	b = append(b, '.')
	switch {
	case kind == monitor.KindReset || kind == monitor.KindSnapshotDone:
		return append(b, "sync"...)
	case db < 0:
		return append(b, "all"...)
	}
	b = strconv.AppendInt(b, int64(db), 10)
	if mode == PerKey && key != nil {
		b = append(b, '.')
		b = AppendToken(b, key)
	}
	return b
}
