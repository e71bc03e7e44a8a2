package replica

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/redtap/redtap/rdb"
)

// payload is the state of a snapshot transfer.
type payload struct {
	eof  bool     // "$EOF:<mark>" (diskless) rather than "$<len>"
	mark [40]byte // the EOF mark
	size int64    // payload length, -1 for "$EOF:"
	lim  io.LimitedReader
	dec  *rdb.Decoder
	keys int64 // keys decoded
	left int64 // SnapshotSkip: bytes still to discard
}

// payloadHeader reads "$<len>" or "$EOF:<mark>" (after keepalive newlines)
// and prepares the decoder or the skip.
func (r *Replica) payloadHeader(s *session) error {
	line, err := r.in.readLine(true)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(line, "$EOF:"):
		// Redis takes the first 40 bytes after "EOF:" as the mark.
		if len(line) < 5+len(s.pl.mark) {
			return protoErr("payload header %q: EOF mark shorter than 40 bytes", line)
		}
		s.pl.eof, s.pl.size = true, -1
		copy(s.pl.mark[:], line[5:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.ParseInt(line[1:], 10, 64)
		if err != nil || n < 0 {
			return protoErr("payload header %q", line)
		}
		s.pl.size = n
	case isTryLater(line):
		return &errTryLater{msg: line}
	case strings.HasPrefix(line, "-"):
		if s.viaSync {
			return errors.Join(ErrSyncRefused, errors.New("SYNC: "+line))
		}
		// The master aborted the sync (a failed BGSAVE ...): try again.
		return &errTryLater{msg: "sync aborted: " + line}
	default:
		return protoErr("payload header %q", line)
	}
	r.st.snapshotSize.Store(s.pl.size)
	r.st.snapshotBytes.Store(0)
	if r.cfg.Snapshot == SnapshotSkip && !s.pl.eof {
		s.pl.left = s.pl.size
		s.phase = phaseSkip
		return nil
	}
	var src io.Reader = r.in.br
	if !s.pl.eof {
		// Bound the decoder to the payload; it must end exactly there.
		s.pl.lim = io.LimitedReader{R: r.in.br, N: s.pl.size}
		if r.in.ibr == nil {
			r.in.ibr = bufio.NewReaderSize(&s.pl.lim, readBufferSize)
		} else {
			r.in.ibr.Reset(&s.pl.lim)
		}
		src = r.in.ibr
	}
	opts := r.cfg.RDBOptions
	if r.cfg.Snapshot == SnapshotSkip {
		opts = append(opts[:len(opts):len(opts)], rdb.WithFilter(func(int, []byte, rdb.Type) bool { return false }))
	}
	s.pl.dec, err = rdb.NewDecoder(src, opts...)
	if err != nil {
		return err
	}
	s.phase = phaseSnapshot
	return nil
}

// snapshotRecord decodes the next record. It returns a nil event when there
// is nothing to deliver (SnapshotSkip).
func (r *Replica) snapshotRecord(ctx context.Context, s *session) (Event, error) {
	for {
		rec, err := s.pl.dec.Next(ctx)
		if err != nil {
			if err == io.EOF {
				err = protoErr("RDB decoder ended without an End record")
			} else if !s.pl.eof && s.pl.lim.N == 0 && errors.Is(err, io.ErrUnexpectedEOF) && r.in.cr.err == nil {
				err = protoErr("RDB runs past the payload's announced length %d: %v", s.pl.size, err)
			}
			return nil, err
		}
		r.st.snapshotBytes.Store(s.pl.dec.BytesRead())
		switch v := rec.(type) {
		case *rdb.Entry:
			if v.Chunk == 0 {
				s.pl.keys++
			}
		case *rdb.End:
			if err := r.endPayload(s, v); err != nil {
				return nil, err
			}
			s.phase = phaseSnapshotDone
		}
		if r.cfg.Snapshot == SnapshotSkip {
			if s.phase == phaseSnapshotDone {
				return nil, nil
			}
			continue
		}
		ev := r.slab.record()
		ev.Record = rec
		return ev, nil
	}
}

// endPayload checks the payload's framing after the RDB's End record.
func (r *Replica) endPayload(s *session, end *rdb.End) error {
	if !s.pl.eof {
		if s.pl.lim.N != 0 || r.in.ibr.Buffered() != 0 {
			return protoErr("payload of %d bytes, but the RDB ends after %d", s.pl.size, end.Size)
		}
		return nil
	}
	b, err := r.in.br.Peek(len(s.pl.mark))
	if err != nil {
		return err
	}
	if !bytes.Equal(b, s.pl.mark[:]) {
		return ErrEOFMark
	}
	r.in.br.Discard(len(s.pl.mark)) //nolint:errcheck // peeked
	return nil
}

// skipPayload discards a "$<len>" payload (SnapshotSkip).
func (r *Replica) skipPayload(s *session) error {
	for s.pl.left > 0 {
		n, err := r.in.br.Discard(int(min(s.pl.left, 1<<20)))
		s.pl.left -= int64(n)
		r.st.snapshotBytes.Store(s.pl.size - s.pl.left)
		if err != nil {
			return err
		}
	}
	s.phase = phaseSnapshotDone
	return nil
}

// snapshotDone delivers SnapshotDone and starts the command stream (or ends
// the replica in SnapshotOnly mode).
func (r *Replica) snapshotDone(s *session) Event {
	ev := &SnapshotDone{Offset: s.full, Keys: s.pl.keys, Bytes: s.pl.size}
	if s.pl.eof {
		ev.Bytes = s.pl.dec.BytesRead()
	}
	if s.pl.dec != nil {
		s.pl.dec.Close()
		s.pl.dec = nil
	}
	if s.rdbOnly {
		s.began = true
		r.done = true
		r.dropSession(s)
		return ev
	}
	s.phase = phaseStream
	r.endSide(s)
	r.beginStream(s, s.full, 0)
	ev.Pos = Position{ReplID: s.replid, Offset: s.full}
	r.pos.set(ev.Pos)
	return ev
}
