// Package cluster taps every shard of a Redis Cluster (or Valkey cluster)
// and merges their replication streams into one stream of replica events,
// which the monitor and the assembler read like a single master's:
//
//	rdb -> replica -> cluster -> monitor -> assembler
//
//	tap, err := cluster.Dial(ctx, cluster.Config{Addrs: []string{"10.0.0.1:7000"}})
//	if err != nil { ... }
//	defer tap.Close()
//	m, _ := monitor.New(tap) // or: for ev, err := range tap.All(ctx)
//
// # Shards and sessions
//
//	seed nodes --CLUSTER SHARDS / CLUSTER NODES--> topology (polled every PollInterval)
//	   shard A: primary a1 <-- replica.Replica (PSYNC) -- goroutine A --+
//	   shard B: primary b1 <-- replica.Replica (PSYNC) -- goroutine B --+--> merger (Tap.Next) --> caller
//	   shard C: primary c1 <-- replica.Replica (PSYNC) -- goroutine C --+
//
// Dial asks the seed nodes for the shards (CLUSTER SHARDS, or CLUSTER NODES
// on servers without it) and opens one replica session (package replica) on
// each shard's primary. Each session has a goroutine that reads ahead of
// the merger into a bounded queue (256 events or 1 MiB of copies):
// commands, transactions and snapshot keys are copied out of the session's
// buffers; a stream or module key, anything over 64 KiB and any other event
// are not, and the goroutine waits until the merger is done with it. The merger takes the
// queue whole, so a busy stream costs no hand-off per event. A shard the
// caller does not keep up with is not read past its queue (backpressure as
// in package replica, per shard).
//
// A shard keeps one id for its life: the server's shard id where it has one
// (Redis 7.2+, Valkey), else the node id of the first primary the tap saw
// for it. The tap knows every node id that has belonged to the shard, so a
// promoted replica, or a shard listed again after a restart, is recognised.
//
// # Failover and topology changes
//
// A poller asks the cluster for its shards every PollInterval, and at once
// when a session loses its connection. When a shard's healthy primary is
// another node (SIGKILL and automatic failover, CLUSTER FAILOVER, a manual
// promotion), the session is redirected there (replica.Replica.Redirect)
// and resumes from its position: the promoted node knows the old
// replication id as its replid2 and answers +CONTINUE. Nothing is lost or
// delivered twice, unless the old primary had sent the tap bytes its
// replica never got: the promoted node then cannot continue and the shard
// has a full resynchronisation (see below). A shard that appears gets a
// session (a full sync); one absent from three polls in a row is dropped.
//
// # The merged stream
//
// Next returns the events of package replica. The first is one *Sync:
// SyncFull when every shard starts with a snapshot, then the records of
// all the snapshots and one *SnapshotDone once every shard's snapshot is
// done (each shard's commands wait until then); SyncContinue otherwise. A
// snapshot key that comes in chunks is delivered without other events
// between its chunks. Later Syncs and SnapshotDones of single shards are
// not delivered. *Disconnected events are.
//
// Offsets and positions are merged: a delivered event's Offset (and a
// Transaction's Start and its commands' Offsets) is the merged offset,
// which grows with every shard's stream, and its Pos is
// {MergedReplID, merged offset, db}. Tap.Origin tells the shard, the node,
// and the event's own offset and position in that shard's stream.
//
// Ordering: events of one shard keep their order. Events of different
// shards are interleaved in the order the merger receives them, which is
// no global order (there is none across shards), but per-key order holds,
// since a key lives on one shard at a time, and holds across a slot
// migration: a target shard delivers nothing after a RESTORE-ASKING until
// the source's DEL of that key is in, so every write to the key on the
// source comes before every write to it on the target.
//
// # Slot migrations
//
// MIGRATE (what redis-cli --cluster reshard runs) writes each key to the
// target with RESTORE-ASKING, which the target replicates, and once the
// target has it deletes it on the source, which the source replicates as a
// DEL of the moved keys. The tap pairs the two halves by database and key.
// A RESTORE-ASKING always comes first on the wire, but the two shards are
// read concurrently, so the DEL may reach the merger first; to tell a
// migration's DEL from a user's, a DEL with a key no RESTORE-ASKING has
// announced waits for a barrier: every primary is asked for its
// replication offset (INFO replication), and once the tap has read each
// other shard's stream up to there, any RESTORE-ASKING written before the DEL has been
// seen. Keys still unpaired then were deleted by a user. With Config.Moves
// MovesHide (the default) the two halves are not delivered (the key's value
// did not change); with MovesMark both are, marked by Origin.Move.
//
// Limits of the recognition: a barrier costs one INFO round trip to every
// primary (on connections the tap keeps), serves every DEL of any shard
// received before it started, and delays those DELs by that much; a shard
// that does not answer (its primary is down) is not waited for; a shard
// whose own next event is held (waiting for a DEL itself) is counted as
// caught up, or two such shards would wait for each other, so a
// RESTORE-ASKING written right behind such an event may be read after a
// concurrent DEL on another shard. That DEL then goes out as a user delete,
// and the RESTORE-ASKING, when it comes (within 2×MoveWait), goes out as an
// ordinary write with REPLACE, so the key is written again downstream
// (Stats.LateMoveIns; should the DEL have been a user's after all, and the
// key written again since, this writes its current value once more). A RESTORE-ASKING whose DEL has not come within
// MoveWait is given up (Stats.UnpairedMoves): the shard's events it held go
// on, and a DEL of that key that still comes (within 2×MoveWait) is taken
// as its other half (Stats.LateDels). A MIGRATE ... COPY has no DEL: its
// RESTORE-ASKING is given up the same way. Barriers that did not finish
// within MoveWait are counted in Stats.BarrierTimeouts.
//
// CLUSTER commands in a shard's stream (Valkey 8 replicates CLUSTER SETSLOT
// during a migration) are consumed, never delivered: they change no key,
// and no server outside the cluster would take them.
//
// A primary that dies before its replica has everything it wrote takes
// those writes with it (Redis replicates asynchronously): the promoted
// replica cannot continue from the tap's position, and the shard is
// resynchronised in full. Its snapshot is then delivered as key records
// (see Stats.ShardFullSyncs), without a reset of the other shards.
//
// # Checkpoints
//
// A Checkpoint holds every shard's position at one point of the merged
// stream, and the merged offset there; Config.Checkpointer (for instance a
// FileCheckpointer, which replaces its file atomically) saves it, so the
// positions of all shards are saved together or not at all. Commit takes
// the Pos of a delivered event and commits every shard's last position at
// or before it; a RESTORE-ASKING whose DEL has not come holds its shard's
// commits back, so a restart never resumes between the two halves of a
// move. After a restart each shard resumes with PSYNC from its position
// (+CONTINUE while its backlog covers it).
//
// A shard that must be fully resynchronised later (its backlog no longer
// covers the position, or a failover lost bytes) is counted in
// Stats.ShardFullSyncs and logged; its snapshot's keys are delivered as
// snapshot records (each one says "the key has this value") without a
// reset, since a reset would drop the other shards' keys: keys that the
// shard deleted while the tap could not follow it are not deleted
// downstream.
package cluster
