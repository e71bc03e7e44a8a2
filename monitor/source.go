package monitor

import (
	"context"
	"io"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// Source is where a [Monitor] reads events: a [*replica.Replica], a
// snapshot file through [FromDecoder], or anything else that delivers
// replica events in stream order. Next is called by one goroutine at a
// time; an event it returns, and its slices, may be reused by its next
// call (the monitor copies what it keeps). A Source whose Next blocks should
// return when ctx is done: that is how Close and cancelled contexts
// interrupt a read.
//
// A Source may also have a method Buffered() int, as [*replica.Replica]
// has: how much it has received that Next has not returned yet, 0 when Next
// would wait for the network. [Subscriber.TryNext] reads the source only
// while it is not 0. The monitor calls it from the goroutine that calls
// Next, never during a Next.
type Source interface {
	Next(ctx context.Context) (replica.Event, error)
}

// Committer is implemented by sources that take checkpoint positions
// (a [*replica.Replica] with Config.ManualCommit): the monitor commits to
// them the minimum of its subscribers' committed positions (see
// [Subscriber.Commit]). Commit is called from the goroutines that call
// Subscriber.Commit and Close, concurrently with Next.
type Committer interface {
	Commit(pos replica.Position)
}

// FromDecoder returns a snapshot-only source: a [*replica.Sync] with Mode
// SyncFull, a [*replica.SnapshotRecord] for every record of d, a
// [*replica.SnapshotDone] (offset 0, no position), then io.EOF. Decoding
// errors are returned as they are, and again on every later call. The
// caller closes d.
func FromDecoder(d *rdb.Decoder) Source { return &decoderSource{d: d} }

type decoderSource struct {
	d     *rdb.Decoder
	state int // 0: Sync due, 1: records, 2: done
	keys  int64
	rec   replica.SnapshotRecord
	err   error
}

func (s *decoderSource) Next(ctx context.Context) (replica.Event, error) {
	if s.err != nil {
		return nil, s.err
	}
	switch s.state {
	case 0:
		s.state = 1
		return &replica.Sync{Mode: replica.SyncFull}, nil
	case 1:
		rec, err := s.d.Next(ctx)
		if err == io.EOF {
			s.state = 2
			return &replica.SnapshotDone{Keys: s.keys, Bytes: s.d.BytesRead()}, nil
		}
		if err != nil {
			if ctx.Err() == nil {
				s.err = err
			}
			return nil, err
		}
		if e, ok := rec.(*rdb.Entry); ok && e.Last {
			s.keys++
		}
		// The record is valid until the next call: so is the event.
		s.rec.Record = rec
		return &s.rec, nil
	}
	s.err = io.EOF
	return nil, io.EOF
}
