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

// payloadHeader reads "$<len>" or "$EOF:<mark>" (after keepalive newlines)
// and prepares the decoder or the skip.
func (r *Replica) payloadHeader(s *session) error {
	line, err := r.readLine(true)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(line, "$EOF:"):
		// Redis takes the first 40 bytes after "EOF:" as the mark.
		if len(line) < 5+len(s.mark) {
			return protoErr("payload header %q: EOF mark shorter than 40 bytes", line)
		}
		s.eof, s.size = true, -1
		copy(s.mark[:], line[5:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.ParseInt(line[1:], 10, 64)
		if err != nil || n < 0 {
			return protoErr("payload header %q", line)
		}
		s.size = n
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
	r.st.snapshotSize.Store(s.size)
	r.st.snapshotBytes.Store(0)
	if r.cfg.Snapshot == SnapshotSkip && !s.eof {
		s.left = s.size
		s.phase = phaseSkip
		return nil
	}
	var src io.Reader = r.br
	if !s.eof {
		// Bound the decoder to the payload; it must end exactly there.
		s.lim = io.LimitedReader{R: r.br, N: s.size}
		if r.ibr == nil {
			r.ibr = bufio.NewReaderSize(&s.lim, readBufferSize)
		} else {
			r.ibr.Reset(&s.lim)
		}
		src = r.ibr
	}
	opts := r.cfg.RDBOptions
	if r.cfg.Snapshot == SnapshotSkip {
		opts = append(opts[:len(opts):len(opts)], rdb.WithFilter(func(int, []byte, rdb.Type) bool { return false }))
	}
	s.dec, err = rdb.NewDecoder(src, opts...)
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
		rec, err := s.dec.Next(ctx)
		if err != nil {
			if err == io.EOF {
				err = protoErr("RDB decoder ended without an End record")
			} else if !s.eof && s.lim.N == 0 && errors.Is(err, io.ErrUnexpectedEOF) && r.cr.err == nil {
				err = protoErr("RDB runs past the payload's announced length %d: %v", s.size, err)
			}
			return nil, err
		}
		r.st.snapshotBytes.Store(s.dec.BytesRead())
		switch v := rec.(type) {
		case *rdb.Entry:
			if v.Chunk == 0 {
				s.keys++
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
		ev := r.newRecord()
		ev.Record = rec
		return ev, nil
	}
}

// endPayload checks the payload's framing after the RDB's End record.
func (r *Replica) endPayload(s *session, end *rdb.End) error {
	if !s.eof {
		if s.lim.N != 0 || r.ibr.Buffered() != 0 {
			return protoErr("payload of %d bytes, but the RDB ends after %d", s.size, end.Size)
		}
		return nil
	}
	b, err := r.br.Peek(len(s.mark))
	if err != nil {
		return err
	}
	if !bytes.Equal(b, s.mark[:]) {
		return ErrEOFMark
	}
	r.br.Discard(len(s.mark)) //nolint:errcheck // peeked
	return nil
}

// skipPayload discards a "$<len>" payload (SnapshotSkip).
func (r *Replica) skipPayload(s *session) error {
	for s.left > 0 {
		n, err := r.br.Discard(int(min(s.left, 1<<20)))
		s.left -= int64(n)
		r.st.snapshotBytes.Store(s.size - s.left)
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
	ev := &SnapshotDone{Offset: s.full, Keys: s.keys, Bytes: s.size}
	if s.eof {
		ev.Bytes = s.dec.BytesRead()
	}
	if s.dec != nil {
		s.dec.Close()
		s.dec = nil
	}
	if s.rdbOnly {
		s.began = true
		r.done = true
		r.dropSession(s)
		return ev
	}
	s.phase = phaseStream
	r.beginStream(s, s.full, 0)
	ev.Pos = Position{ReplID: s.replid, Offset: s.full}
	r.setPos(ev.Pos)
	return ev
}
