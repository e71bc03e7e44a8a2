package monitor

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/replica"
)

// bufferedSource is a memSource whose first `arrived` events have been
// received: Buffered tells how many of those Next has not returned.
type bufferedSource struct {
	memSource
	arrived atomic.Int64
}

func (s *bufferedSource) Buffered() int { return int(s.arrived.Load()) - s.Reads() }

// TryNext returns what the source has received, skipping what the filter
// drops, and then nil without waiting for the network.
func TestTryNext(t *testing.T) {
	ctx := testCtx(t)
	src := &bufferedSource{memSource: memSource{block: true, events: []replica.Event{
		command(0, 10, "SET", "a:1", "x"),
		command(0, 20, "SET", "b:1", "x"), // filtered out
		command(0, 30, "SET", "a:2", "x"),
		command(0, 40, "SET", "b:2", "x"), // filtered out
		command(0, 50, "SET", "a:3", "x"),
	}}}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	s, err := m.Subscribe(Filter{Match: []string{"a:*"}})
	require.NoError(t, err)

	b, err := s.TryNext(ctx)
	require.NoError(t, err)
	require.Nil(t, b, "nothing received yet")

	src.arrived.Store(4)
	var offs []int64
	for {
		b, err := s.TryNext(ctx)
		require.NoError(t, err)
		if b == nil {
			break
		}
		offs = append(offs, b.Offset)
	}
	require.Equal(t, []int64{10, 30}, offs)
	require.Equal(t, 4, src.Reads(), "the filtered event at hand was read too")

	src.arrived.Store(5)
	b, err = s.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(50), b.Offset)
}

// TryNext takes what another subscriber's read queued; while another
// subscriber holds the pump it does not wait for it. A source without
// Buffered gives only what is queued.
func TestTryNextQueued(t *testing.T) {
	ctx := testCtx(t)
	src := &memSource{block: true, events: []replica.Event{
		command(0, 10, "SET", "a", "x"),
		command(0, 20, "SET", "b", "x"),
	}}
	m, err := New(src)
	require.NoError(t, err)
	defer m.Close()
	s1, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	s2, err := m.Subscribe(Filter{})
	require.NoError(t, err)
	b, err := s2.TryNext(ctx)
	require.NoError(t, err)
	require.Nil(t, b)
	for _, want := range []int64{10, 20} {
		b, err := s1.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, want, b.Offset)
	}
	for _, want := range []int64{10, 20} {
		b, err := s2.TryNext(ctx)
		require.NoError(t, err)
		require.Equal(t, want, b.Offset)
	}
	b, err = s2.TryNext(ctx)
	require.NoError(t, err)
	require.Nil(t, b)
	require.NoError(t, s2.Close())
	_, err = s2.TryNext(ctx)
	require.ErrorIs(t, err, ErrClosed)
}
