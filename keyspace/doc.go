// Package keyspace serves redtap's change stream over RESP as Redis keyspace
// notifications: a client that PSUBSCRIBEs to __keyevent@*__:* on a master
// with notify-keyspace-events KEA gets the same messages from a Face, which
// computes them off the master, from the replication stream. And a client
// that must not lose any can resume: REDTAP.SUBSCRIBE delivers every message
// with its position and starts again right after a given one.
//
//	master --replication--> replica -> monitor.Subscriber -> Face: pump goroutine
//	                                                           | notifications
//	                                      history (bounded ring, shared by all)
//	                           /                    |                     \
//	               session (cursor)          session (cursor)        session (cursor)
//	              SUBSCRIBE/PSUBSCRIBE       REDTAP.SUBSCRIBE ...     (RESP2 or RESP3)
//
//	r, _ := replica.Dial(ctx, replica.Config{Addr: addr}) // the snapshot, for TrackKeys
//	m, _ := monitor.New(r)
//	sub, _ := m.Subscribe(monitor.Filter{})
//	face, _ := keyspace.New(ctx, sub, keyspace.Config{TrackKeys: true})
//	defer face.Close()
//	l, _ := net.Listen("tcp", ":6380")
//	face.Serve(ctx, l) // or face.Mount(mux) on the caller's own redcon server
//
// # Channels and messages
//
// Every change publishes, as on a master with notify-keyspace-events KEA,
// two messages per notification: on __keyspace@<db>__:<key> the event name,
// then on __keyevent@<db>__:<event> the key. The event names are the master's
// own ("set", "del", "expire", "rename_from", "lpush", "hset", "zincr",
// "xgroup-create" ...; see AppendNotifications), in the master's order (SET
// ... PXAT is "set" then "expire"; LMOVE the push on the destination, then
// the pop on the source; a transaction its commands' in turn). SUBSCRIBE,
// PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PING, QUIT, RESET and HELLO behave
// as Redis's: confirmations, "message" and "pmessage" arrays in RESP2, push
// frames after HELLO 3, the RESP2 subscribed-mode restrictions, glob
// patterns as Redis matches them. Snapshot keys publish nothing (a replica
// loading an RDB does not either).
//
// # What the stream cannot tell
//
// The face sees what the master propagates to its replicas, not what it
// ran, and does not keep the keys' values. Where that differs, so do the
// notifications:
//
//	master runs / master publishes          redtap sees / publishes
//	key expires: "expired"                  DEL: "del"
//	key evicted: "evicted"                  DEL: "del"
//	INCRBYFLOAT: "incrbyfloat"              SET ... KEEPTTL: "set"
//	HINCRBYFLOAT: "hincrbyfloat"            HSET: "hset"
//	SPOP: "spop" (+ "del" if emptied)       SREM: "srem", or DEL: "del"
//	GETEX EX/PX: "expire"                   PEXPIREAT: "expire" (same)
//	GETDEL: "del"                           DEL: "del" (same)
//	a pop, HDEL, SREM, ZREM, ZPOP*, LREM,   the command's event only (*)
//	  LTRIM, SMOVE, ZREMRANGEBY*, LMOVE
//	  that empties its key: event, "del"
//	DEL k1 k2 with k2 missing: "del" k1     "del" k1 and k2 (*): DEL propagates as sent
//	SMOVE of a member the destination       "srem", "sadd" (*)
//	  already has: "srem" only
//	XADD MAXLEN ... that trims: "xadd",     "xadd" only
//	  "xtrim"
//	SINTERSTORE (and the other STOREs)      the command's event, e.g.
//	  with an empty result: "del"             "sinterstore"
//	hash field expires (7.4): "hexpired"    HDEL: "hdel"
//	XREADGROUP, XCLAIM, XAUTOCLAIM:         what they propagate (XCLAIM, XGROUP
//	  consumer-group events                   SETID): nothing, or "xgroup-setid"
//	a key-miss ("m") or new-key ("n")       never published (not in KEA
//	  event                                   either)
//	FLUSHDB, FLUSHALL, SWAPDB: nothing      nothing (same)
//
// (*) The arguments do not tell; Config.TrackKeys makes the face keep which
// keys exist and the members of hashes, sets and sorted sets and the lengths
// of lists, from the tap's snapshot on, and then it publishes what the master
// does, except after LREM, ZREMRANGEBYLEX and the commands
// without a typed view (SUNIONSTORE, SORT ... STORE, RESTORE ...), whose keys
// it stops following until they are deleted or overwritten.
//
// Everything else whose propagated form is what was run publishes the same
// (tested against Redis 7.0, 7.2, 7.4 and Valkey 8.0 with a random workload
// of SET (also EX, SETNX, GETSET), MSET, APPEND, SETRANGE, INCRBY, INCR,
// DECR, HSET, HSETNX, HDEL, HINCRBY, LPUSH, RPUSH, LPOP, RPOP, LMOVE, LSET,
// LINSERT, LTRIM, SADD, SREM, SMOVE, ZADD (also INCR), ZINCRBY, ZREM, XADD,
// DEL, UNLINK, GETDEL, RENAME, COPY, MOVE, EXPIRE, PEXPIRE, PERSIST, in two
// databases and in MULTI/EXEC; and with TrackKeys, a workload that empties
// collections, deletes missing keys and SMOVEs members the destination has,
// from a preloaded master's snapshot). The face publishes every class of event, as
// with KEA; a client selects with its channels and patterns.
//
// # Resumable subscriptions
//
//	REDTAP.SUBSCRIBE pattern [pattern ...] [FROM <replid> <offset>[-<index>]]
//	REDTAP.UNSUBSCRIBE [pattern ...]
//
// subscribes to glob patterns of channels, like PSUBSCRIBE, and confirms each
// with
//
//	["redtap.subscribe", pattern, count, replid, position]
//
// where replid and position say where the subscription starts. Each message is
//
//	["redtap.message", pattern, channel, message, replid, position]
//
// where position is "<offset>-<index>": the replication offset after the
// command (after EXEC for a transaction) and the publication's index among
// that command's or transaction's (two per notification: keyspace 2i, then
// keyevent 2i+1). A client keeps the last replid and position it has
// processed and, after a disconnection, sends them with FROM:
// the face resumes right after that message, provided its history still holds
// everything after it; a bare offset resumes after everything at that
// offset. Otherwise it answers
//
//	-NOTRETAINED position <replid> <position> is not retained: the history covers ...
//
// and the client must subscribe without FROM and rebuild its state. The
// history is bounded (Config.History notifications, Config.HistoryBytes
// bytes), oldest first out. A full resynchronisation of the tap (a new
// snapshot, so a hole in the notifications) reaches REDTAP.SUBSCRIBE clients
// as ["redtap.reset", replid, offset]; plain subscribers get nothing (a
// master's subscribers would not either). A publication that matches several
// of a connection's patterns comes once per pattern, with the same position:
// those are written together, and a resume starts after all of them.
//
// Positions are the master's replication positions, not the face's: a client
// can resume on another redtap tapping the same master, whose history covers
// the position.
//
// # Queues and slow subscribers
//
// The history is every subscriber's queue: a connection is a cursor into it,
// served by its own writer goroutine. Config.QueueLen and QueueBytes bound how
// far a subscriber may fall behind the newest notification, and Config.OnSlow
// says what happens past that, as for a monitor subscriber: Block (the
// default) holds the pump, and so every subscriber and the tap, until the
// subscriber catches up; Drop disconnects it (as a master does past
// client-output-buffer-limit pubsub); Reset moves it to the newest
// notification, telling REDTAP.SUBSCRIBE clients with redtap.reset. A write
// that takes longer than Config.WriteTimeout disconnects the subscriber. A
// client resuming FROM an old position is not slow while it reads the
// history, unless the history drops what it has not read.
//
// # Embedding
//
// Serve runs a server of its own: the face's commands plus AUTH (checked by
// Config.Auth), PING, ECHO, SELECT, CLIENT and COMMAND, enough for redis-cli
// and client libraries. Mount (or Handler) adds the face's commands to the
// caller's own redcon server, beside the caller's commands; Config.Allow is
// asked before each subscription, for the caller's own ACL. A connection
// that subscribes is detached from the caller's server and served by the
// face; its other commands (RESP3, or after unsubscribing from everything)
// still go to the caller's handler.
//
// # Goroutines
//
// A Face owns a pump goroutine (New to Close), the only caller of the
// subscriber's Next: it turns each batch into notifications, appends them to
// the history and commits the batch's position to the subscriber. Each
// subscribed connection has a reader (its commands) and a writer (the
// history from its cursor); Close closes the connections and waits for all
// of them.
package keyspace
