package keyspace

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redtap/redtap/internal/glob"
	"github.com/redtap/redtap/monitor"
	"github.com/tidwall/redcon"
)

// connState is what the face knows of a connection.
type connState struct {
	proto   int  // 2 or 3
	authed  bool // Serve: AUTH passed, or no Auth configured
	mounted bool // on a caller's server (Handler)
	name    string
}

// sub is one subscription of a session: a channel, a pattern or a redtap
// pattern, and the first history entry it receives.
type sub struct {
	name  []byte
	since uint64
}

// session is a connection in subscribed mode, detached from its redcon
// server: a reader goroutine runs its commands, a writer goroutine sends it
// the history from its cursor.
type session struct {
	f      *Face
	conn   redcon.DetachedConn
	nc     net.Conn
	server *redcon.Server // Serve's, nil on a caller's server
	next   redcon.Handler // other commands

	wmu sync.Mutex // writes to conn

	mu        sync.Mutex // the fields below
	st        connState
	channels  []sub
	patterns  []sub
	rpatterns []sub
	skipKS    uint64 // 1 + the entry whose keyspace publication a FROM skips; 0: none (set under f.mu too)

	// Guarded by f.mu.
	cursor uint64 // next history entry to look at
	start  uint64 // head when the last subscription began (lag counts from here)
	gen    uint64 // bumped when the cursor is moved by a command

	done      chan struct{}
	closeOnce sync.Once
	out       []byte
	buf       []entry
}

func (s *session) count() int { return len(s.channels) + len(s.patterns) + len(s.rpatterns) }

// detach turns conn into a session and runs cmd, the subscription command
// that caused it, on it. It returns false when the face is closed.
func (f *Face) detach(conn redcon.Conn, cmd redcon.Command, st *connState, next redcon.Handler, srv *redcon.Server) bool {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return false
	}
	dc := conn.Detach()
	s := &session{f: f, conn: dc, nc: dc.NetConn(), server: srv, next: next, st: *st, done: make(chan struct{})}
	s.cursor, s.start = f.h.head, f.h.head
	f.sessions[s] = struct{}{}
	delete(f.conns, conn)
	f.wg.Add(2)
	f.mu.Unlock()
	s.exec(cmd)
	go s.reader()
	go s.writer()
	return true
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.nc.Close()
	})
}

func (s *session) exit() {
	s.close()
	s.f.mu.Lock()
	delete(s.f.sessions, s)
	s.f.mu.Unlock()
	select {
	case s.f.advanced <- struct{}{}:
	default:
	}
	s.f.wg.Done()
}

func (s *session) reader() {
	defer s.exit()
	for {
		cmd, err := s.conn.ReadCommand()
		if err != nil {
			return
		}
		if !s.exec(cmd) {
			return
		}
	}
}

// reply writes what build appends and flushes it.
func (s *session) reply(build func(b []byte, proto int) []byte) bool {
	s.mu.Lock()
	proto := s.st.proto
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.WriteRaw(build(nil, proto))
	return s.flush()
}

func (s *session) flush() bool {
	s.nc.SetWriteDeadline(time.Now().Add(s.f.cfg.WriteTimeout))
	return s.conn.Flush() == nil
}

