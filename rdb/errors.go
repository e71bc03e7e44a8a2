package rdb

import (
	"errors"
	"fmt"
)

// Sentinel causes, matched with errors.Is against an [*Error].
var (
	// ErrCorrupt reports bytes that cannot be a valid RDB encoding.
	ErrCorrupt = errors.New("rdb: corrupt data")
	// ErrChecksum reports a CRC-64 that does not match the bytes read.
	ErrChecksum = errors.New("rdb: checksum mismatch")
	// ErrUnsupportedVersion reports a header with a version this package
	// does not know (see [WithFutureVersions]) or a magic it cannot read.
	ErrUnsupportedVersion = errors.New("rdb: unsupported version")
	// ErrUnsupportedType reports a value type or opcode that cannot be read
	// or skipped (a pre-GA module value, an unknown type byte).
	ErrUnsupportedType = errors.New("rdb: unsupported type")
	// ErrTooLarge reports a length over one of the decoder's caps.
	ErrTooLarge = errors.New("rdb: length over limit")
	// ErrClosed is returned by Next after Close.
	ErrClosed = errors.New("rdb: decoder closed")
)

// Error is the error returned for malformed or unreadable input. Offset is
// the byte offset from the start of the snapshot where the failing read
// began; Op says what was being read ("string length", "listpack entry",
// "checksum" ...); Err is the cause.
type Error struct {
	Offset int64
	Op     string
	Key    []byte // the key being decoded, when known
	Err    error
}

func (e *Error) Error() string {
	if e.Key != nil {
		return fmt.Sprintf("rdb: %s at offset %d (key %q): %v", e.Op, e.Offset, e.Key, e.Err)
	}
	return fmt.Sprintf("rdb: %s at offset %d: %v", e.Op, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
