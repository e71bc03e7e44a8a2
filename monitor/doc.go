// Package monitor turns what a replica taps from a master into per-key
// change events, filters them per subscriber and fans them out. It sits
// between package replica (the wire) and the assembler (windows):
//
//	rdb -> replica -> monitor -> assembler
//
//	r, _ := replica.Dial(ctx, replica.Config{Addr: addr})
//	m, _ := monitor.New(r)
//	sub, _ := m.Subscribe(monitor.Filter{Match: []string{"cpu:*"}})
//	for b, err := range sub.All(ctx) {
//		if err != nil { ... }
//		for _, e := range b.Events {
//			switch e.Kind {
//			case monitor.KindReset:       // drop all state (a snapshot follows)
//			case monitor.KindSnapshotKey: // e.Key has e.Entry's value
//			case monitor.KindSnapshotDone:
//			case monitor.KindChange:      // e.Op on e.Key: e.Value, e.Elems, e.N ...
//			case monitor.KindDBChange:    // FLUSHDB, FLUSHALL, SWAPDB
//			}
//		}
//		sub.Commit(b.Pos) // once applied, with a replica in ManualCommit mode
//	}
//
// # Events and batches
//
// Each event of the source becomes one [Batch] of [Event]s:
//
//   - a full resynchronisation ([replica.Sync] with SyncFull): a batch with
//     one KindReset event: drop all state, a snapshot follows;
//   - a snapshot key ([replica.SnapshotRecord] with an [rdb.Entry], or one
//     chunk of a big key): a batch with one KindSnapshotKey event, "Key has
//     this value" (Entry). Other records (aux fields, SELECTDB ...) are not
//     delivered: the database is on every entry;
//   - the end of the snapshot: a KindSnapshotDone batch;
//   - a command: one KindChange event per key, in argument order (MSET a 1
//     b 2: a, then b), each with the whole command in Args, the key's
//     position KeyIndex and the command's typed view ([Op]); FLUSHDB,
//     FLUSHALL and SWAPDB give one KindDBChange event;
//   - a MULTI/EXEC transaction, which is also how a Redis 7 master
//     propagates a script's effects: one batch with the events of all its
//     commands (Tx set), and one Offset and Pos, those after EXEC.
//
// A [replica.Sync] that continues the stream and a [replica.Disconnected]
// are not delivered (the latter is counted in [Stats]). A command without
// keys (PUBLISH, FUNCTION LOAD ...) yields no event. A command whose keys
// cannot be told (unknown to the command table, or with arguments it does
// not parse) yields one KindDBChange event with Op OpOther and Err set: the
// monitor cannot say which keys it changed.
//
// A batch's Offset is the replication offset right after it, and Pos the
// position the source can resume from once the batch is applied (zero
// within a snapshot). Batches arrive in the source's order. A subscriber
// receives a batch with only the events its [Filter] selects, and no batch
// when it selects none; Reset and SnapshotDone always pass.
//
// # Typed views
//
// [Op] says what a command does to a key, from its arguments as a Redis 7
// master propagates them: a master rewrites most commands into
// deterministic ones before it sends them to its replicas (expiry and
// eviction as DEL or UNLINK, EXPIRE and SET EX as PEXPIREAT and SET PXAT,
// INCRBYFLOAT as SET KEEPTTL, HINCRBYFLOAT as HSET, SPOP as SREM, BLPOP as
// LPOP, BZPOPMIN and ZMPOP as ZPOPMIN, GETDEL as DEL, GETEX as PEXPIREAT or
// PERSIST, XREADGROUP as XCLAIM and XGROUP SETID, scripts as MULTI/EXEC of
// their effects). The views cover strings (SET, APPEND, INCRBY, SETRANGE,
// SETBIT), hashes (HSET, HDEL, HINCRBY), sets (SADD, SREM, SMOVE), sorted
// sets (ZADD, ZINCRBY, ZREM, ZPOPMIN/MAX, ZREMRANGEBY*), lists (pushes,
// pops, LSET, LTRIM, LINSERT, LREM, LMOVE as a pop and a push), streams
// (XADD, XDEL, XTRIM, consumer groups), expiry (PEXPIREAT, PERSIST),
// deletion, RENAME, MOVE and COPY (two events, one per side) and the
// db-wide commands. The others (BITOP, BITFIELD, PFADD, SUNIONSTORE,
// ZUNIONSTORE, GEOADD, RESTORE, SORT ... STORE ...) are [OpOther]: their
// events still carry Key and Args, and a consumer can replay Args. Each Op
// documents the commands it covers and the fields it sets; the view's
// slices are sub-slices of Args, and building it allocates nothing
// ([AppendEvents] does the same for commands from elsewhere).
//
// # The pump: who reads the source
//
// The monitor has no goroutine of its own. A subscriber whose queue is
// empty, calling Next, takes the pump (if no other subscriber holds it),
// reads one event from the source, builds the batch, hands it to every
// subscriber's queue under that subscriber's slow policy, and goes on until
// its own queue has a batch, which it returns. The others, meanwhile, take
// from their queues, or wait for a batch or for the pump. So the source is
// read exactly as fast as the subscribers read, and nothing runs when no
// one calls Next; the cost is that a subscriber's Next may do the work of
// reading for all the others. (One goroutine started by New would have
// cost a channel hand-off per batch and a goroutine to join on Close.)
//
// The source reuses its buffers on its next Next, so a batch that some
// subscriber takes is copied once, for all of them, into blocks of memory
// that are recycled once every subscriber is done with them: the steady
// state allocates nothing. A batch and its events are shared between the
// subscribers that receive it: read-only, and valid until the next call of
// Next of the subscriber that returned it.
//
// # Slow subscribers
//
// Every subscriber has a bounded queue ([QueueLen] batches, [QueueBytes]
// bytes) and a policy for when it is full ([OnSlow]):
//
//   - [Block] (the default): the pump waits until the subscriber takes a
//     batch. Every subscriber waits, the source is not read, and with a
//     replica the master buffers for the tap (see package replica on
//     backpressure). Nothing is lost.
//   - [Drop]: the subscriber is closed; its Next returns an error matching
//     [ErrSlowSubscriber]. The others go on.
//   - [Reset]: its queue is dropped and replaced by a KindReset batch whose
//     event's Err matches ErrSlowSubscriber; later batches follow as usual.
//     Unlike a Reset from the source no snapshot follows: the monitor
//     cannot provide one without a new full sync of the source, so in
//     practice it tells the consumer that its state is stale (it may
//     invalidate it, or rebuild it by other means). The others go on.
//
// A subscriber that stalls under Drop or Reset costs the others nothing.
// The assembler uses Block (or bounds its own window).
//
// # Filters
//
// A [Filter] selects by key pattern (Redis globs), database, command and
// type; [Subscriber.SetFilter], AddMatch and RemoveMatch change it between
// two batches and return the offset from which the new filter applies.
//
// # Checkpoints
//
// [Monitor.Position] is where the source could resume once everything read
// is applied. A subscriber reports what it has applied with
// [Subscriber.Commit]; when the source is a [Committer] (a
// [*replica.Replica] with Config.ManualCommit, which then saves only what
// it is given), the monitor commits to it the lowest position over its live
// subscribers, so that a restart resumes where the slowest one stood.
//
// # Keys and the command table
//
// The package knows the commands: which keys a command
// touches, in argument order, and how ([KeyFlags]: read, overwrite,
// delete ...), exactly as the server itself locates them for COMMAND
// GETKEYSANDFLAGS, ACLs and cluster routing.
//
//	keys, err := monitor.AppendKeys(buf[:0], cmd.Args) // ZUNIONSTORE dst 2 a b
//	for _, k := range keys {
//		fmt.Println(string(cmd.Args[k.Index]), k.Flags) // dst OW|update, a RO|access, b RO|access
//	}
//
// The command table (commands_gen.go) is generated by
// monitor/internal/cmdgen from COMMAND and COMMAND DOCS of real servers:
// Redis 7.0, 7.2, 7.4 and Valkey 8.0 (see [Servers]). It holds every
// command and subcommand any of them knows, with arity, flags and key
// specifications ([Lookup], [Commands]). [AppendKeys] interprets the key
// specifications like the server's getKeysUsingKeySpecs, and implements by
// hand the server's getkeys procedures for the commands whose
// specifications are incomplete or depend on the arguments (SORT, MIGRATE,
// SET, BITFIELD, and the numkeys commands' fallbacks). Its answers are
// tested against COMMAND GETKEYSANDFLAGS on each of those servers.
package monitor
