package live_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
	"github.com/redtap/redtap/monitor"
)

func TestChan(t *testing.T) {
	src, h := newHub(t, 10*time.Millisecond)
	ch, cancel, err := live.Chan(h.Assembler(), []string{"b:*"}, 4)
	require.NoError(t, err)
	src.snapshot(100, "a:1", "b:1")
	m := <-ch
	require.Equal(t, "updates", m.Event)
	require.Equal(t, []string{"b:1"}, keysOf(t, string(m.Data)))
	src.zadd(110, "b:1", 5, "z")
	m = <-ch
	require.Equal(t, "dUpdates", m.Event)
	require.EqualValues(t, 110, m.ID)

	cancel()
	cancel()
	_, ok := <-ch
	require.False(t, ok, "closed by cancel")
	require.Zero(t, h.Assembler().Stats().Subscribers)

	_, _, err = live.Chan(h.Assembler(), nil, 0)
	require.ErrorIs(t, err, live.ErrConfig)
}

func TestHubEnds(t *testing.T) {
	a, err := assembler.New(assembler.Config{Windows: []assembler.Window{{Match: "*"}}})
	require.NoError(t, err)
	newSub := func() *monitor.Subscriber {
		m, err := monitor.New(make(chanSource))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		s, err := m.Subscribe(monitor.Filter{})
		require.NoError(t, err)
		return s
	}

	ctx, cancel := context.WithCancel(context.Background())
	h, err := live.NewHub(ctx, newSub(), a, live.Config{})
	require.NoError(t, err)
	require.NoError(t, h.Err(), "running")
	cancel()
	<-h.Done()
	require.ErrorIs(t, h.Err(), context.Canceled)
	require.NoError(t, h.Close())

	// The subscriber closed under the hub: Close reports it.
	s := newSub()
	h, err = live.NewHub(context.Background(), s, a, live.Config{})
	require.NoError(t, err)
	s.Close()
	<-h.Done()
	require.ErrorIs(t, h.Close(), monitor.ErrClosed)

	_, err = live.NewHub(context.Background(), nil, a, live.Config{})
	require.ErrorIs(t, err, live.ErrConfig)
	_, err = live.NewHub(context.Background(), s, a, live.Config{QueueLen: -1})
	require.ErrorIs(t, err, live.ErrConfig)
	_, err = live.NewHub(context.Background(), s, a, live.Config{QueueLen: live.MaxQueueLen + 1})
	require.ErrorIs(t, err, live.ErrConfig)
	_, err = live.NewHub(context.Background(), s, a, live.Config{Interval: -2})
	require.ErrorIs(t, err, live.ErrConfig)

	// AtOnce: Apply delivers; the ticker only retries.
	src := make(chanSource)
	mo, err := monitor.New(src)
	require.NoError(t, err)
	defer mo.Close()
	s, err = mo.Subscribe(monitor.Filter{})
	require.NoError(t, err)
	a, err = assembler.New(assembler.Config{Windows: []assembler.Window{{Match: "*"}}, Interval: assembler.AtOnce})
	require.NoError(t, err)
	h, err = live.NewHub(context.Background(), s, a, live.Config{Interval: assembler.AtOnce})
	require.NoError(t, err)
	defer h.Close()
	ch, cancelCh, err := live.Chan(a, nil, 4)
	require.NoError(t, err)
	defer cancelCh()
	src.snapshot(10, "k")
	require.Equal(t, "updates", (<-ch).Event)
	src.zadd(20, "k", 1, "m")
	require.EqualValues(t, 20, (<-ch).ID)
}
