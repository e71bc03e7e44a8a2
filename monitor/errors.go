package monitor

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel causes, matched with errors.Is against an [*Error].
var (
	// ErrUnknownCommand reports a command (or a container's subcommand)
	// that the command table does not know. COMMAND GETKEYS answers
	// "Invalid command specified".
	ErrUnknownCommand = errors.New("monitor: unknown command")
	// ErrArity reports a number of arguments that does not fit the
	// command's arity. COMMAND GETKEYS answers "Invalid number of
	// arguments specified for command".
	ErrArity = errors.New("monitor: wrong number of arguments")
	// ErrInvalidArgs reports arguments in which the keys of a command that
	// needs keys cannot be located (a bad numkeys, XREAD without STREAMS,
	// MIGRATE's KEYS with a non-empty key argument). COMMAND GETKEYS
	// answers "Invalid arguments specified for command".
	ErrInvalidArgs = errors.New("monitor: invalid arguments")
)

// Error is the error of [AppendKeys], [Keys] and [LookupArgs]. Command is
// the command's lower-case full name ("xgroup|create"), or for an unknown
// one the name as sent (quoted, shortened); Arg is the index in args of
// the offending argument, or -1; Reason says what was wrong; Err is one of
// the sentinels. For example:
//
//	monitor: zunionstore: invalid arguments: argument 2: numkeys out of range: "5"
type Error struct {
	Command string
	Arg     int
	Reason  string
	Err     error
}

func (e *Error) Error() string {
	s := "monitor: "
	if e.Command != "" {
		s += e.Command + ": "
	}
	s += strings.TrimPrefix(e.Err.Error(), "monitor: ")
	if e.Arg > 0 {
		s += ": argument " + strconv.Itoa(e.Arg)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// quote returns b quoted and shortened for an error message.
func quote(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
