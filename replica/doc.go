// Package replica taps a Redis (or Valkey) master through its replication
// protocol: it connects as one more replica, and delivers the master's
// snapshot and then every write, in order, exactly once, each with its
// replication offset, across disconnects, restarts and failovers.
//
//	r, err := replica.Dial(ctx, replica.Config{Addr: "127.0.0.1:6379"})
//	if err != nil { ... }
//	defer r.Close()
//	for {
//		ev, err := r.Next(ctx)
//		if err != nil { ... }
//		switch e := ev.(type) {
//		case *replica.Sync:           // Mode full: discard your state, a snapshot follows
//		case *replica.SnapshotRecord: // e.Record: *rdb.Entry, *rdb.Aux ...
//		case *replica.SnapshotDone:   // the command stream follows
//		case *replica.Command:        // e.DB, e.Args, e.Offset, e.Pos
//		case *replica.Transaction:    // MULTI ... EXEC as one event
//		case *replica.Disconnected:   // the next Next reconnects and resumes
//		}
//	}
//
// # The wire
//
// One TCP (or TLS) connection per session. The replica speaks first; the
// master answers each handshake command, then sends a snapshot (unless it
// can continue where the replica left off) and then streams commands for
// as long as the connection lives:
//
//	replica                                    master
//	   | PING                                    |
//	   |<------------------------------ +PONG    |  (or -NOAUTH: AUTH first)
//	   | AUTH [user] password                    |
//	   |<-------------------------------- +OK    |
//	   | REPLCONF listening-port <port>          |
//	   | REPLCONF capa eof capa psync2           |  (+ rdb-only 1 for SnapshotOnly)
//	   |<-------------------------------- +OK    |
//	   | PSYNC <replid> <offset+1> | PSYNC ? -1  |
//	   |<------ \n \n ... +FULLRESYNC <id> <off> |  or +CONTINUE [<new id>]
//	   |<------ \n \n ... $<len> | $EOF:<mark>   |  keepalive newlines while
//	   |<--------------- RDB snapshot [<mark>]   |  the snapshot is prepared
//	   | REPLCONF ACK <off> -------------------->|  (a diskless master waits for it)
//	   |<---------- *3 $3 SET ... (RESP arrays)  |  stream: every byte counts
//	   |<---------- *1 $4 PING                   |  in the replication offset
//	   | REPLCONF ACK <processed> (every 1s) --->|
//	   |<---------- *3 $8 REPLCONF GETACK *      |
//	   | REPLCONF ACK <processed> (at once) ---->|
//
// The replication offset counts every byte of the stream after the
// snapshot: commands, SELECT, MULTI/EXEC, PING and REPLCONF GETACK alike (it
// is the master's master_repl_offset). [Command.Offset] and
// [Transaction.Offset] are the offsets right after the command, and
// [Transaction.Start] the offset right before its MULTI. PING and
// REPLCONF are consumed and never delivered; SELECT is tracked into
// [Command.DB]; MULTI ... EXEC arrives as one [*Transaction]. A master that
// refuses PSYNC gets SYNC: a full sync without replication id, whose
// offsets count from 0 and cannot be resumed.
//
// # Dual-channel full syncs (Valkey 8, Redis 8)
//
// A Valkey 8 master with dual-channel-replication-enabled (and diskless
// sync) can send a full sync's snapshot on a second connection: it answers
// PSYNC with +DUALCHANNELSYNC, the replica opens the RDB connection (AUTH,
// REPLCONF capa eof rdb-only 1 rdb-channel 1, SYNC), learns there the offset
// the snapshot ends at ($ENDOFF), and asks on the first connection for the
// stream from that offset (REPLCONF set-rdb-client-id, PSYNC, +CONTINUE).
// The master streams the writes made during the snapshot at once instead
// of keeping them in its output buffer, the usual reason why a replica of
// a busy master is cut off during a long sync. The replica reads that
// stream while the snapshot is delivered, and holds it: in memory up to
// Config.DualChannel.HoldMemory, then in an unlinked temporary file in
// HoldDir, up to HoldLimit (Stats.Held, Stats.HeldOnDisk); the master sees an
// empty line every Config.AckInterval meanwhile (it refreshes its last-ACK
// time without claiming an offset). After the snapshot the held stream is
// delivered, then the live one, through a buffer of at most 1 MiB, so the
// caller's pace is the backpressure again. The events are those of an
// ordinary full sync: Sync (SyncFull, the snapshot's end offset), the
// records, SnapshotDone, the commands. Config.DualChannel.Mode chooses: auto
// (ask, and use it when granted), on (required), off.
//
// Redis 8's rdb-channel replication (repl-rdb-channel yes, with diskless
// sync) is the same idea on a different wire, and counts as dual-channel
// for Config.DualChannel and Stats.DualChannelSyncs: the replica announces
// capa rdb-channel-repl beside capa dual-channel; the master answers PSYNC
// with +RDBCHANNELSYNC <client-id>; the second connection sends REPLCONF
// capa eof rdb-only 1 rdb-channel 1 main-ch-client-id <client-id>
// listening-port <port>, then PSYNC ? -1, and gets +FULLRESYNC and the
// snapshot, while the master streams on the first connection from that
// offset without being asked again (rdbchannel.go has the sequence). A
// master that knows neither capability ignores both: one connection.
//
// # Positions, checkpoints and resuming
//
// A [Position] is a transaction boundary of the stream, with the database
// selected there. Every event that ends at one carries it as Pos: a
// [*Sync] that continues, a [*SnapshotDone], a [*Command] outside MULTI and
// a [*Transaction]. Pass it as Config.Start to resume: the master answers
// +CONTINUE while its backlog (repl-backlog-size) still holds the bytes
// after it, and the stream goes on exactly after that event. Otherwise it
// answers +FULLRESYNC: the [*Sync] says SyncFull with a Reason, a new
// snapshot follows, and the caller must reset its state, since the snapshot
// replaces everything. The same happens by itself on reconnects: Next
// resumes from [Replica.Position], the last boundary it returned.
//
// Config.Checkpointer (for instance a [FileCheckpointer]) makes this
// durable: Dial loads the start position from it, and a background
// goroutine saves the committed position every Config.CheckpointInterval,
// and Close once more. By default each call of Next commits the events
// returned before it; with Config.ManualCommit the caller commits with
// [Replica.Commit] the Pos of the last event it has durably processed
// (written and flushed, forwarded and acknowledged), from any goroutine.
//
// After a failover, point the replica at the promoted replica with
// [Replica.Redirect] (or Config.Addr): a PSYNC2 master (Redis 4.0 and
// later) accepts the old replication id as its replid2 and answers
// +CONTINUE with its new id.
//
// # Backpressure and the master's output buffer
//
// Next reads the socket only when it is called, and buffers at most one
// read buffer (64 KiB) plus the event being assembled (one command, or one
// MULTI/EXEC block, bounded as [Transaction] says). A caller that stops
// pulling therefore stops the replica from reading: TCP's window fills and
// the master keeps the unsent stream in the replica's output buffer.
//
// Meanwhile a background goroutine keeps sending REPLCONF ACK with the
// processed offset (what Next has returned, never more) every
// Config.AckInterval, so the master does not drop a slow tap for
// repl-timeout, and WAIT on the master counts the tap only for what it has
// really delivered.
//
// The master's patience ends at client-output-buffer-limit replica
// (default: 256 MiB hard, or 64 MiB for 60 s): past it the master closes
// the connection. Next then delivers what is buffered, returns a
// [*Disconnected] and reconnects with PSYNC from Position(). If the
// master's backlog still covers that position the stream continues
// (+CONTINUE) and nothing is lost; if not (the backlog, 1 MiB by default,
// is usually much smaller than the output buffer), the master answers with
// a full resync, reported as a [*Sync] with Mode SyncFull and a Reason
// saying the backlog no longer reaches the offset. A tap that must keep up
// with bursts wants a larger repl-backlog-size, or a consumer that pulls
// faster than the master writes.
//
// # Aliasing
//
// Events are never reused, but every slice they hold ([Command.Args], the
// records of [SnapshotRecord] and everything in them) aliases buffers that
// Next reuses: it is valid only until the next call of Next. Copy what you
// keep. The snapshot is never held in memory: Next decodes it record by
// record as the caller pulls.
//
// # Failures
//
// Network failures, a silent master (Config.ReadTimeout), a master closing
// the connection or aborting a sync, -LOADING and -NOMASTERLINK answers
// lead to a [*Disconnected] event and a reconnect with exponential backoff
// and full jitter, up to Config.MaxRetries consecutive failures. Data that
// breaks the protocol (garbage replies, malformed RESP, a snapshot that does
// not decode or fails its checksum, a wrong EOF mark) and rejected
// credentials ([ErrAuth]) are final: Next returns an [*Error] and keeps
// returning it. A corrupt diskless snapshot may look like a truncated one,
// waiting for bytes that never come: it then ends as a ReadTimeout and a
// reconnect.
//
// A cancelled context makes Next return ctx.Err() without losing anything
// in the command stream: the next call continues mid-command if need be.
// Cancelling during a snapshot drops the connection instead (the snapshot
// decoder cannot resume a read), and the next call reports the
// disconnection and starts over.
package replica
