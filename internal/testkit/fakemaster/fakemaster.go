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
package fakemaster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/redcon"
)

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
	// Header, when set, is sent as the header line instead of the computed
	// one, and the RDB follows as configured (garbage or "-ERR ..." tests).
	Header string
}

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

// Conn is one replica connection.
type Conn struct {
	m  *Master
	n  int
	nc net.Conn

	// guarded by m.mu
	cmds    [][]string
	psync   []string
	full    bool
	psync2  bool
	started bool  // PSYNC/SYNC answered with a sync
	online  bool  // receives the stream
	waitAck bool  // diskless: online at the first ACK
	sent    int64 // stream offset written to this replica
	cutAt   int64 // -1, or the offset at which to cut
	acks    []int64
	raw     [][]byte
	closed  bool
	done    chan struct{}
	ackCh   chan struct{}
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

// N returns the connection's number, from 1.
func (c *Conn) N() int { return c.n }

// Commands returns the commands received on this connection.
func (c *Conn) Commands() [][]string {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return append([][]string(nil), c.cmds...)
}

// PSYNC returns the PSYNC (or SYNC) command that started the sync.
func (c *Conn) PSYNC() []string {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.psync
}

// Full reports whether the sync was a full one.
func (c *Conn) Full() bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.full
}

// Acks returns the offsets of the REPLCONF ACKs received so far.
func (c *Conn) Acks() []int64 {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return append([]int64(nil), c.acks...)
}

// WaitAck waits for an ACK of at least off and returns it.
func (c *Conn) WaitAck(ctx context.Context, off int64) (int64, error) {
	for {
		c.m.mu.Lock()
		for _, a := range c.acks {
			if a >= off {
				c.m.mu.Unlock()
				return a, nil
			}
		}
		c.m.mu.Unlock()
		select {
		case <-c.ackCh:
		case <-c.done:
			return 0, fmt.Errorf("fakemaster: connection %d closed before an ACK of %d", c.n, off)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Write queues raw bytes for this connection only, outside the stream
// (they do not count in the master's offset).
func (c *Conn) Write(b []byte) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.raw = append(c.raw, append([]byte(nil), b...))
	c.m.cond.Broadcast()
}

// Cut closes the connection now.
func (c *Conn) Cut() {
	c.m.mu.Lock()
	c.closeLocked()
	c.m.mu.Unlock()
}

// CutAt closes the connection once the stream has been written to it up to
// offset off (cutting a command in the middle if off falls inside one).
func (c *Conn) CutAt(off int64) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.cutAt = off
	if c.sent >= off {
		c.closeLocked()
	}
	c.m.cond.Broadcast()
}

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.nc.Close()
	close(c.done)
	c.m.cond.Broadcast()
}

// serve reads the replica's commands: the handshake, then ACKs.
func (c *Conn) serve() {
	m := c.m
	defer m.wg.Done()
	defer c.Cut()
	authed := m.opts.Password == ""
	rd := redcon.NewReader(c.nc)
	for {
		cmd, err := rd.ReadCommand()
		if err != nil {
			m.logf("conn %d: %v", c.n, err)
			return
		}
		args := make([]string, len(cmd.Args))
		for i, a := range cmd.Args {
			args[i] = string(a)
		}
		if len(args) == 0 {
			continue
		}
		name := strings.ToUpper(args[0])
		m.mu.Lock()
		c.cmds = append(c.cmds, args)
		m.received = append(m.received, args)
		started := c.started
		if started {
			if name == "REPLCONF" && len(args) >= 3 && strings.EqualFold(args[1], "ACK") {
				if off, err := strconv.ParseInt(args[2], 10, 64); err == nil {
					c.acks = append(c.acks, off)
					if c.waitAck {
						c.waitAck, c.online = false, true
					}
					m.cond.Broadcast()
					select {
					case c.ackCh <- struct{}{}:
					default:
					}
				}
			}
			m.mu.Unlock()
			continue
		}
		m.mu.Unlock()

		if m.opts.Reply != nil {
			if reply, ok := m.opts.Reply(c.n, args); ok {
				if reply != "" {
					if !c.write([]byte(reply + "\r\n")) {
						return
					}
				}
				if name == "PSYNC" && strings.HasPrefix(reply, "+FULLRESYNC") {
					c.startFull(args, false)
				} else if name == "PSYNC" && strings.HasPrefix(reply, "+CONTINUE") {
					if !c.startContinue(args, false) {
						return
					}
				}
				continue
			}
		}
		var reply string
		switch {
		case name == "AUTH":
			reply = c.auth(args, &authed)
		case !authed:
			reply = "-NOAUTH Authentication required."
		case name == "PING":
			reply = "+PONG"
		case name == "REPLCONF":
			if len(args) >= 2 && strings.EqualFold(args[1], "ACK") {
				continue
			}
			for i := 1; i+1 < len(args); i += 2 {
				if strings.EqualFold(args[i], "capa") && strings.EqualFold(args[i+1], "psync2") {
					m.mu.Lock()
					c.psync2 = true
					m.mu.Unlock()
				}
			}
			reply = "+OK"
		case name == "PSYNC" && len(args) == 3:
			if c.canContinue(args) {
				if !c.startContinue(args, true) {
					return
				}
			} else {
				c.startFull(args, true)
			}
			continue
		case name == "SYNC":
			c.startFull(args, false)
			continue
		default:
			reply = "-ERR unknown command '" + args[0] + "'"
		}
		if !c.write([]byte(reply + "\r\n")) {
			return
		}
	}
}

