package monitor

import (
	"fmt"
	"strconv"
)

// SlowPolicy says what happens when a subscriber's queue is full.
type SlowPolicy uint8

// The slow-subscriber policies.
const (
	// Block (the default): the monitor waits until the subscriber makes
	// room. Every other subscriber waits too, the source is not read, and
	// with a replica the backpressure reaches the master (see package
	// replica). Lossless.
	Block SlowPolicy = iota
	// Drop: the subscriber is closed: its queue is dropped and its Next
	// returns an error matching ErrSlowSubscriber. The others go on.
	Drop
	// Reset: the subscriber's queue is dropped and replaced by a Reset
	// batch whose event's Err matches ErrSlowSubscriber, with the Offset of
	// the batch that did not fit, which follows it; later batches are
	// delivered as usual. The others go on.
	Reset
)

// String returns "block", "drop" or "reset".
func (p SlowPolicy) String() string {
	switch p {
	case Block:
		return "block"
	case Drop:
		return "drop"
	case Reset:
		return "reset"
	}
	return "slowpolicy(" + strconv.Itoa(int(p)) + ")"
}

// Default queue bounds.
const (
	DefaultQueueLen   = 1024
	DefaultQueueBytes = 64 << 20
)

// QueueLen bounds the subscriber's queue to n batches (default
// DefaultQueueLen).
func QueueLen(n int) SubscribeOption {
	return subOptionFunc(func(s *Subscriber) error {
		if n < 1 {
			return fmt.Errorf("monitor: QueueLen %d, want 1 or more", n)
		}
		s.q.maxLen = n
		return nil
	})
}

// QueueBytes bounds the memory the subscriber's queued batches hold to n
// bytes (default DefaultQueueBytes): keys, values and events. A batch
// always fits an empty queue, however large.
func QueueBytes(n int64) SubscribeOption {
	return subOptionFunc(func(s *Subscriber) error {
		if n < 1 {
			return fmt.Errorf("monitor: QueueBytes %d, want 1 or more", n)
		}
		s.q.maxBytes = n
		return nil
	})
}

// OnSlow sets the policy for a full queue (default Block).
func OnSlow(p SlowPolicy) SubscribeOption {
	return subOptionFunc(func(s *Subscriber) error {
		if p > Reset {
			return fmt.Errorf("monitor: unknown SlowPolicy %d", p)
		}
		s.q.policy = p
		return nil
	})
}

// queue is a subscriber's queue of batches, with its bounds and what
// happens when it is full.
type queue struct {
	ring
	bytes    int64 // what the queued batches hold (Batch.size)
	maxLen   int
	maxBytes int64
	policy   SlowPolicy
}

// fits reports whether b fits in the queue.
func (s *Subscriber) fits(b *Batch) bool {
	return s.q.n == 0 || s.q.n < s.q.maxLen && s.q.bytes+b.size <= s.q.maxBytes
}

// push queues b and wakes s.
func (s *Subscriber) push(b *Batch) {
	if b.blk != nil {
		b.blk.refs++
	}
	s.q.push(b)
	s.q.bytes += b.size
	if s.wait.parked {
		s.signal()
	}
}

// pop dequeues the next batch (m.mu held).
func (s *Subscriber) pop() *Batch {
	if s.q.n == 0 {
		return nil
	}
	b := s.q.pop()
	s.q.bytes -= b.size
	s.retOffset = b.Offset
	s.st.Delivered++
	s.st.Events += int64(len(b.Events))
	if s.wait.waitedOn {
		select {
		case s.wait.space <- struct{}{}:
		default:
		}
	}
	return b
}

// resetLocked replaces the queue with a Reset batch (the Reset policy).
func (s *Subscriber) resetLocked(offset int64) {
	dropped := 0
	for s.q.n > 0 {
		b := s.q.pop()
		if b.seq != 0 { // not an earlier Reset marker
			dropped++
		}
		s.m.releaseLocked(b)
	}
	s.q.bytes = 0
	s.st.Dropped += int64(dropped)
	s.st.Resets++
	err := fmt.Errorf("%w: %d batches dropped, queue full at offset %d", ErrSlowSubscriber, dropped, offset)
	r := &Batch{Offset: offset, Events: []Event{{Kind: KindReset, Offset: offset, Err: err}}}
	s.q.push(r)
}

// ring is the circular buffer of a queue.
type ring struct {
	buf     []*Batch
	head, n int
}

func (r *ring) push(b *Batch) {
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
}

func (r *ring) pop() *Batch {
	b := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return b
}
