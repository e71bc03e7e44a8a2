package replica

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// connect dials the current address and performs the handshake and PSYNC.
// The returned session is in phaseSync.
func (r *Replica) connect(ctx context.Context) (*session, error) {
	addr := r.link.target()
	conn, err := r.dial(ctx, addr)
	if err != nil {
		return nil, err
	}

	if !r.link.attach(conn) {
		conn.Close()
		return nil, ErrClosed
	}

	prevCtx := r.in.cr.ctx
	r.in.cr.ctx = ctx
	defer func() { r.in.cr.ctx = prevCtx }()
	r.in.reset(conn)
	r.tx.abort()

	s := &session{conn: conn, addr: addr, pl: payload{size: -1}}
	// A cancelled ctx unblocks writes too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) }) //nolint:errcheck
	err = r.handshake(s)
	if err == nil && s.dualPending {
		err = r.dualChannelSync(ctx, s)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		r.link.detach(conn)
		r.link.detach(s.conn)
		s.conn.Close()
		conn.Close()
		if s.side != nil {
			r.link.detachSide(s.side)
			s.side.Close()
		}
		if r.link.closed.Load() {
			return nil, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var e *Error
		if !errors.As(err, &e) {
			err = &Error{Addr: addr, Op: "handshake", Err: err}
		}
		return nil, err
	}
	r.st.connects.Add(1)
	if s.sync.Mode == SyncFull {
		r.st.fullSyncs.Add(1)
	} else {
		r.st.partialSyncs.Add(1)
		// The master streams at once and expects ACKs: stream now, even
		// before the caller has seen the Sync event.
		r.beginStream(s, s.resume.Offset, s.resume.DB)
	}
	return s, nil
}

// dial connects to addr (TCP, then TLS when configured) within
// Config.DialTimeout.
func (r *Replica) dial(ctx context.Context, addr string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	defer cancel()
	dial := r.cfg.Dialer
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(dctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Addr: addr, Op: "dial", Err: err}
	}
	if r.cfg.TLS != nil {
		tc := r.cfg.TLS
		if tc.ServerName == "" && !tc.InsecureSkipVerify {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, &Error{Addr: addr, Op: "dial", Err: fmt.Errorf("tls handshake: %w", err)}
		}
		conn = tconn
	}
	return conn, nil
}

// handshake runs PING, AUTH, REPLCONF and PSYNC (or SYNC) on s.conn.
func (r *Replica) handshake(s *session) error {
	op := func(op string, err error) error { return &Error{Addr: s.addr, Op: op, Err: err} }

	// PING: +PONG, or an error meaning "authenticate first".
	line, err := r.command(s, false, "PING")
	if err != nil {
		return op("handshake", err)
	}
	switch {
	case strings.HasPrefix(line, "+"):
	case isAuthError(line):
		if r.cfg.Password == "" {
			return op("handshake", fmt.Errorf("%w: PING: %s (no password configured)", ErrAuth, line))
		}
	case isTryLater(line):
		return op("handshake", &errTryLater{msg: line})
	case strings.HasPrefix(line, "-"):
		return op("handshake", fmt.Errorf("%w: PING: %s", ErrSyncRefused, line))
	default:
		return op("handshake", protoErr("PING reply %q", line))
	}

	if r.cfg.Password != "" {
		args := []string{"AUTH", r.cfg.Password}
		if r.cfg.Username != "" {
			args = []string{"AUTH", r.cfg.Username, r.cfg.Password}
		}
		line, err := r.command(s, false, args...)
		if err != nil {
			return op("handshake", err)
		}
		switch {
		case strings.HasPrefix(line, "+"):
		case isTryLater(line):
			return op("handshake", &errTryLater{msg: line})
		case strings.HasPrefix(line, "-"):
			return op("handshake", fmt.Errorf("%w: AUTH: %s", ErrAuth, line))
		default:
			return op("handshake", protoErr("AUTH reply %q", line))
		}
	}

	// REPLCONF: unknown options are ignored, as Redis replicas do (older
	// masters do not know every option), but a permission error is final:
	// a user without +replconf could sync once, yet every REPLCONF ACK
	// would be refused, so the master would never start the stream after a
	// diskless transfer and would drop the tap after repl-timeout.
	port := r.cfg.ListeningPort
	if port == 0 {
		if a, ok := s.conn.LocalAddr().(*net.TCPAddr); ok {
			port = a.Port
		}
	}
	s.port = port
	confs := [][]string{{"REPLCONF", "listening-port", strconv.Itoa(port)}}
	if r.cfg.AnnounceIP != "" {
		confs = append(confs, []string{"REPLCONF", "ip-address", r.cfg.AnnounceIP})
	}
	capa := []string{"REPLCONF", "capa", "eof", "capa", "psync2"}
	if r.askDualChannel() {
		// Both flavours: each master ignores the capability it does not
		// know (Valkey's dual-channel, Redis 8's rdb-channel-repl).
		capa = append(capa, "capa", "dual-channel", "capa", "rdb-channel-repl")
	}
	confs = append(confs, capa)
	for _, c := range confs {
		line, err := r.replconf(s, c)
		if err != nil {
			return op("handshake", err)
		}
		if strings.HasPrefix(line, "-") {
			r.log.Debug("replica: REPLCONF refused", "args", c[1:], "reply", line)
		}
	}
	if r.cfg.Snapshot == SnapshotOnly {
		s.rdbOnly = true
		line, err := r.replconf(s, []string{"REPLCONF", "rdb-only", "1"})
		if err != nil {
			return op("handshake", err)
		}
		if strings.HasPrefix(line, "-") {
			r.log.Info("replica: master does not know rdb-only; full sync, dropped after the snapshot", "reply", line)
		}
	}

	// PSYNC.
	var resume Position
	if !s.rdbOnly {
		resume = r.Position()
	}
	s.resume = resume
	var psync []string
	if resume.ReplID != "" {
		psync = []string{"PSYNC", resume.ReplID, strconv.FormatInt(resume.Offset+1, 10)}
	} else {
		psync = []string{"PSYNC", "?", "-1"}
	}
	line, err = r.command(s, true, psync...)
	if err != nil {
		return op("psync", err)
	}
	return r.psyncReply(s, resume, line)
}

