package monitor

import (
	"strconv"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// Kind says what an [Event] is. The set is closed.
type Kind uint8

// The kinds of events.
const (
	// KindReset: drop all state built so far. The monitor emits one for
	// every full resynchronisation of the source (a snapshot follows: Err
	// is nil, Value the reason the source gave, if any), and the Reset
	// slow-subscriber policy emits one to a subscriber whose backlog it
	// dropped (Err matches [ErrSlowSubscriber]: no snapshot follows, see
	// [Reset]).
	KindReset Kind = iota + 1
	// KindSnapshotKey: "Key has this value": Entry carries one chunk of a
	// snapshot key as the rdb package decoded it. A big key comes in
	// several chunks (Entry.Chunk from 0, Entry.Last on the final one),
	// each an event of its own batch.
	KindSnapshotKey
	// KindSnapshotDone: the snapshot is complete; the batch's Pos is where
	// the command stream resumes.
	KindSnapshotDone
	// KindChange: a command touched Key; Op says how.
	KindChange
	// KindDBChange: a command changed a whole database (FLUSHDB, FLUSHALL,
	// SWAPDB), or a command whose keys cannot be told; Key is nil.
	KindDBChange
)

var kindNames = [...]string{"", "reset", "snapshot-key", "snapshot-done", "change", "db-change"}

// String returns "reset", "snapshot-key", "snapshot-done", "change" or
// "db-change".
func (k Kind) String() string {
	if k != 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one per-key change, or one of the markers around them. It is a
// flat value: Kind says which fields are set, and for changes Op gives the
// typed view of the command (see [Op] for the fields each one sets).
//
// Every slice of an event (Key, Args, Value, Field, Elems, Other, Entry
// and what it holds) points into memory the monitor owns and shares
// between the subscribers that receive the batch: read it, do not modify
// it, and copy what you keep past the next call of Next of the subscriber
// that returned it. [AppendEvents] returns events that alias its args
// instead.
type Event struct {
	Kind Kind
	// Op is the typed view of a KindChange or KindDBChange event; OpNone
	// for the others.
	Op Op
	// Type is the type of the key: Entry.Type for a snapshot key, the type
	// the command implies for a change (Op.Type(), or for OpOther the
	// command's, as SUNIONSTORE implies a set), 0 when the command works
	// on keys of any type (DEL, RENAME, EXPIRE ...).
	Type rdb.Type
	// Tx is set on the events of a command that ran inside MULTI/EXEC (a
	// transaction, or the effects of a script).
	Tx bool
	// Opts are the options of the typed view (NX, KEEPTTL ...).
	Opts Opts
	// DB is the database of Key: for a command the one selected when it
	// ran (the target database for OpMoveTo and OpCopyTo), -1 for
	// OpFlushAll.
	DB int
	// Key is the key, nil for the kinds without one (Reset, SnapshotDone,
	// DBChange).
	Key []byte
	// KeyIndex is the position of Key in Args (Args[KeyIndex] is Key), 0
	// when Key is nil or comes from a snapshot.
	KeyIndex int
	// Offset is the replication offset right after the command; inside a
	// transaction that of the command itself, so that the events of one
	// command share their Offset (the batch's Offset is the transaction's,
	// after EXEC). Snapshot events and the Reset before them carry the
	// offset the snapshot corresponds to.
	Offset int64
	// Args is the whole command, name first, as the master sent it, shared
	// by all the events of the command. Nil for the other kinds.
	Args [][]byte

	// The typed view (see Op).

	// Value is the value, element or member the operation carries (SET's
	// value, LSET's element, ZINCRBY's member, XADD's id); for a Reset from
	// the source, the reason of the resynchronisation.
	Value []byte
	// Field is the name something is addressed by: HINCRBY's field,
	// LINSERT's pivot, a stream's consumer group, a trim threshold.
	Field []byte
	// Elems are the elements of a multi-element operation: members, pushed
	// elements, field-value or score-member pairs, stream ids. A sub-slice
	// of Args.
	Elems [][]byte
	// N and M are integer parameters: a count, a delta, an index or a range,
	// an expiry time.
	N, M int64
	// Float is a floating-point parameter: ZINCRBY's delta, ZADD INCR's
	// increment.
	Float float64
	// Other is the other key of a two-key operation (rename, copy, SMOVE,
	// LMOVE ...).
	Other []byte
	// OtherDB is the other database of MOVE, COPY and SWAPDB.
	OtherDB int

	// Entry is the snapshot key (KindSnapshotKey): type, value, expiry, one
	// chunk of a big key.
	Entry *rdb.Entry
	// Err is set on a Reset from the slow-subscriber policy (matching
	// [ErrSlowSubscriber]) and on a KindDBChange event for a command whose
	// keys cannot be told (an unknown command, or arguments that do not
	// parse).
	Err error

	ix argIndex // the argument indexes of the slices, to rebind them to a copy of Args
}

// argIndex locates an event's slices in its command's arguments (0: none,
// since argument 0 is the command's name).
type argIndex struct {
	value, field, other int32
	e0, e1              int32 // Elems = Args[e0:e1] when e1 > 0
}

// bind points the event's slices into args.
func (e *Event) bind(args [][]byte) {
	e.Args = args
	if e.Kind == KindChange {
		e.Key = args[e.KeyIndex]
	}
	if e.ix.value > 0 {
		e.Value = args[e.ix.value]
	}
	if e.ix.field > 0 {
		e.Field = args[e.ix.field]
	}
	if e.ix.other > 0 {
		e.Other = args[e.ix.other]
	}
	if e.ix.e1 > 0 {
		e.Elems = args[e.ix.e0:e.ix.e1:e.ix.e1]
	}
}

// Batch is what a subscriber receives: the events of one source event that
// passed its filter. A command is a batch of one event per key (MSET a 1 b
// 2: a then b); a MULTI/EXEC transaction, or a script's effects, is one
// batch with the events of all its commands, in order, and one Offset and
// Pos; a snapshot key (chunk) is a batch of one KindSnapshotKey event; a
// Reset and a SnapshotDone are batches of their own.
//
// A batch is shared by the subscribers that receive it whole: do not modify
// it. It and everything in it are valid until the next call of Next of the
// subscriber that returned it.
type Batch struct {
	Events []Event
	// Offset is the replication offset right after the batch (after EXEC
	// for a transaction). Batches of one snapshot all carry the offset the
	// snapshot corresponds to.
	Offset int64
	// Pos is the position to resume the source from once this batch is
	// applied (for [Subscriber.Commit]); zero for batches that end nowhere
	// one could resume (snapshot keys, a Reset).
	Pos replica.Position
	// Tx is set for a MULTI/EXEC transaction (or a script's effects).
	Tx bool

	size int64  // bytes counted against queue bounds
	seq  uint64 // order of the source events
	blk  *block // the block holding it, counted; nil for the heap
}
