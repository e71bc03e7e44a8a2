package replica

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// A full sync on two connections, Redis 8's flavour ("rdb channel
// replication"), as redis/redis src/replication.c runs it (read for the
// facts at the 8.x line: syncCommand, replconfCommand,
// replicationSetupSlaveForFullResync and, replica side,
// rdbChannelSendHandshake, rdbChannelHandleReplconfReply,
// rdbChannelHandleFullresyncReply):
//
//	main connection                           rdb connection
//	 | PING, AUTH, REPLCONF listening-port     |
//	 | REPLCONF capa eof capa psync2           |
//	 |   capa rdb-channel-repl                 |
//	 | PSYNC <id> <off> | PSYNC ? -1           |
//	 |<------------ +RDBCHANNELSYNC <main-id>  |
//	 |   (then silence: the master keeps this  |
//	 |    connection waiting for its partner)  | AUTH (if needed)
//	 |                                         | REPLCONF capa eof rdb-only 1
//	 |                                         |   rdb-channel 1
//	 |                                         |   main-ch-client-id <main-id>
//	 |                                         |   listening-port <p>
//	 |                                         |<- +OK
//	 |                                         | PSYNC ? -1
//	 |                                         |<- \n ... +FULLRESYNC <replid> <end>
//	 |<- the stream from <end> (held here)     |<- $EOF:<mark> RDB <mark>
//	 | REPLCONF ACK <off> (after the snapshot) |   (dropped by the replica
//	 |                                         |    after the snapshot)
//
// Where Valkey differs: the client id travels the other way (the master
// names the main connection in +RDBCHANNELSYNC, and the rdb connection
// quotes it with REPLCONF main-ch-client-id; a stale id is answered
// "-ERR Unrecognized RDB client id: <id>"); the rdb connection asks with
// PSYNC ? -1 and gets an ordinary +FULLRESYNC (no $ENDOFF line, no
// database number); and the main connection sends nothing more: the master
// starts streaming on it, from the +FULLRESYNC offset, the moment it
// writes +FULLRESYNC on the rdb connection (the main connection's replica
// state goes from wait_rdb_channel to send_bulk_and_stream), with a SELECT
// first as after any full sync. The main connection is put online by its
// first REPLCONF ACK.
//
// The master grants it only when the replica announced capa
// rdb-channel-repl and the master runs with repl-rdb-channel yes and
// repl-diskless-sync yes; otherwise the capability is silently ignored and
// PSYNC is answered as always (+FULLRESYNC and the snapshot on the one
// connection, or +CONTINUE). The snapshot is therefore always diskless
// ("$EOF:<mark>" framing); the replica accepts "$<len>" all the same.
//
// The session is the one of Valkey's dual channel (twoChannelSync): the
// snapshot from the rdb connection, the main connection held meanwhile,
// the stream starting after <end>.

// redisRDBChannel is Redis 8's handshake on the rdb connection (AUTH is
// done): REPLCONF quoting the main connection's client id, then PSYNC ? -1
// and its +FULLRESYNC. The main connection needs nothing more.
func (r *Replica) redisRDBChannel(s *session, side, main net.Conn) (twoChannelStart, error) {
	var st twoChannelStart
	op := func(err error) error { return &Error{Addr: s.addr, Op: "rdb channel", Err: err} }
	line, err := r.sideCommand(side, "REPLCONF", "capa", "eof", "rdb-only", "1", "rdb-channel", "1",
		"main-ch-client-id", strconv.FormatUint(s.mainClientID, 10), "listening-port", strconv.Itoa(s.port))
	if err != nil {
		return st, op(err)
	}
	switch {
	case isAuthError(line):
		return st, op(fmt.Errorf("%w: REPLCONF: %s", ErrAuth, line))
	case strings.HasPrefix(line, "-ERR Unrecognized RDB client id"):
		// The main connection is gone or no longer waiting: start over.
		return st, op(&errTryLater{msg: "rdb channel: " + line})
	case !strings.HasPrefix(line, "+"):
		return st, op(fmt.Errorf("%w: REPLCONF rdb-channel: %s", ErrSyncRefused, line))
	}
	line, err = r.sideCommand(side, "PSYNC", "?", "-1")
	if err != nil {
		return st, op(err)
	}
	switch {
	case strings.HasPrefix(line, "+FULLRESYNC"):
	case isTryLater(line):
		return st, op(&errTryLater{msg: line})
	case strings.HasPrefix(line, "-"):
		return st, op(&errTryLater{msg: "sync aborted: " + line})
	default:
		return st, op(protoErr("PSYNC ? -1 on the rdb connection: want +FULLRESYNC, got %q", line))
	}
	replid, off, err := parseFullResync(line)
	if err != nil {
		return st, op(err)
	}
	// The stream is on its way on the main connection: the hold reads it
	// through this reader from now on.
	return twoChannelStart{replid: replid, offset: off, mainBR: bufio.NewReaderSize(main, readBufferSize)}, nil
}

// parseRDBChannelSync parses "+RDBCHANNELSYNC <client-id>".
func parseRDBChannelSync(line string) (uint64, error) {
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "+RDBCHANNELSYNC" {
		return 0, protoErr("bad RDBCHANNELSYNC reply %q", line)
	}
	id, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, protoErr("bad client id in %q", line)
	}
	return id, nil
}
