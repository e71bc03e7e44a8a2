package fakemaster

import "github.com/redtap/redtap/internal/testkit/rdbfile"

// Options configure a Master. The zero value is a well-behaved master with
// a random replication id, offset 0, an empty snapshot sent as "$<len>"
// and an unbounded backlog.
type Options struct {
	// ReplID is the replication id (default: 40 random hex characters);
	// Offset the initial master_repl_offset.
	ReplID string
	Offset int64
	// Password, when set, makes every command but AUTH answer -NOAUTH until
	// AUTH <password> or AUTH <Username> <password> succeeds.
	Username, Password string
	// RDB is the snapshot of full syncs (default EmptyRDB()).
	RDB []byte
	// Backlog bounds the bytes kept for partial resyncs (0: keep all).
	// A connected replica that falls behind the backlog (it does not read
	// and its socket buffers are full) is disconnected, like one over
	// client-output-buffer-limit.
	Backlog int
	// Reply, when set, is asked first for every command a replica sends
	// before its sync starts; conn numbers connections from 1. Returning
	// ok=false keeps the default answer; otherwise reply is sent followed
	// by CRLF ("" sends nothing). For PSYNC, a reply starting with
	// "+FULLRESYNC" or "+CONTINUE" is followed by the corresponding sync
	// (so "+CONTINUE" alone tests a master that omits its replid).
	Reply func(conn int, args []string) (reply string, ok bool)
	// Payload, when set, chooses the payload of each full sync by
	// connection number; the default is Payload{} ("$<len>" framing).
	Payload func(conn int) Payload
	// CutAt, when set, is asked when a connection's sync starts, before
	// anything of the stream is written to it: a positive answer cuts the
	// connection once the stream is written up to that offset, as
	// Conn.CutAt does (which may come too late when the stream is already
	// waiting).
	CutAt func(conn int) int64
	// RDBChannel plays a Redis 8 master with repl-rdb-channel yes and
	// repl-diskless-sync yes: a connection that announced capa
	// rdb-channel-repl and cannot continue gets "+RDBCHANNELSYNC <id>" (its
	// connection number as client id) instead of a full sync, then waits
	// for its rdb channel: another connection sending REPLCONF ... rdb-only
	// 1 rdb-channel 1 main-ch-client-id <id> ... (a wrong id gets
	// "-ERR Unrecognized RDB client id: <id>") and PSYNC ? -1. That one gets
	// +FULLRESYNC and the snapshot (diskless framing forced; its Payload is
	// chosen by its own connection number), and nothing after it; the main
	// connection starts streaming from the +FULLRESYNC offset at once and
	// is returned by Accept (Conn.RDBChannel gives the rdb connection).
	// Without it, capa rdb-channel-repl is ignored, as by a master that
	// does not know it or runs without repl-rdb-channel.
	RDBChannel bool
	// Logf, when set, receives a line per connection event (t.Logf).
	Logf func(format string, args ...any)
}

// Payload describes how a full sync's snapshot is sent, and how it fails.
type Payload struct {
	// RDB overrides Options.RDB for this sync.
	RDB []byte
	// EOF selects diskless framing, "$EOF:<mark>" ... <mark>; the stream
	// then starts only after the replica's first REPLCONF ACK, as in Redis.
	EOF bool
	// Mark is the 40-byte EOF mark (default: random hex).
	Mark string
	// WrongMark ends a diskless payload with a different mark.
	WrongMark bool
	// Len, when positive, is announced in "$<len>" instead of len(RDB).
	Len int64
	// Newlines is the number of keepalive "\n" sent before the header.
	Newlines int
	// NewlineAfter sends a stray "\n" after the payload (Redis 7.0 did so
	// after the EOF mark to rdb-only replicas, redis #11261).
	NewlineAfter bool
	// Corrupt lists byte indexes of the RDB to flip (XOR 0xff).
	Corrupt []int
	// TruncateAt, when positive, sends only that many RDB bytes, then
	// closes the connection.
	TruncateAt int
	// StallAt, when positive, sends only that many RDB bytes, then stays
	// silent until the connection is cut or closed.
	StallAt int
	// Gate, when set, holds the payload (header included) until it is
	// closed; with Options.RDBChannel the main connection streams
	// meanwhile, so a test can write commands "during the transfer".
	Gate <-chan struct{}
	// Header, when set, is sent as the header line instead of the computed
	// one, and the RDB follows as configured (garbage or "-ERR ..." tests).
	Header string
}

// NewRDB starts a snapshot to serve (Options.RDB, Payload.RDB): it is
// [rdbfile.New], kept here for the tests that build a master's snapshot
// next to the master.
//
//	snap := fakemaster.NewRDB(10).Aux("redis-ver", "7.0.15").
//		Select(0).Set("k", "v").Select(3).List("l", "a", "b").Bytes()
func NewRDB(version int) *rdbfile.File { return rdbfile.New(version) }

// EmptyRDB returns a version 10 snapshot (Redis 7.0) with no keys: the
// default Options.RDB.
func EmptyRDB() []byte { return rdbfile.New(10).Aux("redis-ver", "7.0.15").Bytes() }
