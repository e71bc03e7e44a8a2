package replica

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redtap/redtap/rdb"
)

// SnapshotMode selects what the replica does with the master's snapshot.
type SnapshotMode int

// The snapshot modes.
const (
	// SnapshotFull decodes the snapshot, delivers its records, then streams
	// commands.
	SnapshotFull SnapshotMode = iota
	// SnapshotSkip skips the snapshot without decoding values (a "$<len>"
	// payload is discarded unread; a diskless "$EOF:" payload is parsed
	// with a filter rejecting every key, because only parsing finds its
	// end), delivers SnapshotDone, then streams commands.
	SnapshotSkip
	// SnapshotOnly asks for the snapshot alone (REPLCONF rdb-only 1, Redis
	// 7.0 and later; older masters get a plain sync that is dropped after
	// the snapshot). Next returns io.EOF after SnapshotDone.
	SnapshotOnly
)

// String returns "full", "skip" or "only".
func (m SnapshotMode) String() string {
	switch m {
	case SnapshotFull:
		return "full"
	case SnapshotSkip:
		return "skip"
	case SnapshotOnly:
		return "only"
	}
	return fmt.Sprintf("snapshotmode(%d)", int(m))
}

// Config configures [Dial]. Only Addr is required; zero values select the
// documented defaults.
type Config struct {
	// Addr is the master's "host:port".
	Addr string
	// Username is the ACL user ("" = the default user); Password its
	// password. AUTH is sent when Password is set. The user needs +psync
	// and +replconf (PING goes out before AUTH, so +ping is not needed); a
	// user without +replconf fails with ErrAuth, since the master would
	// refuse every REPLCONF ACK.
	Username string
	Password string
	// TLS, when set, wraps the connection in TLS. An empty ServerName is
	// taken from the host of the address connected to (Addr, or the one
	// given to Redirect).
	TLS *tls.Config
	// ListeningPort is announced with REPLCONF listening-port (it is what
	// INFO replication shows for this replica); 0 announces the local port
	// of the connection. AnnounceIP is sent with REPLCONF ip-address when
	// set.
	ListeningPort int
	AnnounceIP    string
	// Snapshot selects full (default), skip or only.
	Snapshot SnapshotMode
	// DualChannel configures full syncs on two connections (Valkey 8's
	// dual-channel replication, Redis 8's rdb channel); the zero value asks
	// for it and uses it when granted.
	DualChannel DualChannelConfig
	// Start is the position to resume from. When zero, Checkpointer.Load
	// is asked; when that is zero too the replica starts fresh (PSYNC ? -1).
	// Ignored with SnapshotOnly.
	Start Position
	// Checkpointer, when set, loads the start position at Dial (when Start
	// is zero) and saves the committed position (see [Replica.Commit])
	// from a background goroutine, at most once per CheckpointInterval
	// (default 1s) when it has changed, and a last time on Close. A failed
	// save is logged and retried at the next tick; Close returns the final
	// save's error.
	Checkpointer       Checkpointer
	CheckpointInterval time.Duration
	// ManualCommit selects who commits positions for the Checkpointer.
	// When false (the default), every call of Next, and Close, commits the
	// events Next returned before it: the caller is done with them. When
	// true, only the positions given to [Replica.Commit] are saved: for a
	// caller that buffers or forwards events and may claim a position only
	// once its output is durable.
	ManualCommit bool
	// RDBOptions are passed to rdb.NewDecoder for the snapshot (filters,
	// chunk size, string caps).
	RDBOptions []rdb.Option
	// ReadTimeout: when nothing arrives from the master for this long the
	// connection is considered dead and the replica reconnects (default 60s,
	// Redis's repl-timeout; the master pings every repl-ping-replica-period,
	// 10s by default, and sends newlines while it prepares a snapshot).
	ReadTimeout time.Duration
	// DialTimeout bounds the TCP connect and the TLS handshake (default 10s).
	DialTimeout time.Duration
	// AckInterval is the period of REPLCONF ACK (default 1s). The master
	// drops a replica that stays silent for repl-timeout.
	AckInterval time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay: exponential in
	// the number of consecutive failures, with full jitter (defaults 100ms
	// and 10s).
	MinBackoff, MaxBackoff time.Duration
	// MaxRetries is how many consecutive failed reconnects Next tolerates
	// before it returns the error: 0 means unlimited, -1 means never
	// reconnect (Next returns the error after the Disconnected event). A
	// session that breaks before its command stream starts counts as a
	// failure. Dial retries -LOADING and -NOMASTERLINK answers under the
	// same limit.
	MaxRetries int
	// MaxBulkLen caps one bulk string of the command stream (default 512
	// MiB, Redis's proto-max-bulk-len); MaxArgs caps the arguments of one
	// command (default 1<<20).
	MaxBulkLen int64
	MaxArgs    int
	// Logger receives connection events; nil is silent.
	Logger *slog.Logger
	// Dialer replaces net.Dialer.DialContext (tests inject faults here).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DualChannelConfig configures Valkey's dual-channel replication for full
// syncs (Valkey 8+ with dual-channel-replication-enabled yes and diskless
// sync): the snapshot comes on a second connection while the master
// streams the writes made meanwhile on the first one, which the replica
// reads at once and holds (HoldMemory, HoldDir, HoldLimit), so the
// master's output buffer for the replica stays small however long the
// snapshot takes. The events are those of an ordinary full sync. Zero
// values select the documented defaults.
type DualChannelConfig struct {
	// Mode: DualChannelAuto (the default) asks for it and uses it when the
	// master grants it; DualChannelOn fails (ErrSyncRefused) when the
	// master answers with an ordinary full sync; DualChannelOff never asks.
	Mode DualChannelMode
	// HoldMemory bounds the memory holding the stream during a dual-channel
	// snapshot (default 64 MiB); past it the stream goes to an unlinked
	// temporary file in HoldDir (default os.TempDir()). HoldLimit bounds
	// what is held in all (default 0: no bound but the disk); past it the
	// session ends with ErrHoldLimit and the replica reconnects.
	HoldMemory int64
	HoldDir    string
	HoldLimit  int64
}

const (
	defaultReadTimeout        = 60 * time.Second
	defaultDialTimeout        = 10 * time.Second
	defaultAckInterval        = time.Second
	defaultCheckpointInterval = time.Second
	defaultMinBackoff         = 100 * time.Millisecond
	defaultMaxBackoff         = 10 * time.Second
	defaultMaxBulkLen         = 512 << 20
	defaultMaxArgs            = 1 << 20
	defaultHoldMemory         = 64 << 20
	maxTxCommands             = 1 << 20
)

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		return c, errors.New("replica: Config.Addr is required")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, fmt.Errorf("replica: Config.Addr %q: %w", c.Addr, err)
	}
	if c.Snapshot < SnapshotFull || c.Snapshot > SnapshotOnly {
		return c, fmt.Errorf("replica: Config.Snapshot %d out of range", int(c.Snapshot))
	}
	for name, d := range map[string]time.Duration{
		"ReadTimeout": c.ReadTimeout, "DialTimeout": c.DialTimeout, "AckInterval": c.AckInterval,
		"CheckpointInterval": c.CheckpointInterval, "MinBackoff": c.MinBackoff, "MaxBackoff": c.MaxBackoff,
	} {
		if d < 0 {
			return c, fmt.Errorf("replica: Config.%s %v is negative", name, d)
		}
	}
	if dc := &c.DualChannel; dc.Mode < DualChannelAuto || dc.Mode > DualChannelOff {
		return c, fmt.Errorf("replica: Config.DualChannel.Mode %d out of range", int(dc.Mode))
	}
	if c.DualChannel.HoldMemory < 0 || c.DualChannel.HoldLimit < 0 {
		return c, errors.New("replica: Config.DualChannel.HoldMemory and HoldLimit must not be negative")
	}
	if c.DualChannel.HoldMemory == 0 {
		c.DualChannel.HoldMemory = defaultHoldMemory
	}
	if c.MaxRetries < -1 {
		return c, fmt.Errorf("replica: Config.MaxRetries %d, want -1, 0 or more", c.MaxRetries)
	}
	if c.MaxBulkLen < 0 || c.MaxArgs < 0 {
		return c, errors.New("replica: Config.MaxBulkLen and MaxArgs must not be negative")
	}
	if c.ListeningPort < 0 || c.ListeningPort > 65535 {
		return c, fmt.Errorf("replica: Config.ListeningPort %d out of range", c.ListeningPort)
	}
	if err := validReplID(c.Start.ReplID); err != nil {
		return c, fmt.Errorf("replica: Config.Start: %w", err)
	}
	if c.Start.Offset < 0 || c.Start.DB < 0 {
		return c, fmt.Errorf("replica: Config.Start %v: negative offset or db", c.Start)
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = defaultReadTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.AckInterval == 0 {
		c.AckInterval = defaultAckInterval
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = defaultCheckpointInterval
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = defaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = defaultMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.MaxBulkLen == 0 {
		c.MaxBulkLen = defaultMaxBulkLen
	}
	if c.MaxArgs == 0 {
		c.MaxArgs = defaultMaxArgs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TLS != nil {
		c.TLS = c.TLS.Clone()
	}
	// Let the rdb package validate its options now rather than at the first
	// snapshot.
	if _, err := rdb.NewDecoder(bytes.NewReader(nil), c.RDBOptions...); err != nil {
		return c, fmt.Errorf("replica: Config.RDBOptions: %w", err)
	}
	c.RDBOptions = append([]rdb.Option(nil), c.RDBOptions...)
	return c, nil
}
