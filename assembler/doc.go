// Package assembler folds a monitor subscriber's batches into windows of
// recent entries per key and delivers them to viewers: first the whole
// selection as an "updates" message, then every change as "dUpdates",
// coalesced per interval. It sits between the monitor and a transport
// (SSE, WebSocket, a Go channel):
//
//	rdb -> replica -> monitor -> assembler -> transport -> browser
//
//	a, _ := assembler.New(assembler.Config{Windows: []assembler.Window{
//		{Match: "sysmon:*", Limit: 300, DedupID: true},
//	}})
//	go func() { // the transport's loop, one goroutine
//		for b, err := range monSub.All(ctx) { ...; a.Apply(b) }
//	}()
//	sub, _ := a.Subscribe(sink, []string{"sysmon:h1:*"}, lastEventID)
//	for range time.Tick(assembler.DefaultInterval) { a.Tick() }
//
// The assembler is pure: it does no I/O, starts no goroutine, reads time
// only from Config.Clock, and hands its output to a [Sink]. Its methods are
// safe for concurrent use (one mutex); Sink.Send runs under that mutex and
// must neither block nor call back.
//
// # State: whole keys held, windows shown
//
// A window of the newest N entries is only part of a key, and some
// operations cannot be applied to a part: ZREMRANGEBYRANK and ZPOPMIN count
// from the bottom, ZADD NX/XX/LT and ZINCRBY depend on members outside the
// window, LTRIM and LPOP on elements beyond it. So the assembler holds the
// full value of every key a [Window] selects (its own model of the key,
// built from the snapshot and kept by every typed [monitor.Op]), and the
// windows are views of it computed when deltas are delivered. Every
// operation on a held key is applied exactly as the master applied it, in
// the master's order (ZADD with NX/XX/GT/LT/CH/INCR per member, ZINCRBY,
// ZREM, ZPOPMIN/MAX, ZREMRANGEBYSCORE/LEX/RANK, DEL/UNLINK, RENAME, MOVE
// and COPY on both sides, FLUSHDB, FLUSHALL, SWAPDB, HSET/HDEL/HINCRBY,
// SET/APPEND/INCRBY/SETRANGE/SETBIT, the list pushes and pops, LSET, LTRIM,
// LINSERT, LREM, LMOVE, XADD/XDEL/XTRIM with an exact trim, SADD/SREM,
// SMOVE). Expiry needs nothing: PEXPIREAT and PERSIST change no window,
// and a master deletes an expired key with a DEL it propagates, which the
// assembler applies like any other.
//
// # Stale keys
//
// The assembler never shows a window it cannot vouch for without saying
// so. A key whose held value may differ from the master's is flagged
// stale: its window and its deltas carry "stale":true, and the window
// shows the assembler's best effort. A key becomes stale when:
//
//   - a command without a typed view (OpOther: BITOP, SUNIONSTORE,
//     RESTORE, SORT ... STORE ...) names it, read or written, since the
//     view cannot tell; a key it names that the assembler did not hold is
//     shown as an empty stale window of type "unknown" (or of the type
//     the command implies);
//   - an operation does not fit the held value (a type it does not have,
//     an INCRBY on a non-integer, an approximate stream trim, a
//     ZREMRANGEBYLEX over unequal scores, which Redis leaves undefined);
//   - it is the destination of RENAME/MOVE/COPY, or of LMOVE, whose source
//     the assembler does not hold (not selected): it is then shown as an
//     empty window of type "unknown";
//   - the global bound cut it in a way that the operation depends on (see
//     below);
//   - changes were lost: a monitor Reset from the slow-subscriber policy
//     (no snapshot follows), or a command whose keys the monitor could not
//     tell: every key is stale, and so is every key created until the
//     next snapshot.
//
// A stale key becomes exact again when it is replaced whole (DEL/UNLINK,
// SET, FLUSHDB/FLUSHALL, a RENAME/MOVE/COPY of an exact key onto it) and
// at the next snapshot.
//
// # The global bound
//
// Config.MaxEntries and MaxBytes bound what is held over all keys (bytes
// are an estimate: entry sizes plus a fixed overhead per entry and per
// key). After each batch, while a bound is exceeded, the oldest held entry
// across all keys is evicted. The age of an entry is its time in Unix
// milliseconds: a sorted-set member's score, a stream entry's id's
// milliseconds; list, hash, set and string entries have no time of their
// own and take their key's last write (by Config.Clock). Since windows
// show the newest entries, the held entries beyond each window go first
// and the windows only lose entries once the windows alone exceed the
// bound.
//
// Evicting keeps sorted sets and streams exact for what they still hold:
// their held part is everything above a floor (the highest member, or
// entry id, evicted), so the window is still the newest entries of the
// key, down to the floor (it may show fewer than Limit). Operations that
// only concern the part above the floor stay exact: ZADD (plain, GT, CH,
// or of members held), ZREM, ZPOPMAX, ZREMRANGEBYSCORE, ZREMRANGEBYRANK
// with both ends negative or from 0 to a negative stop (the "keep the top
// K" idiom), XADD, XDEL, and exact XTRIM (MAXLEN and MINID keep the
// newest). The others (ZPOPMIN, ZREMRANGEBYLEX, other rank ranges, ZADD
// NX/XX/LT/INCR and ZINCRBY of a member not held) make the key stale. A
// list, hash, set or string that loses an entry to the bound is stale at
// once.
//
// MaxAge is not an eviction: it hides entries older than the clock minus
// MaxAge from the window (the held value keeps them for exactness), and
// Tick delivers the deltas of entries that age out.
//
// # Windows
//
// Each held key shows one window, by the first [Window] whose Match
// selects the key:
//
//   - sorted set: the newest Limit members by score (ties in Redis's
//     order, by member bytes), in ascending order; with DedupID only the
//     newest member of each JSON id counts; without MaxAge's old ones;
//   - stream: the newest Limit entries by id, ascending (consumer groups
//     are not shown);
//   - list: the Limit elements at the pushed end: the last ones, or with
//     FromHead the first ones, in list order; their ids are their indexes
//     from the head, so a push or pop at the head renumbers every entry
//     (the delta then sets them all);
//   - hash: the first Limit fields in byte order; set: the first Limit
//     members in byte order;
//   - string: its value.
//
// # Messages
//
// Messages carry JSON. An "updates" message is the whole selection:
//
//	{"offset":N,"windows":[{"db":0,"key":"sysmon:h1:cpu","type":"zset","entries":[
//	  {"id":"h1:1733130000123","score":1733130000123,"value":"<raw member>"}]}]}
//
// offset is the replication offset of the state. Windows come in (db, key)
// order; a stale one has "stale":true after "type". The entries:
//
//   - zset: {"id","score","value"}, ascending by score; value is the raw
//     member; id is the member's JSON "id" when the Window has DedupID and
//     the member is a JSON object carrying a string or a number there
//     (the number as written), else the member itself;
//   - stream: {"id":"<ms>-<seq>","score":<ms>,"value":{field:value,...}};
//   - list: {"id":"<index from the head>","value":element};
//   - hash: {"id":field,"value":value}; set: {"id":member,"value":member};
//   - string: {"id":"","value":value}.
//
// Keys, ids and values are JSON strings: bytes that are not valid UTF-8
// are replaced with U+FFFD (the data of a dashboard is text; binary values
// show mangled, never as broken JSON), and U+2028/U+2029 are escaped.
// Scores are JSON numbers: integers below 2^53 without an exponent,
// infinities as ±1.7976931348623157e308. A key of an unknown type (see
// Stale keys) has type "unknown".
//
// An updates lists every key held, a window without entries included; a
// window with no entries that is not stale is as good as none, and a
// consumer may drop it (the sysmon page does).
//
// A "dUpdates" message is the changes since the previous message:
//
//	{"offset":N,"deltas":[{"db":0,"key":"sysmon:h1:cpu","type":"zset","clear":false,
//	  "del":["<id>"],"set":[<entries>]}]}
//
// Deltas come in the order their keys first changed in the interval, one
// per key. A consumer applies, per delta: clear (empty the key's window: the key was
// deleted, when set is empty, or replaced, when set holds its new
// entries), then del (ids that left the window), then set (entries added
// or changed, by id). "stale":true after "clear" says the key is stale
// after the message; its absence, that it is exact. A key that was deleted
// has "clear":true, empty del and set, and the type it had.
//
// The deltas of one interval are merged per key: a delta is the difference
// between the window shown at the previous message and the window now. An
// entry added and removed within the interval is in neither list; one
// changed twice is set once with its last value; a key created and
// deleted within it has no delta; a key deleted and created again has
// "clear":true with its new entries.
//
// # Delivery
//
// Subscribers are grouped by selection (the set of their patterns). Every
// message of a group is encoded once and the same Data handed to each of
// its sinks. Deltas are delivered per interval: [Assembler.Tick] delivers
// the changes since the previous delivery once Config.Interval has passed
// since it; with [AtOnce], [Assembler.Apply] delivers each batch's, and a
// caller with several batches at hand may [Assembler.Stage] them and then
// [Assembler.Deliver] once: one message for all of them, at the last
// one's offset (the hub of package live does so).
// Between deliveries the windows shown stay those of the last one: a new
// subscriber's updates is that state (its offset that of the last
// delivery), so that the next dUpdates applies to it.
//
// Message IDs (for SSE's id) are the offset of the state, made strictly
// increasing: a delivery at an offset no greater than the previous ID
// (MaxAge changes while no command came, or a resynchronisation to a
// lower offset) takes the previous ID + 1. Each group keeps its last
// Config.History dUpdates messages: a subscriber that comes back with the
// ID of the last message it applied (SSE's Last-Event-ID) gets the
// messages after it when they are all kept, else a fresh updates. A group
// without subscribers is kept, for such returns, until History messages
// have passed (at most 64 such groups).
//
// A Sink whose Send returns false is full: the message is kept and retried
// first, in order, by the next delivery or Tick. Past Config.MaxPending
// messages or MaxPendingBytes bytes the subscriber is behind: what was
// kept is dropped, it gets no more dUpdates, and Tick sends it a fresh
// updates until one is accepted; then dUpdates follow again. A slow viewer
// costs at most its bounded queue and never slows the others.
//
// # Resynchronisation
//
// A monitor Reset (a full resynchronisation) drops every key; the
// snapshot's keys (in chunks) build them again, and at SnapshotDone every
// subscriber gets a fresh updates at the snapshot's offset, and the
// history starts anew. Subscribers that arrive before the first snapshot
// is complete wait for it.
package assembler