// askDualChannel reports whether the handshake asks for dual-channel
// replication: not with DualChannelOff, nor for the snapshot alone.
func (r *Replica) askDualChannel() bool {
	return r.cfg.DualChannel.Mode != DualChannelOff && r.cfg.Snapshot != SnapshotOnly
}

// fullReason says why a PSYNC that asked to resume got a full sync.
func (r *Replica) fullReason(s *session, resume Position, reply, replid string) string {
	switch {
	case resume.ReplID == "" && r.syncOnly && !s.rdbOnly:
		return "the previous session synchronised with SYNC, which has no replication id to resume from"
	case resume.ReplID == "":
		return ""
	case replid == resume.ReplID:
		return fmt.Sprintf("master answered %s to PSYNC %s %d: its backlog no longer reaches offset %d",
			reply, resume.ReplID, resume.Offset+1, resume.Offset)
	case replid == "":
		return fmt.Sprintf("master answered %s to PSYNC %s %d: replication id unknown to the master or its backlog no longer reaches offset %d",
			reply, resume.ReplID, resume.Offset+1, resume.Offset)
	}
	return fmt.Sprintf("master answered %s to PSYNC %s %d: replication id unknown to the master (now %s) or its backlog no longer reaches offset %d",
		reply, resume.ReplID, resume.Offset+1, replid, resume.Offset)
}