// exec runs one command of a subscribed connection; false ends it.
func (s *session) exec(cmd redcon.Command) bool {
	if len(cmd.Args) == 0 {
		return true
	}
	name := strings.ToLower(string(cmd.Args[0]))
	args := cmd.Args[1:]
	switch name {
	case "subscribe", "psubscribe", "redtap.subscribe":
		if err := s.f.allow(s.conn, cmd.Args); err != nil {
			return s.reply(func(b []byte, _ int) []byte { return redcon.AppendError(b, err.Error()) })
		}
	}
	switch name {
	case "subscribe", "psubscribe":
		if len(args) == 0 {
			return s.reply(func(b []byte, _ int) []byte { return appendArity(b, name) })
		}
		return s.reply(func(b []byte, proto int) []byte { return s.subscribe(b, proto, name, args) })
	case "unsubscribe", "punsubscribe", "redtap.unsubscribe":
		return s.reply(func(b []byte, proto int) []byte { return s.unsubscribe(b, proto, name, args) })
	case "redtap.subscribe":
		return s.reply(func(b []byte, proto int) []byte { return s.redtapSubscribe(b, proto, args) })
	case "ping":
		if len(args) > 1 {
			return s.reply(func(b []byte, _ int) []byte { return appendArity(b, name) })
		}
		return s.reply(func(b []byte, proto int) []byte {
			s.mu.Lock()
			subscribed := s.count() > 0
			s.mu.Unlock()
			if proto == 2 && subscribed {
				b = redcon.AppendArray(b, 2)
				b = redcon.AppendBulkString(b, "pong")
				if len(args) == 1 {
					return redcon.AppendBulk(b, args[0])
				}
				return redcon.AppendBulkString(b, "")
			}
			if len(args) == 1 {
				return redcon.AppendBulk(b, args[0])
			}
			return redcon.AppendString(b, "PONG")
		})
	case "quit":
		s.reply(func(b []byte, _ int) []byte { return redcon.AppendOK(b) })
		return false
	case "reset":
		s.mu.Lock()
		s.channels, s.patterns, s.rpatterns = nil, nil, nil
		s.st.proto = 2
		s.mu.Unlock()
		return s.reply(func(b []byte, _ int) []byte { return redcon.AppendString(b, "RESET") })
	case "hello":
		s.mu.Lock()
		st := s.st
		s.mu.Unlock()
		s.wmu.Lock()
		s.f.hello(s.conn, &st, cmd.Args)
		ok := s.flush()
		s.wmu.Unlock()
		s.mu.Lock()
		s.st = st
		s.mu.Unlock()
		return ok
	}
	s.mu.Lock()
	restricted := s.st.proto == 2 && s.count() > 0
	s.mu.Unlock()
	if restricted {
		return s.reply(func(b []byte, _ int) []byte {
			return redcon.AppendError(b, fmt.Sprintf("ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", shorten(cmd.Args[0])))
		})
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.next == nil {
		s.conn.WriteError(unknownCommand(cmd.Args))
	} else {
		s.next.ServeRESP(s.conn, cmd)
	}
	return s.flush()
}

func appendArity(b []byte, name string) []byte {
	return redcon.AppendError(b, "ERR wrong number of arguments for '"+name+"' command")
}

func appendPush(b []byte, n, proto int) []byte {
	if proto == 3 {
		return append(strconv.AppendInt(append(b, '>'), int64(n), 10), '\r', '\n')
	}
	return redcon.AppendArray(b, n)
}

func appendNil(b []byte, proto int) []byte {
	if proto == 3 {
		return append(b, "_\r\n"...)
	}
	return redcon.AppendNull(b)
}

func (s *session) subscribe(b []byte, proto int, name string, args [][]byte) []byte {
	s.f.mu.Lock()
	since := s.f.h.head
	if s.cursor > since {
		since = s.cursor
	}
	s.f.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	list := &s.channels
	if name == "psubscribe" {
		list = &s.patterns
	}
	for _, a := range args {
		if !has(*list, a) {
			*list = append(*list, sub{name: bytes.Clone(a), since: since})
		}
		b = appendPush(b, 3, proto)
		b = redcon.AppendBulkString(b, name)
		b = redcon.AppendBulk(b, a)
		b = redcon.AppendInt(b, int64(s.count()))
	}
	return b
}

func has(list []sub, name []byte) bool {
	for _, x := range list {
		if bytes.Equal(x.name, name) {
			return true
		}
	}
	return false
}

func (s *session) unsubscribe(b []byte, proto int, name string, args [][]byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := &s.channels
	switch name {
	case "punsubscribe":
		list = &s.patterns
	case "redtap.unsubscribe":
		list = &s.rpatterns
	}
	if len(args) == 0 {
		if len(*list) == 0 {
			b = appendPush(b, 3, proto)
			b = redcon.AppendBulkString(b, name)
			b = appendNil(b, proto)
			return redcon.AppendInt(b, int64(s.count()))
		}
		all := *list
		*list = nil
		for i, x := range all {
			b = appendPush(b, 3, proto)
			b = redcon.AppendBulkString(b, name)
			b = redcon.AppendBulk(b, x.name)
			b = redcon.AppendInt(b, int64(s.count()+len(all)-1-i))
		}
		return b
	}
	for _, a := range args {
		for i, x := range *list {
			if bytes.Equal(x.name, a) {
				*list = append((*list)[:i:i], (*list)[i+1:]...)
				break
			}
		}
		b = appendPush(b, 3, proto)
		b = redcon.AppendBulkString(b, name)
		b = redcon.AppendBulk(b, a)
		b = redcon.AppendInt(b, int64(s.count()))
	}
	return b
}

// redtapSubscribe runs REDTAP.SUBSCRIBE pattern [pattern ...] [FROM replid
// offset[-index]].
func (s *session) redtapSubscribe(b []byte, proto int, args [][]byte) []byte {
	pats, from, err := parseRedtapSubscribe(args)
	if err != nil {
		return redcon.AppendError(b, "ERR "+strings.TrimPrefix(err.Error(), "keyspace: "))
	}
	f := s.f
	s.mu.Lock()
	defer s.mu.Unlock()
	f.mu.Lock()
	since := f.lastSeq
	pos := f.h.last
	if from != nil {
		if s.count() > 0 {
			f.mu.Unlock()
			return redcon.AppendError(b, "ERR FROM is only allowed on a connection without subscriptions")
		}
		seq, ok := f.h.find(*from)
		if !ok {
			floor, last := f.h.floor, f.h.last
			f.mu.Unlock()
			return redcon.AppendError(b, fmt.Sprintf("NOTRETAINED position %s %s is not retained: the history covers %s %s to %s %s; subscribe without FROM and rebuild your state",
				from.replID, from.id(), floor.replID, floor.id(), last.replID, last.id()))
		}
		since, pos = seq, *from
		s.cursor, s.start = seq, f.h.head
		s.gen++
		s.skipKS = 0
		if seq < f.h.head {
			// FROM the keyspace publication of a notification: its
			// keyevent one comes next.
			if e := f.h.at(seq); !e.marker && e.replID == from.replID && e.offset == from.offset && from.idx == 2*e.idx {
				s.skipKS = seq + 1
			}
		}
	} else if s.cursor > since {
		since = s.cursor
		pos = f.posAt(since)
	}
	if s.count() == 0 && from == nil {
		s.cursor = since
		s.start = f.h.head
		s.gen++
	}
	f.mu.Unlock()
	for _, p := range pats {
		if !has(s.rpatterns, p) {
			s.rpatterns = append(s.rpatterns, sub{name: bytes.Clone(p), since: since})
		}
		b = appendPush(b, 5, proto)
		b = redcon.AppendBulkString(b, "redtap.subscribe")
		b = redcon.AppendBulk(b, p)
		b = redcon.AppendInt(b, int64(s.count()))
		b = redcon.AppendBulkString(b, pos.replID)
		b = redcon.AppendBulkString(b, pos.id())
	}
	return b
}

// posAt returns the position right before history entry seq. f.mu held.
func (f *Face) posAt(seq uint64) position {
	switch {
	case seq == f.lastSeq:
		return f.h.last
	case seq > f.h.tail:
		e := f.h.at(seq - 1)
		return position{replID: e.replID, offset: e.offset, idx: e.end()}
	}
	return f.h.floor
}

// parseRedtapSubscribe splits REDTAP.SUBSCRIBE's arguments.
func parseRedtapSubscribe(args [][]byte) (pats [][]byte, from *position, err error) {
	n := len(args)
	if n >= 3 && bytes.EqualFold(args[n-3], []byte("from")) {
		p, err := parsePosition(args[n-2], args[n-1])
		if err != nil {
			return nil, nil, err
		}
		from = &p
		n -= 3
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("%w: want REDTAP.SUBSCRIBE pattern [pattern ...] [FROM replid offset[-index]]", ErrSyntax)
	}
	return args[:n], from, nil
}

// writer sends the history to the connection from its cursor.
func (s *session) writer() {
	defer s.f.wg.Done()
	defer s.close()
	f := s.f
	for {
		f.mu.Lock()
		h := f.h
		lag := s.cursor
		if s.start > lag {
			lag = s.start
		}
		lost := s.cursor < h.tail
		slow := lost || h.head-lag > uint64(f.cfg.QueueLen) || h.bytesSince(lag) > f.cfg.QueueBytes
		if slow && (f.cfg.OnSlow != monitor.Block || lost) {
			if f.cfg.OnSlow == monitor.Reset {
				f.stats.Resets++
				s.cursor, s.start = h.head, h.head
				s.gen++
				pos := f.posAt(h.head)
				f.mu.Unlock()
				f.log.Warn("keyspace: slow subscriber reset", "addr", s.conn.RemoteAddr())
				if !s.reply(func(b []byte, proto int) []byte { return s.appendReset(b, proto, pos, ^uint64(0)) }) {
					return
				}
				continue
			}
			f.stats.Dropped++
			f.mu.Unlock()
			f.log.Warn("keyspace: slow subscriber dropped", "addr", s.conn.RemoteAddr())
			return
		}
		from, gen := s.cursor, s.gen
		n := min(h.head-from, 256)
		s.buf = s.buf[:0]
		for seq := from; seq < from+n; seq++ {
			s.buf = append(s.buf, *h.at(seq))
		}
		wake := f.wake
		f.mu.Unlock()
		if n == 0 {
			select {
			case <-wake:
			case <-s.done:
				return
			}
			continue
		}
		s.mu.Lock()
		proto := s.st.proto
		s.out = s.out[:0]
		for i := range s.buf {
			s.out = s.encode(s.out, proto, from+uint64(i), &s.buf[i])
		}
		s.mu.Unlock()
		if len(s.out) > 0 {
			s.wmu.Lock()
			s.conn.WriteRaw(s.out)
			ok := s.flush()
			s.wmu.Unlock()
			if !ok {
				return
			}
			if cap(s.out) > 1<<20 {
				s.out = nil // do not keep a burst's buffer
			}
		}
		f.mu.Lock()
		if s.gen == gen {
			s.cursor = from + n
		}
		f.mu.Unlock()
		select {
		case f.advanced <- struct{}{}:
		default:
		}
		select {
		case <-s.done:
			return
		default:
		}
	}
}

// appendReset appends a redtap.reset message to the redtap subscriptions
// that began before seq.
func (s *session) appendReset(b []byte, proto int, pos position, seq uint64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rpatterns {
		if r.since <= seq {
			b = appendPush(b, 3, proto)
			b = redcon.AppendBulkString(b, "redtap.reset")
			b = redcon.AppendBulkString(b, pos.replID)
			return redcon.AppendBulkString(b, pos.id())
		}
	}
	return b
}

// encode appends the messages of history entry e (number seq) for the
// session's subscriptions. s.mu held.
func (s *session) encode(b []byte, proto int, seq uint64, e *entry) []byte {
	if e.marker {
		for _, r := range s.rpatterns {
			if r.since <= seq {
				b = appendPush(b, 3, proto)
				b = redcon.AppendBulkString(b, "redtap.reset")
				b = redcon.AppendBulkString(b, e.replID)
				return redcon.AppendBulkString(b, strconv.FormatInt(e.offset, 10))
			}
		}
		return b
	}
	if s.skipKS != seq+1 {
		b = s.publish(b, proto, seq, e, 0, e.keyspace, e.keyevent[len(e.keyevent)-len(e.event):])
	}
	return s.publish(b, proto, seq, e, 1, e.keyevent, e.key)
}

// publish appends the messages of one publication (half 0: keyspace, 1:
// keyevent) of entry e.
func (s *session) publish(b []byte, proto int, seq uint64, e *entry, half int, ch, msg []byte) []byte {
	for _, c := range s.channels {
		if c.since <= seq && bytes.Equal(c.name, ch) {
			b = appendPush(b, 3, proto)
			b = redcon.AppendBulkString(b, "message")
			b = redcon.AppendBulk(b, ch)
			b = redcon.AppendBulk(b, msg)
		}
	}
	for _, p := range s.patterns {
		if p.since <= seq && glob.Match(p.name, ch) {
			b = appendPush(b, 4, proto)
			b = redcon.AppendBulkString(b, "pmessage")
			b = redcon.AppendBulk(b, p.name)
			b = redcon.AppendBulk(b, ch)
			b = redcon.AppendBulk(b, msg)
		}
	}
	for _, p := range s.rpatterns {
		if p.since <= seq && glob.Match(p.name, ch) {
			b = appendPush(b, 6, proto)
			b = redcon.AppendBulkString(b, "redtap.message")
			b = redcon.AppendBulk(b, p.name)
			b = redcon.AppendBulk(b, ch)
			b = redcon.AppendBulk(b, msg)
			b = redcon.AppendBulkString(b, e.replID)
			b = redcon.AppendBulkString(b, e.pubID(half))
		}
	}
	return b
}

// allow runs Config.Allow.
func (f *Face) allow(conn redcon.Conn, args [][]byte) error {
	if f.cfg.Allow == nil {
		return nil
	}
	return f.cfg.Allow(conn, args)
}

const errNoAuth = "NOAUTH Authentication required."
