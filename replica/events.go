package replica

import (
	"strconv"

	"github.com/redtap/redtap/rdb"
)

// Event is what [Replica.Next] returns: [*Sync], [*SnapshotRecord],
// [*SnapshotDone], [*Command], [*Transaction] or [*Disconnected]. The set is
// closed.
//
// An event value itself is never reused, but every slice it holds (command
// arguments, the snapshot record and its slices) aliases buffers that Next
// reuses: they are valid until the next call of Next. Copy what you keep.
type Event interface{ event() }

// SyncMode says how a (re)synchronisation started.
type SyncMode int

// The sync modes.
const (
	// SyncFull: the master sends a snapshot; the caller must discard any
	// state built from earlier events before applying it.
	SyncFull SyncMode = iota + 1
	// SyncContinue: the stream continues right after the resume position;
	// nothing is lost or repeated.
	SyncContinue
)

// String returns "full" or "continue".
func (m SyncMode) String() string {
	switch m {
	case SyncFull:
		return "full"
	case SyncContinue:
		return "continue"
	}
	return "syncmode(" + strconv.Itoa(int(m)) + ")"
}

// Sync starts every session with a master, the first one and every one after
// a reconnect.
//
// With Mode SyncFull a snapshot follows ([*SnapshotRecord]s, then
// [*SnapshotDone]) and then the command stream from Offset. The caller must
// reset its state: the snapshot replaces everything delivered before. Reason
// says why when a resume had been asked for (the master's backlog no longer
// covered the position, or the master did not know the replication id); it
// is empty for a fresh start.
//
// With Mode SyncContinue the command stream resumes right after Offset (the
// position the replica asked for); ReplID is the master's current
// replication id, which differs from the previous one after a failover.
type Sync struct {
	Mode   SyncMode
	ReplID string
	Offset int64
	Reason string
	Addr   string
	// Pos is, with Mode SyncContinue, the resume position {ReplID, Offset,
	// database selected there}; zero with Mode SyncFull.
	Pos Position
}

// SnapshotRecord carries one record of the snapshot as decoded by the rdb
// package: [*rdb.Header], [*rdb.Aux], [*rdb.SelectDB], [*rdb.Entry] (large
// keys in several chunks) ... and finally [*rdb.End]. The record and its
// slices are valid until the next call of Next. Not delivered with
// SnapshotSkip.
type SnapshotRecord struct {
	Record rdb.Record
}

// SnapshotDone follows the snapshot's last record. Offset is the replication
// offset the snapshot corresponds to (the FULLRESYNC offset); the command
// stream continues from there. Keys counts the keys delivered (0 with
// SnapshotSkip) and Bytes the snapshot's size.
type SnapshotDone struct {
	Offset int64
	Keys   int64
	Bytes  int64
	// Pos is the position right after the snapshot (zero with
	// SnapshotOnly).
	Pos Position
}

// Command is one write from the command stream. SELECT, PING and REPLCONF
// are consumed by the replica and never delivered.
type Command struct {
	DB     int      // database selected when the command ran
	Args   [][]byte // command name and arguments as sent (name case as sent); valid until the next Next
	Offset int64    // replication offset right after this command
	// Pos is the position right after this command when it is delivered on
	// its own; zero for a command inside a Transaction.
	Pos Position
}

// Transaction is a MULTI ... EXEC block of the stream, delivered as one event
// once EXEC has arrived. MULTI and EXEC themselves are not in Commands; a
// SELECT inside the block changes the DB of the commands after it.
//
// A transaction is buffered whole before delivery. To stay bounded, a block
// of more than 1<<20 commands or more than 2*Config.MaxBulkLen bytes fails
// Next with an error matching [ErrTooLarge].
type Transaction struct {
	DB       int       // database selected at MULTI
	Commands []Command // each with its own DB and Offset
	Start    int64     // replication offset right before MULTI
	Offset   int64     // replication offset right after EXEC
	Pos      Position  // the position right after EXEC
}

// Disconnected reports that the connection to the master broke: the master
// closed it (for instance because the replica's output buffer passed
// client-output-buffer-limit replica), the network failed, nothing arrived
// for Config.ReadTimeout, or Redirect was called. The next call of Next
// reconnects and returns a [*Sync].
type Disconnected struct {
	Err  error
	Addr string
}

func (*Sync) event()           {}
func (*SnapshotRecord) event() {}
func (*SnapshotDone) event()   {}
func (*Command) event()        {}
func (*Transaction) event()    {}
func (*Disconnected) event()   {}
