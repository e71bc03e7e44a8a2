package fakemaster

import (
	"fmt"
	"strconv"
)

// The sync: +CONTINUE or +FULLRESYNC and the snapshot payload, with its
// scripted faults, then the replication stream.

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

// askRDBChannel reports whether a PSYNC that cannot continue is answered
// +RDBCHANNELSYNC, and if so records the connection as waiting for its rdb
// channel.
func (c *Conn) askRDBChannel(args []string) bool {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if !c.rdbCapa {
		return false
	}
	c.waitRDB, c.psync = true, args
	m.logf("conn %d: +RDBCHANNELSYNC, waiting for the rdb channel", c.n)
	return true
}

// rdbChannelPSYNC reports whether this connection is an rdb channel
// (REPLCONF rdb-channel 1 main-ch-client-id <id>) asking for its snapshot.
func (c *Conn) rdbChannelPSYNC() bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.rdbFlag && c.mainID != 0
}

// startRDBChannel answers an rdb channel's PSYNC: +FULLRESYNC and the
// snapshot here, while its main connection streams from the same offset,
// as Redis 8 does when the snapshot's delivery starts.
func (c *Conn) startRDBChannel(args []string) {
	m := c.m
	m.mu.Lock()
	var main *Conn
	for _, o := range m.conns {
		if o.n == c.mainID && o.waitRDB && !o.closed {
			main = o
		}
	}
	if main == nil {
		m.mu.Unlock()
		m.logf("conn %d: rdb channel of conn %d, which is gone", c.n, c.mainID)
		c.write([]byte("-ERR Unrecognized RDB client id\r\n"))
		return
	}
	c.psync, c.started, c.full, c.sent, c.mainConn = args, true, true, m.offset, main
	main.waitRDB, main.started, main.full, main.online, main.sent, main.rdbConn = false, true, true, true, m.offset, c
	line := fmt.Sprintf("+FULLRESYNC %s %d\r\n", m.replid, m.offset)
	m.mu.Unlock()
	if !c.write([]byte(line)) {
		return
	}
	main.presetCut()
	m.logf("conn %d: rdb channel of conn %d: full sync at %d, the main connection streams from there", c.n, main.n, c.sent)
	main.accept()
	m.wg.Add(1)
	go main.writer(nil)

	p := Payload{}
	if m.opts.Payload != nil {
		p = m.opts.Payload(c.n)
	}
	p.EOF = true // granted only with diskless sync
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

// writer sends the payload (if any), then the stream.
func (c *Conn) writer(p *Payload) {
	m := c.m
	defer m.wg.Done()
	if p != nil {
		if !c.sendPayload(p) {
			return
		}
		m.mu.Lock()
		rdbOnly := c.mainConn != nil
		m.mu.Unlock()
		if rdbOnly {
			return // an rdb channel: the snapshot only
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
	if p.Gate != nil {
		select {
		case <-p.Gate:
		case <-c.done:
			return false
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
