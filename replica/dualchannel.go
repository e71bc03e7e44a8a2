package replica

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// DualChannelMode says whether full syncs may use two connections (see
// Config.DualChannel and DualChannelConfig). "Dual-channel" covers both flavours: Valkey 8's
// dual-channel replication (capa dual-channel, +DUALCHANNELSYNC) and Redis
// 8's rdb-channel replication (capa rdb-channel-repl, +RDBCHANNELSYNC);
// the replica announces both and follows whichever the master grants.
type DualChannelMode int

// The dual-channel modes.
const (
	// DualChannelAuto asks for it and uses it when the master grants it.
	DualChannelAuto DualChannelMode = iota
	// DualChannelOn requires it: a master that answers with an ordinary
	// full sync is an error (ErrSyncRefused). Valkey grants it with
	// dual-channel-replication-enabled yes, Redis 8 with repl-rdb-channel
	// yes; both need repl-diskless-sync yes.
	DualChannelOn
	// DualChannelOff never asks: full syncs use one connection.
	DualChannelOff
)

// String returns "auto", "on" or "off".
func (m DualChannelMode) String() string {
	switch m {
	case DualChannelAuto:
		return "auto"
	case DualChannelOn:
		return "on"
	case DualChannelOff:
		return "off"
	}
	return "dualchannelmode(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText returns String's text.
func (m DualChannelMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses "auto", "on" or "off" (for flags and configuration
// files).
func (m *DualChannelMode) UnmarshalText(b []byte) error {
	v, err := ParseDualChannelMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseDualChannelMode parses "auto", "on" or "off".
func ParseDualChannelMode(s string) (DualChannelMode, error) {
	for _, m := range []DualChannelMode{DualChannelAuto, DualChannelOn, DualChannelOff} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("replica: dual-channel mode %q: want auto, on or off", s)
}

// A full sync on two connections (Valkey 8's dual-channel replication), as
// the master runs it:
//
//	main connection                           rdb connection
//	 | REPLCONF capa ... capa dual-channel     |
//	 | PSYNC <id> <off> | PSYNC ? -1           |
//	 |<------------------- +DUALCHANNELSYNC    |
//	 |                                         | AUTH (if needed)
//	 |                                         | REPLCONF capa eof rdb-only 1
//	 |                                         |   rdb-channel 1 listening-port <p>
//	 |                                         | SYNC
//	 |                                         |<- $ENDOFF:<end> <replid> <db> <client-id>
//	 | REPLCONF set-rdb-client-id <client-id>  |
//	 | PSYNC <replid> <end+1>                  |
//	 |<--------------------------- +CONTINUE   |<- $EOF:<mark> RDB <mark>
//	 |<- the stream from <end> (held here)     |   (closed after the snapshot)
//
// The session delivers the snapshot from the rdb connection while a hold
// reads the main connection at once and keeps its stream (memory, then a
// temporary file), then the held stream and the live one: the events of an
// ordinary full sync whose stream starts at <end>.
//
// Only the handshake is specific to Valkey: Redis 8's rdb-channel
// replication (rdbchannel.go) is a second handshake producing the same
// session shape through twoChannelSync.

// twoChannelStart is what the handshake of a two-connection full sync
// learns: the snapshot's replication id and end offset (the held stream
// starts after it), and the buffered reader over the main connection that
// the hold goes on with.
type twoChannelStart struct {
	replid string
	offset int64
	mainBR *bufio.Reader
}

// dualChannelSync sets up the session of a full sync on two connections
// after the main connection's PSYNC was answered +DUALCHANNELSYNC (Valkey)
// or +RDBCHANNELSYNC (Redis 8).
func (r *Replica) dualChannelSync(ctx context.Context, s *session) error {
	if s.rdbChannel {
		return r.twoChannelSync(ctx, s, "rdb-channel", r.redisRDBChannel)
	}
	return r.twoChannelSync(ctx, s, "dual-channel", r.valkeyDualChannel)
}

// twoChannelSync opens the snapshot's connection (AUTH when configured),
// runs the flavour's handshake on both connections, and sets the session
// up: s.side carries the snapshot (read through r.in), s.conn becomes the
// held main connection.
func (r *Replica) twoChannelSync(ctx context.Context, s *session, kind string,
	handshake func(s *session, side, main net.Conn) (twoChannelStart, error)) (err error) {
	main := s.conn
	if r.in.br.Buffered() != 0 {
		return &Error{Addr: s.addr, Op: "psync", Err: protoErr("bytes after the %s answer to PSYNC", kind)}
	}
	side, err := r.dial(ctx, s.addr)
	if err != nil {
		return err
	}
	if !r.link.attachSide(side) {
		side.Close()
		return ErrClosed
	}
	stop := context.AfterFunc(ctx, func() { side.SetDeadline(longAgo) }) //nolint:errcheck
	defer stop()
	defer func() {
		if err != nil {
			r.link.detachSide(side)
			side.Close()
		}
	}()

	// The snapshot's connection: its replies are read through r.in, which
	// goes on with the snapshot.
	r.in.reset(side)
	if r.cfg.Password != "" {
		args := []string{"AUTH", r.cfg.Password}
		if r.cfg.Username != "" {
			args = []string{"AUTH", r.cfg.Username, r.cfg.Password}
		}
		line, err := r.sideCommand(side, args...)
		if err != nil {
			return &Error{Addr: s.addr, Op: "rdb channel", Err: err}
		}
		if !strings.HasPrefix(line, "+") {
			return &Error{Addr: s.addr, Op: "rdb channel", Err: fmt.Errorf("%w: AUTH: %s", ErrAuth, line)}
		}
	}
	start, err := handshake(s, side, main)
	if err != nil {
		return err
	}

	h := &hold{
		src: start.mainBR, conn: main, timeout: r.cfg.ReadTimeout,
		memLimit: r.cfg.DualChannel.HoldMemory, limit: r.cfg.DualChannel.HoldLimit, dir: r.cfg.DualChannel.HoldDir,
		held: &r.st.held, spilled: &r.st.heldOnDisk,
		keepalive: func() {
			if err := r.w.newline(main); err != nil {
				r.log.Debug("replica: keepalive failed", "err", err)
			}
		},
		abort: func() { side.Close() },
	}
	r.st.held.Store(0)
	r.st.heldOnDisk.Store(0)
	startHold(h, r.cfg.AckInterval)
	held := &heldConn{Conn: main, h: h}
	r.link.swap(main, held)
	s.conn, s.side = held, side
	s.replid, s.full = start.replid, start.offset
	s.sync.ReplID, s.sync.Offset = start.replid, start.offset
	r.st.dualSyncs.Add(1)
	r.log.Info("replica: "+kind+" sync", "addr", s.addr, "replid", start.replid, "offset", start.offset)
	return nil
}

// valkeyDualChannel is Valkey's handshake: REPLCONF and SYNC on the rdb
// connection, which answers $ENDOFF; then the main connection's PSYNC from
// the snapshot's end.
func (r *Replica) valkeyDualChannel(s *session, side, main net.Conn) (twoChannelStart, error) {
	var st twoChannelStart
	op := func(op string, err error) error { return &Error{Addr: s.addr, Op: op, Err: err} }
	line, err := r.sideCommand(side, "REPLCONF", "capa", "eof", "rdb-only", "1", "rdb-channel", "1",
		"listening-port", strconv.Itoa(s.port))
	if err != nil {
		return st, op("rdb channel", err)
	}
	if isAuthError(line) {
		return st, op("rdb channel", fmt.Errorf("%w: REPLCONF: %s", ErrAuth, line))
	}
	if !strings.HasPrefix(line, "+") {
		return st, op("rdb channel", fmt.Errorf("%w: REPLCONF rdb-channel: %s", ErrSyncRefused, line))
	}
	if err := r.w.command(side, "SYNC"); err != nil {
		return st, op("rdb channel", err)
	}
	line, err = r.in.readLine(true)
	if err != nil {
		return st, op("rdb channel", err)
	}
	end, err := parseEndOff(line)
	if err != nil {
		return st, op("rdb channel", err)
	}

	// The main connection: PSYNC from the snapshot's end. Its replies are
	// read through the buffered reader the hold goes on with.
	mainBR := bufio.NewReaderSize(main, readBufferSize)
	mainLine := func(args ...string) (string, error) {
		if err := r.w.command(main, args...); err != nil {
			return "", err
		}
		if err := main.SetReadDeadline(time.Now().Add(r.cfg.ReadTimeout)); err != nil {
			return "", err
		}
		return readLine(mainBR, true)
	}
	line, err = mainLine("REPLCONF", "set-rdb-client-id", strconv.FormatUint(end.clientID, 10))
	if err != nil {
		return st, op("psync", err)
	}
	if !strings.HasPrefix(line, "+") {
		return st, op("psync", fmt.Errorf("%w: REPLCONF set-rdb-client-id: %s", ErrSyncRefused, line))
	}
	line, err = mainLine("PSYNC", end.replid, strconv.FormatInt(end.offset+1, 10))
	if err != nil {
		return st, op("psync", err)
	}
	if f := strings.Fields(line); len(f) == 0 || f[0] != "+CONTINUE" || len(f) > 2 || len(f) == 2 && f[1] != end.replid {
		if isTryLater(line) {
			return st, op("psync", &errTryLater{msg: line})
		}
		return st, op("psync", protoErr("PSYNC %s %d on the main connection of a dual-channel sync: %q", end.replid, end.offset+1, line))
	}
	return twoChannelStart{replid: end.replid, offset: end.offset, mainBR: mainBR}, nil
}

// sideCommand sends a command on the rdb connection and reads its reply.
func (r *Replica) sideCommand(side net.Conn, args ...string) (string, error) {
	if err := r.w.command(side, args...); err != nil {
		return "", err
	}
	return r.in.readLine(true)
}

// endOff is the rdb connection's "$ENDOFF:<offset> <replid> <db> <client-id>".
type endOff struct {
	offset   int64
	replid   string
	db       int
	clientID uint64
}

func parseEndOff(line string) (endOff, error) {
	var e endOff
	rest, ok := strings.CutPrefix(line, "$ENDOFF:")
	if !ok {
		if isTryLater(line) {
			return e, &errTryLater{msg: line}
		}
		if strings.HasPrefix(line, "-") {
			return e, &errTryLater{msg: "sync aborted: " + line}
		}
		return e, protoErr("rdb channel: want $ENDOFF, got %q", line)
	}
	f := strings.Fields(rest)
	if len(f) != 4 {
		return e, protoErr("bad $ENDOFF line %q", line)
	}
	var err1, err2, err3 error
	e.offset, err1 = strconv.ParseInt(f[0], 10, 64)
	e.replid = f[1]
	e.db, err2 = strconv.Atoi(f[2])
	e.clientID, err3 = strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || e.offset < 0 || e.db < 0 || len(e.replid) != 40 || validReplID(e.replid) != nil {
		return e, protoErr("bad $ENDOFF line %q", line)
	}
	return e, nil
}

// endSide ends the snapshot's connection of a dual-channel session: the
// stream goes on from the held main connection.
func (r *Replica) endSide(s *session) {
	if s.side == nil {
		return
	}
	r.link.detachSide(s.side)
	s.side.Close()
	s.side = nil
	if hc, ok := s.conn.(*heldConn); ok {
		hc.h.pipe()
	}
	r.in.reset(s.conn)
}