func (c *Conn) auth(args []string, authed *bool) string {
	o := c.m.opts
	if o.Password == "" {
		return "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	}
	ok := len(args) == 2 && args[1] == o.Password && (o.Username == "" || o.Username == "default") ||
		len(args) == 3 && args[1] == cmpUser(o.Username) && args[2] == o.Password
	if !ok {
		return "-WRONGPASS invalid username-password pair or user is disabled."
	}
	*authed = true
	return "+OK"
}

func cmpUser(u string) string {
	if u == "" {
		return "default"
	}
	return u
}

// canContinue reports whether PSYNC <id> <off> can be served from the
// backlog.
func (c *Conn) canContinue(args []string) bool {
	m := c.m
	off, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if args[1] != m.replid && (args[1] != m.replid2 || off-1 > m.replid2Off) {
		return false
	}
	return off-1 >= m.base && off-1 <= m.offset
}

// startContinue answers +CONTINUE (when reply is set; otherwise the Reply
// hook did) and streams from the requested offset.
func (c *Conn) startContinue(args []string, reply bool) bool {
	m := c.m
	off, err := strconv.ParseInt(args[2], 10, 64)
	m.mu.Lock()
	if err != nil || off-1 < m.base || off-1 > m.offset {
		m.mu.Unlock()
		m.logf("conn %d: cannot continue from %s", c.n, args[2])
		return false
	}
	line := "+CONTINUE"
	if c.psync2 {
		line += " " + m.replid
	}
	c.psync, c.started, c.full, c.online, c.sent = args, true, false, true, off-1
	m.mu.Unlock()
	c.presetCut()
	if reply && !c.write([]byte(line+"\r\n")) {
		return false
	}
	m.logf("conn %d: continue from %d", c.n, off-1)
	c.accept()
	m.wg.Add(1)
	go c.writer(nil)
	return true
}

// startFull starts a full sync: +FULLRESYNC (when reply is set), then the
// payload.
func (c *Conn) startFull(args []string, reply bool) {
	m := c.m
	m.mu.Lock()
	c.psync, c.started, c.full, c.sent = args, true, true, m.offset
	line := fmt.Sprintf("+FULLRESYNC %s %d\r\n", m.replid, m.offset)
	m.mu.Unlock()
	if reply && !c.write([]byte(line)) {
		return
	}
	c.presetCut()
	p := Payload{}
	if m.opts.Payload != nil {
		p = m.opts.Payload(c.n)
	}
	if p.EOF {
		// Like Redis (repl_start_cmd_stream_on_ack): after a diskless
		// payload the stream starts at the replica's first ACK.
		m.mu.Lock()
		c.waitAck = true
		m.mu.Unlock()
	}
	m.logf("conn %d: full sync at %d (eof=%v)", c.n, c.sent, p.EOF)
	c.accept()
	m.wg.Add(1)
	go c.writer(&p)
}

func (c *Conn) presetCut() {
	if c.m.opts.CutAt == nil {
		return
	}
	if off := c.m.opts.CutAt(c.n); off > 0 {
		c.m.mu.Lock()
		c.cutAt = off
		c.m.mu.Unlock()
	}
}

func (c *Conn) accept() {
	m := c.m
	m.mu.Lock()
	m.accepted = append(m.accepted, c)
	m.mu.Unlock()
	select {
	case m.acceptCh <- struct{}{}:
	default:
	}
}

// write writes b to the connection, closing it on error.
func (c *Conn) write(b []byte) bool {
	if _, err := c.nc.Write(b); err != nil {
		c.Cut()
		return false
	}
	return true
}

// writer sends the payload (if any), then the stream.
func (c *Conn) writer(p *Payload) {
	m := c.m
	defer m.wg.Done()
	if p != nil {
		if !c.sendPayload(p) {
			return
		}
		if !p.EOF {
			m.mu.Lock()
			c.online = true
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		for !c.closed && len(c.raw) == 0 && !(c.online && c.sent < m.offset) {
			m.cond.Wait()
		}
		if c.closed {
			return
		}
		if len(c.raw) > 0 {
			b := c.raw[0]
			c.raw = c.raw[1:]
			m.mu.Unlock()
			ok := c.write(b)
			m.mu.Lock()
			if !ok {
				return
			}
			continue
		}
		if c.sent < m.base {
			m.logf("conn %d: fell behind the backlog (sent %d, backlog from %d): disconnecting", c.n, c.sent, m.base+1)
			c.closeLocked()
			return
		}
		end := min(m.offset, c.sent+64<<10) // small writes: sent tracks what the socket took
		cut := c.cutAt >= 0 && end >= c.cutAt
		if cut {
			end = c.cutAt
		}
		chunk := m.backlog[c.sent-m.base : end-m.base]
		c.sent = end
		m.mu.Unlock()
		ok := c.write(chunk)
		m.mu.Lock()
		if !ok {
			return
		}
		if cut {
			m.logf("conn %d: cut at offset %d", c.n, end)
			c.closeLocked()
			return
		}
	}
}

// sendPayload writes the snapshot as p says. It returns false when the
// connection is gone (or was cut on purpose).
func (c *Conn) sendPayload(p *Payload) bool {
	body := p.RDB
	if body == nil {
		body = c.m.opts.RDB
	}
	if len(p.Corrupt) > 0 {
		body = append([]byte(nil), body...)
		for _, i := range p.Corrupt {
			if i >= 0 && i < len(body) {
				body[i] ^= 0xff
			}
		}
	}
	mark := p.Mark
	if mark == "" {
		mark = randomHex(40)
	}
	var out []byte
	for range p.Newlines {
		out = append(out, '\n')
	}
	switch {
	case p.Header != "":
		out = append(out, p.Header+"\r\n"...)
	case p.EOF:
		out = append(out, "$EOF:"+mark+"\r\n"...)
	default:
		n := int64(len(body))
		if p.Len > 0 {
			n = p.Len
		}
		out = fmt.Appendf(out, "$%d\r\n", n)
	}
	switch {
	case p.TruncateAt > 0 && p.TruncateAt < len(body):
		c.write(append(out, body[:p.TruncateAt]...))
		c.m.logf("conn %d: payload truncated at %d", c.n, p.TruncateAt)
		c.Cut()
		return false
	case p.StallAt > 0 && p.StallAt < len(body):
		c.write(append(out, body[:p.StallAt]...))
		c.m.logf("conn %d: payload stalled at %d", c.n, p.StallAt)
		<-c.done
		return false
	}
	out = append(out, body...)
	if p.EOF {
		if p.WrongMark {
			out = append(out, randomHex(40)...)
		} else {
			out = append(out, mark...)
		}
	}
	if p.NewlineAfter {
		out = append(out, '\n')
	}
	return c.write(out)
}

// AppendCommand appends args as a RESP array of bulk strings.
func AppendCommand(b []byte, args ...string) []byte {
	b = redcon.AppendArray(b, len(args))
	for _, a := range args {
		b = redcon.AppendBulkString(b, a)
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}
