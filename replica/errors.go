package replica

import (
	"errors"
	"fmt"
)

// Sentinel causes, matched with errors.Is against the errors Dial and Next
// return (usually an [*Error]).
var (
	// ErrClosed is returned by Next after Close.
	ErrClosed = errors.New("replica: closed")
	// ErrAuth reports that the master rejected the credentials or the
	// user's permissions (-NOAUTH, -WRONGPASS, -NOPERM). It is not retried.
	ErrAuth = errors.New("replica: authentication failed")
	// ErrProtocol reports bytes from the master that do not follow the
	// replication protocol (garbage replies, malformed RESP, a payload that
	// does not match its announced length).
	ErrProtocol = errors.New("replica: protocol error")
	// ErrEOFMark reports a diskless payload whose trailing 40-byte mark
	// differs from the one announced in its "$EOF:" header.
	ErrEOFMark = errors.New("replica: EOF mark mismatch")
	// ErrSyncRefused reports that the master refused both PSYNC and SYNC.
	ErrSyncRefused = errors.New("replica: master refused sync")
	// ErrTooLarge reports a command stream item over one of the caps:
	// a bulk string over Config.MaxBulkLen, a command with more than
	// Config.MaxArgs arguments, or a MULTI/EXEC transaction over the
	// buffering limits documented on [Transaction].
	ErrTooLarge = errors.New("replica: over limit")
	// ErrMasterBusy reports a master that answered "not now" (-LOADING,
	// -NOMASTERLINK, -MASTERDOWN, -BUSY, or an aborted sync) more often
	// than Config.MaxRetries allows. Until then it is retried.
	ErrMasterBusy = errors.New("replica: master busy")
)

// Error is the structured error of this package. Op says what was being
// done: "dial", "handshake", "psync", "payload" or "stream". Offset is the
// replication offset reached (for "payload", the byte offset inside the
// snapshot). Err is the cause; it matches the sentinels above, an
// [*rdb.Error] for a snapshot that cannot be decoded, or the network error.
type Error struct {
	Addr   string
	Op     string
	Offset int64
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("replica: %s %s at offset %d: %v", e.Op, e.Addr, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// protoErr returns an error matching ErrProtocol.
func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// errTryLater marks master answers that mean "not now" (-LOADING,
// -NOMASTERLINK, a sync aborted by the master): the connection is retried.
type errTryLater struct{ msg string }

func (e *errTryLater) Error() string { return "master busy: " + e.msg }

// Is makes errors.Is(err, ErrMasterBusy) hold.
func (e *errTryLater) Is(target error) bool { return target == ErrMasterBusy }
