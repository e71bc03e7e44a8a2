// Package fakemaster is an in-process Redis master for tests: it speaks
// just enough of the replication protocol (PING, AUTH, REPLCONF, PSYNC,
// SYNC) to serve replicas, and lets a test misbehave on purpose.
//
// A Master listens on 127.0.0.1:0. It keeps a replication id, an offset and
// a backlog of everything propagated; replicas that ask with PSYNC get
// +CONTINUE while the backlog covers their offset and a full sync
// (+FULLRESYNC and a snapshot payload) otherwise, exactly like Redis.
//
//	m := fakemaster.Start(t, fakemaster.Options{RDB: snap})
//	r, _ := replica.Dial(ctx, replica.Config{Addr: m.Addr()})
//	c, _ := m.Accept(ctx)          // the replica's connection, sync started
//	m.Propagate("SET", "k", "v")   // appended to the stream, sent to replicas
//	c.WaitAck(ctx, m.Offset())     // until the replica acknowledges it
//	c.Cut()                        // drop the connection
//
// Faults: Options.Reply scripts the answer to any handshake command (for
// instance "-LOADING ..." to the first PSYNC, garbage, or "" for silence);
// Options.Payload chooses per connection how the snapshot is framed ("$len"
// or "$EOF:<mark>") and how it goes wrong (keepalive newlines, corrupted
// bytes, truncation, a stall, a wrong EOF mark, a raw header line);
// PropagateRaw puts arbitrary bytes into the stream; Conn.CutAt cuts a
// connection at an exact stream offset, mid-command if so chosen.
//
// Options.RDBChannel plays a Redis 8 master with rdb-channel replication:
// +RDBCHANNELSYNC on the main connection, the snapshot on a second one
// (whose Payload, chosen by its own connection number, can be truncated,
// stalled or held back with Payload.Gate while the main connection
// streams).
package fakemaster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/tidwall/redcon"
)

// Master is a fake Redis master. Its methods are safe for concurrent use.
type Master struct {
	opts Options
	ln   net.Listener
	wg   sync.WaitGroup

	mu         sync.Mutex
	cond       *sync.Cond // signals stream growth, acks, cuts
	replid     string
	replid2    string
	replid2Off int64
	base       int64  // backlog[i] is the stream byte at offset base+i+1
	backlog    []byte // never modified in place: slices handed to writers stay valid
	offset     int64
	n          int
	conns      []*Conn
	accepted   []*Conn
	acceptCh   chan struct{}
	received   [][]string
	closed     bool
}

// New starts a master on 127.0.0.1:0.
func New(opts Options) (*Master, error) {
	if opts.ReplID == "" {
		opts.ReplID = randomHex(40)
	}
	if len(opts.ReplID) != 40 {
		return nil, fmt.Errorf("fakemaster: replication id %q: want 40 characters", opts.ReplID)
	}
	if opts.RDB == nil {
		opts.RDB = EmptyRDB()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &Master{opts: opts, ln: ln, replid: opts.ReplID, base: opts.Offset, offset: opts.Offset,
		acceptCh: make(chan struct{}, 1)}
	m.cond = sync.NewCond(&m.mu)
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Start is New for tests: it fails t on error and closes the master when
// the test ends.
func Start(t testing.TB, opts Options) *Master {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	m, err := New(opts)
	if err != nil {
		t.Fatalf("fakemaster: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Addr returns "127.0.0.1:port".
func (m *Master) Addr() string { return m.ln.Addr().String() }

// ReplID returns the current replication id.
func (m *Master) ReplID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.replid
}

// Offset returns master_repl_offset: the offset of the stream's last byte.
func (m *Master) Offset() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offset
}

// SetReplID changes the replication id as a promoted replica does: the old
// id stays valid as replid2 up to the current offset, so replicas that
// resume with it get +CONTINUE and the new id.
func (m *Master) SetReplID(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replid2, m.replid2Off, m.replid = m.replid, m.offset, id
}

// Propagate appends one command to the stream and returns the offset after
// it. Online replicas receive it in the background.
func (m *Master) Propagate(args ...string) int64 {
	return m.PropagateRaw(AppendCommand(nil, args...))
}

// PropagateRaw appends raw bytes to the stream (they count in the offset).
func (m *Master) PropagateRaw(b []byte) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.backlog = append(m.backlog, b...)
	m.offset += int64(len(b))
	if m.opts.Backlog > 0 && len(m.backlog) > m.opts.Backlog {
		k := len(m.backlog) - m.opts.Backlog
		m.backlog = m.backlog[k:]
		m.base += int64(k)
		for _, c := range m.conns {
			if c.started && !c.closed && c.sent < m.base {
				m.logf("conn %d: fell behind the backlog (sent %d, backlog from %d): disconnecting", c.n, c.sent, m.base+1)
				c.closeLocked()
			}
		}
	}
	m.cond.Broadcast()
	return m.offset
}

// Accept returns the next connection whose sync started (a full sync's
// +FULLRESYNC or SYNC, or +CONTINUE). Connections refused during the
// handshake are not returned.
func (m *Master) Accept(ctx context.Context) (*Conn, error) {
	for {
		m.mu.Lock()
		if len(m.accepted) > 0 {
			c := m.accepted[0]
			m.accepted = m.accepted[1:]
			m.mu.Unlock()
			return c, nil
		}
		closed := m.closed
		m.mu.Unlock()
		if closed {
			return nil, errors.New("fakemaster: closed")
		}
		select {
		case <-m.acceptCh:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Received returns every command received from replicas, in order, across
// connections (ACKs included).
func (m *Master) Received() [][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]string(nil), m.received...)
}

// Connections returns how many connections were accepted.
func (m *Master) Connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// CutAll closes every replica connection.
func (m *Master) CutAll() {
	m.mu.Lock()
	conns := append([]*Conn(nil), m.conns...)
	m.mu.Unlock()
	for _, c := range conns {
		c.Cut()
	}
}

// Close stops the master and closes every connection. It is idempotent.
func (m *Master) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	select {
	case m.acceptCh <- struct{}{}:
	default:
	}
	err := m.ln.Close()
	m.CutAll()
	m.wg.Wait()
	return err
}

func (m *Master) logf(format string, args ...any) {
	if m.opts.Logf != nil {
		m.opts.Logf("fakemaster: "+format, args...)
	}
}

func (m *Master) acceptLoop() {
	defer m.wg.Done()
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			nc.Close()
			return
		}
		m.n++
		c := &Conn{m: m, n: m.n, nc: nc, cutAt: -1, done: make(chan struct{}), ackCh: make(chan struct{}, 1)}
		m.conns = append(m.conns, c)
		m.mu.Unlock()
		m.wg.Add(1)
		go c.serve()
	}
}

// AppendCommand appends args as a RESP array of bulk strings: what a master
// propagates, what a client sends (package oracle's Applier writes with it
// too).
func AppendCommand[S string | []byte](b []byte, args ...S) []byte {
	b = redcon.AppendArray(b, len(args))
	for _, a := range args {
		b = strconv.AppendInt(append(b, '$'), int64(len(a)), 10)
		b = append(append(append(b, '\r', '\n'), a...), '\r', '\n')
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}
