package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redtap/redtap/replica"
)

// Config configures Dial. Only Addrs is required.
type Config struct {
	// Addrs are seed nodes ("host:port"), any node of the cluster; the
	// tap asks them, in turn, for the topology.
	Addrs []string
	// Replica is the template of every shard's session: credentials, TLS,
	// snapshot mode, timeouts, RDB options, logger. Its Addr, Start,
	// Checkpointer and ManualCommit are set by the tap. MaxRetries 0 (the
	// default) keeps a session retrying its shard until the topology
	// says where the shard went; MaxBackoff defaults to 1s here.
	Replica replica.Config
	// Checkpointer, when set, loads the per-shard start positions at Dial
	// and saves the committed ones, all in one Checkpoint, at most every
	// CheckpointInterval (default 1s) when they changed, and once more on
	// Close.
	Checkpointer       Checkpointer
	CheckpointInterval time.Duration
	// ManualCommit: as replica.Config.ManualCommit. When false, every
	// call of Next commits the events returned before it; when true only
	// the positions given to Tap.Commit are saved.
	ManualCommit bool
	// PollInterval is how often the topology is polled (default 1s); a
	// shard's disconnection triggers a poll at once.
	PollInterval time.Duration
	// Moves chooses how slot migrations are delivered (see Moves).
	Moves Moves
	// MoveWait bounds how long a migrated key's two halves (RESTORE-ASKING
	// on the target, DEL on the source) are waited for, and how long the
	// check that a DEL is no migration may take (default 5s). Past it the
	// halves are delivered as ordinary commands (Stats.UnpairedMoves).
	MoveWait time.Duration
	// Logger receives topology changes; nil is silent.
	Logger *slog.Logger
}

// Moves says how the tap delivers a key moved by slot migration (MIGRATE
// of redis-cli --cluster reshard, or any other tool): a RESTORE-ASKING on
// the target shard and a DEL on the source shard.
type Moves int

const (
	// MovesHide (the default) delivers nothing for a moved key: its value
	// does not change, only the shard that holds it. The merged stream is
	// the history of the keyspace, for the monitor and the assembler.
	MovesHide Moves = iota
	// MovesMark delivers both commands as the shards sent them, the DEL
	// first, each marked by Tap.Origin (MoveOut, MoveIn): for a consumer
	// that keeps one copy per shard (replaying each shard into its own
	// server), or that logs the moves.
	MovesMark
)

// String returns "hide" or "mark".
func (m Moves) String() string {
	if m == MovesMark {
		return "mark"
	}
	return "hide"
}

func (c *Config) defaults() {
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.MoveWait <= 0 {
		c.MoveWait = 5 * time.Second
	}
	if c.Replica.DialTimeout <= 0 {
		c.Replica.DialTimeout = 10 * time.Second
	}
	if c.Replica.MaxBackoff <= 0 {
		c.Replica.MaxBackoff = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors.
var (
	// ErrClosed is returned by Next after Close.
	ErrClosed = errors.New("cluster: closed")
	// ErrDiscovery reports that no seed node told the topology.
	ErrDiscovery = errors.New("cluster: topology discovery failed")
	// ErrNotCluster reports a seed that runs without cluster support.
	ErrNotCluster = errors.New("cluster: server is not in cluster mode")
	// ErrNoShards reports a topology without any shard that has a
	// healthy primary.
	ErrNoShards = errors.New("cluster: no shard with a healthy primary")
)

// Error is a failure of one shard's session: Shard names it, Addr the node,
// Op what was being done ("dial", "stream"), Err the cause (usually a
// *replica.Error).
type Error struct {
	Shard string
	Addr  string
	Op    string
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("cluster: shard %s (%s): %s: %v", e.Shard, e.Addr, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