// psyncReply interprets the master's answer to PSYNC.
func (r *Replica) psyncReply(s *session, resume Position, line string) error {
	op := func(err error) error { return &Error{Addr: s.addr, Op: "psync", Offset: resume.Offset, Err: err} }
	switch {
	case strings.HasPrefix(line, "+FULLRESYNC"):
		replid, off, err := parseFullResync(line)
		if err != nil {
			return op(err)
		}
		if r.cfg.DualChannel.Mode == DualChannelOn && r.askDualChannel() {
			return op(fmt.Errorf("%w: dual-channel replication required (Config.DualChannel.Mode on), but the master answered %s: it needs repl-diskless-sync yes and dual-channel-replication-enabled yes (Valkey 8+) or repl-rdb-channel yes (Redis 8+)",
				ErrSyncRefused, "+FULLRESYNC"))
		}
		s.replid, s.full = replid, off
		s.sync = &Sync{Mode: SyncFull, ReplID: replid, Offset: off, Addr: s.addr}
		s.sync.Reason = r.fullReason(s, resume, "FULLRESYNC", replid)
		s.phase = phaseSync
		return nil
	case line == "+DUALCHANNELSYNC":
		if !r.askDualChannel() {
			return op(protoErr("%s answer without asking for dual-channel replication", line))
		}
		// The snapshot comes on a second connection (dualChannelSync),
		// which tells the replication id and the offset.
		s.dualPending = true
		s.sync = &Sync{Mode: SyncFull, Addr: s.addr}
		s.sync.Reason = r.fullReason(s, resume, "DUALCHANNELSYNC", "")
		s.phase = phaseSync
		return nil
	case strings.HasPrefix(line, "+RDBCHANNELSYNC"):
		if !r.askDualChannel() {
			return op(protoErr("%q answer without asking for rdb-channel replication", line))
		}
		id, err := parseRDBChannelSync(line)
		if err != nil {
			return op(err)
		}
		// Redis 8: the snapshot comes on a second connection
		// (redisRDBChannel), whose +FULLRESYNC tells the replication id
		// and the offset.
		s.dualPending, s.rdbChannel, s.mainClientID = true, true, id
		s.sync = &Sync{Mode: SyncFull, Addr: s.addr}
		s.sync.Reason = r.fullReason(s, resume, "RDBCHANNELSYNC", "")
		s.phase = phaseSync
		return nil
	case strings.HasPrefix(line, "+CONTINUE"):
		if resume.ReplID == "" {
			return op(protoErr("CONTINUE answer to a fresh PSYNC: %q", line))
		}
		id := resume.ReplID
		if f := strings.Fields(line); len(f) == 2 && validReplID(f[1]) == nil && len(f[1]) == 40 {
			id = f[1]
		} else if len(f) > 2 || f[0] != "+CONTINUE" {
			return op(protoErr("bad CONTINUE reply %q", line))
		}
		s.replid = id
		s.sync = &Sync{Mode: SyncContinue, ReplID: id, Offset: resume.Offset, Addr: s.addr}
		s.phase = phaseSync
		return nil
	case isTryLater(line):
		return op(&errTryLater{msg: line})
	case isAuthError(line):
		return op(fmt.Errorf("%w: PSYNC: %s", ErrAuth, line))
	case strings.HasPrefix(line, "-"):
		// PSYNC unknown or refused: fall back to SYNC, a full sync without
		// replication id or offset.
		r.log.Info("replica: PSYNC refused, falling back to SYNC", "addr", s.addr, "reply", line)
		if err := r.w.command(s.conn, "SYNC"); err != nil {
			return op(err)
		}
		s.viaSync = true
		s.sync = &Sync{Mode: SyncFull, Addr: s.addr}
		if resume.ReplID != "" || r.syncOnly {
			s.sync.Reason = fmt.Sprintf("master refused PSYNC (%s): fell back to SYNC, a full sync without replication id", line)
		}
		s.phase = phaseSync
		return nil
	}
	return op(protoErr("unexpected PSYNC reply %q", line))
}

// parseFullResync parses "+FULLRESYNC <replid> <offset>".
func parseFullResync(line string) (string, int64, error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "+FULLRESYNC" || len(f[1]) != 40 || validReplID(f[1]) != nil {
		return "", 0, protoErr("bad FULLRESYNC reply %q", line)
	}
	off, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || off < 0 {
		return "", 0, protoErr("bad FULLRESYNC offset in %q", line)
	}
	return f[1], off, nil
}

// replconf sends one REPLCONF and returns the master's reply: an error for
// a reply that fails the handshake (see replconfReply), else the line, which
// may still be a refusal the caller tolerates.
func (r *Replica) replconf(s *session, c []string) (string, error) {
	line, err := r.command(s, false, c...)
	if err != nil {
		return "", err
	}
	return line, replconfReply(c, line)
}

func replconfReply(args []string, line string) error {
	if isAuthError(line) {
		return fmt.Errorf("%w: %s %s: %s", ErrAuth, args[0], args[1], line)
	}
	if strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-") {
		return nil
	}
	return protoErr("%s %s reply %q", args[0], args[1], line)
}

func isAuthError(line string) bool {
	return strings.HasPrefix(line, "-NOAUTH") || strings.HasPrefix(line, "-NOPERM") ||
		strings.HasPrefix(line, "-WRONGPASS") || strings.HasPrefix(line, "-ERR operation not permitted")
}

func isTryLater(line string) bool {
	return strings.HasPrefix(line, "-LOADING") || strings.HasPrefix(line, "-NOMASTERLINK") ||
		strings.HasPrefix(line, "-MASTERDOWN") || strings.HasPrefix(line, "-BUSY")
}

// command sends a command and reads its one-line reply. With skipEmpty,
// empty lines (keepalive newlines) before the reply are skipped.
func (r *Replica) command(s *session, skipEmpty bool, args ...string) (string, error) {
	if err := r.w.command(s.conn, args...); err != nil {
		return "", err
	}
	return r.in.readLine(skipEmpty)
}
