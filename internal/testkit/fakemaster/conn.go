package fakemaster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/tidwall/redcon"
)

// The replica side: one connection, its handshake and its ACKs.

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

	// rdb channel (Options.RDBChannel)
	rdbCapa  bool  // announced capa rdb-channel-repl (and the master honours it)
	waitRDB  bool  // answered +RDBCHANNELSYNC: waiting for its rdb channel
	rdbFlag  bool  // REPLCONF rdb-channel 1
	rdbOnly  bool  // REPLCONF rdb-only 1
	mainID   int   // REPLCONF main-ch-client-id: the main connection's number
	rdbConn  *Conn // on a main connection: its rdb channel, once started
	mainConn *Conn // on an rdb channel: its main connection

	closed bool
	done   chan struct{}
	ackCh  chan struct{}
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

// RDBChannel returns the rdb channel of a main connection synced with
// Options.RDBChannel, or nil.
func (c *Conn) RDBChannel() *Conn {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.rdbConn
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
			reply = c.replconf(args)
		case name == "PSYNC" && len(args) == 3 && c.rdbChannelPSYNC():
			c.startRDBChannel(args)
			continue
		case name == "PSYNC" && len(args) == 3:
			if c.canContinue(args) {
				if !c.startContinue(args, true) {
					return
				}
			} else if c.askRDBChannel(args) {
				if !c.write([]byte(fmt.Sprintf("+RDBCHANNELSYNC %d\r\n", c.n))) {
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

// replconf applies REPLCONF's option-value pairs and returns the reply.
func (c *Conn) replconf(args []string) string {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 1; i+1 < len(args); i += 2 {
		opt, val := strings.ToLower(args[i]), args[i+1]
		switch {
		case opt == "capa" && strings.EqualFold(val, "psync2"):
			c.psync2 = true
		case opt == "capa" && strings.EqualFold(val, "rdb-channel-repl"):
			c.rdbCapa = m.opts.RDBChannel
		case opt == "rdb-only":
			c.rdbOnly = val == "1"
		case opt == "rdb-channel":
			c.rdbFlag = val == "1"
		case opt == "main-ch-client-id":
			id, err := strconv.Atoi(val)
			var main *Conn
			for _, o := range m.conns {
				if err == nil && o.n == id && o.waitRDB && !o.closed {
					main = o
				}
			}
			if main == nil {
				return "-ERR Unrecognized RDB client id: " + val
			}
			c.mainID = id
		}
	}
	return "+OK"
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
