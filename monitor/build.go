package monitor

import (
	"fmt"

	"github.com/redtap/redtap/rdb"
)

// AppendEvents appends the events of one command (args, name first, as in
// [replica.Command]) run in database db, and returns the extended slice:
// one KindChange event per key in argument order (two for MOVE), with the
// typed view of [Op]; one KindDBChange event for FLUSHDB, FLUSHALL, SWAPDB
// or a command whose keys cannot be told; none for a command without keys
// (PUBLISH, FUNCTION LOAD ...). Offset and Tx are left zero.
//
// The events alias args. Malformed arguments never panic: a command whose
// arguments do not parse is OpOther. AppendEvents does not allocate beyond
// growing dst.
func AppendEvents(dst []Event, db int, args [][]byte) []Event {
	var keys [16]KeyRef
	dst, _ = appendEvents(dst, keys[:0], db, args, 0, false)
	return dst
}

// appendEvents is AppendEvents with a scratch slice for AppendKeys, which
// it returns for reuse.
// off and tx are the events' Offset and Tx.
func appendEvents(dst []Event, keys []KeyRef, db int, args [][]byte, off int64, tx bool) ([]Event, []KeyRef) {
	if len(args) == 0 {
		return dst, keys
	}
	n := len(dst)
	dst, typ, ok := appendTyped(dst, db, args, off, tx)
	if ok {
		return dst, keys
	}
	dst = dst[:n]
	refs, err := AppendKeys(keys[:0], args)
	if err != nil {
		e := newEvent(&dst, KindDBChange, OpOther, db, args, off, tx)
		e.Type = typ
		e.Err = fmt.Errorf("monitor: keys of %.40q: %w", args[0], err)
		return dst, refs
	}
	for _, r := range refs {
		if r.Index <= 0 || r.Index >= len(args) {
			continue
		}
		e := keyEvent(&dst, OpOther, db, args, r.Index, off, tx)
		e.Type = typ
	}
	return dst, refs
}

// newEvent appends an event without a key.
func newEvent(dst *[]Event, kind Kind, op Op, db int, args [][]byte, off int64, tx bool) *Event {
	*dst = append(*dst, Event{})
	e := &(*dst)[len(*dst)-1]
	e.Kind, e.Op, e.Type, e.DB, e.Args, e.Offset, e.Tx = kind, op, op.Type(), db, args, off, tx
	return e
}

// keyEvent appends a KindChange event for args[i].
func keyEvent(dst *[]Event, op Op, db int, args [][]byte, i int, off int64, tx bool) *Event {
	e := newEvent(dst, KindChange, op, db, args, off, tx)
	e.Key, e.KeyIndex = args[i], i
	return e
}

func (e *Event) setValue(args [][]byte, i int) {
	e.Value, e.ix.value = args[i], int32(i)
}

func (e *Event) setField(args [][]byte, i int) {
	e.Field, e.ix.field = args[i], int32(i)
}

func (e *Event) setOther(args [][]byte, i int) {
	e.Other, e.ix.other = args[i], int32(i)
}

func (e *Event) setElems(args [][]byte, from, to int) {
	e.Elems, e.ix.e0, e.ix.e1 = args[from:to:to], int32(from), int32(to)
}

// appendTyped appends the events of a command with a typed view. ok is
// false for a command without one or with arguments that do not parse
// (the caller then drops what was appended); typ is the type the command
// implies in either case. It hands the command to the builder of its
// family, told by the type in the command table: keyspace commands (no
// type), strings, hashes, sets, sorted sets, lists, streams.
func appendTyped(dst []Event, db int, args [][]byte, off int64, tx bool) (_ []Event, typ rdb.Type, ok bool) {
	id, typ := lookupCommand(args[0])
	if id == cmdUnknown || id == cmdOther {
		return dst, typ, false
	}
	switch typ {
	case 0:
		return appendKeyspace(dst, id, db, args, off, tx)
	case rdb.TypeString:
		return appendString(dst, id, db, args, off, tx)
	case rdb.TypeHash:
		return appendHash(dst, id, db, args, off, tx)
	case rdb.TypeSet:
		return appendSetType(dst, id, db, args, off, tx)
	case rdb.TypeZSet:
		return appendZSet(dst, id, db, args, off, tx)
	case rdb.TypeList:
		return appendList(dst, id, db, args, off, tx)
	case rdb.TypeStream:
		return appendStream(dst, id, db, args, off, tx)
	}
	return dst, typ, false
}

// optCount parses "<cmd> key [count]": the count, 1 when absent.
// appendPop appends the event of a pop from one end (LPOP, RPOP, ZPOPMIN,
// ZPOPMAX key [count]): op, with N the count.
func appendPop(dst []Event, op Op, db int, args [][]byte, off int64, tx bool) ([]Event, bool) {
	n, ok := optCount(args)
	if !ok {
		return dst, false
	}
	keyEvent(&dst, op, db, args, 1, off, tx).N = n
	return dst, true
}

func optCount(args [][]byte) (int64, bool) {
	switch len(args) {
	case 2:
		return 1, true
	case 3:
		n, ok := parseInt(args[2])
		return n, ok && n >= 0
	}
	return 0, false
}
