package replica

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newTestHold holds what the far end of a net.Pipe writes.
func newTestHold(t *testing.T, memLimit, limit int64) (*heldConn, net.Conn, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	near, far := net.Pipe()
	var held, spilled atomic.Int64
	h := &hold{src: near, conn: near, timeout: time.Minute, memLimit: memLimit, limit: limit, dir: t.TempDir(),
		held: &held, spilled: &spilled, keepalive: func() {}}
	startHold(h, time.Hour)
	hc := &heldConn{Conn: near, h: h}
	t.Cleanup(func() {
		far.Close()
		hc.Close()
	})
	return hc, far, &held, &spilled
}

// TestHoldOrder: whatever goes to memory or to the file, the consumer reads
// the bytes in the order they came, before and after the snapshot's end.
func TestHoldOrder(t *testing.T) {
	hc, far, held, spilled := newTestHold(t, 1000, 0)
	rnd := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	write := func(n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		want.Write(b)
		_, err := far.Write(b)
		require.NoError(t, err)
	}
	for i := 0; i < 50; i++ {
		write(1 + rnd.IntN(300))
	}
	// Wait until the hold has taken all of it.
	require.Eventually(t, func() bool { return held.Load() == int64(want.Len()) }, 10*time.Second, time.Millisecond)
	require.Positive(t, spilled.Load(), "past memLimit, in the file")
	before := want.Len()

	hc.h.pipe()
	var got bytes.Buffer
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 77)
		for got.Len() < before+20000 {
			n, err := hc.Read(buf)
			if err != nil {
				done <- err
				return
			}
			got.Write(buf[:n])
		}
		done <- nil
	}()
	for want.Len() < before+20000 {
		write(min(1+rnd.IntN(500), before+20000-want.Len()))
	}
	require.NoError(t, <-done)
	require.Equal(t, want.Bytes(), got.Bytes())
	require.Equal(t, int64(before), held.Load(), "only bytes before the snapshot's end count as held")
}

// TestHoldLimit: past HoldLimit the hold ends with ErrHoldLimit, after the
// data, and aborts the snapshot.
func TestHoldLimit(t *testing.T) {
	near, far := net.Pipe()
	defer far.Close()
	var held, spilled atomic.Int64
	aborted := make(chan struct{})
	h := &hold{src: near, conn: near, timeout: time.Minute, memLimit: 100, limit: 500, dir: t.TempDir(),
		held: &held, spilled: &spilled, keepalive: func() {}, abort: func() { close(aborted) }}
	startHold(h, time.Hour)
	hc := &heldConn{Conn: near, h: h}
	defer hc.Close()
	go func() {
		for i := 0; i < 10; i++ {
			if _, err := far.Write(make([]byte, 100)); err != nil {
				return
			}
		}
	}()
	select {
	case <-aborted:
	case <-time.After(10 * time.Second):
		t.Fatal("no abort")
	}
	n, err := io.Copy(io.Discard, readerFunc(hc.Read))
	require.ErrorIs(t, err, ErrHoldLimit)
	require.EqualValues(t, 500, n, "what was held before the limit is still delivered")
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestHoldDeadline: a read deadline in the past unblocks a waiting read,
// as connReader's cancellation needs.
func TestHoldDeadline(t *testing.T) {
	hc, _, _, _ := newTestHold(t, 1000, 0)
	errc := make(chan error, 1)
	go func() {
		_, err := hc.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, hc.SetReadDeadline(longAgo))
	err := <-errc
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	require.NoError(t, hc.Close())
	_, err = hc.Read(make([]byte, 10))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestParseEndOff(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef01234567"
	e, err := parseEndOff("$ENDOFF:1234 " + id + " 0 17")
	require.NoError(t, err)
	require.Equal(t, endOff{offset: 1234, replid: id, db: 0, clientID: 17}, e)
	for _, bad := range []string{"$ENDOFF:1234 " + id + " 0", "$ENDOFF:x " + id + " 0 1", "$ENDOFF:1 short 0 1", "+OK", "$EOF:abc"} {
		_, err := parseEndOff(bad)
		require.ErrorIs(t, err, ErrProtocol, bad)
	}
	_, err = parseEndOff("-LOADING")
	require.ErrorIs(t, err, ErrMasterBusy)
}

func TestDualChannelMode(t *testing.T) {
	for _, m := range []DualChannelMode{DualChannelAuto, DualChannelOn, DualChannelOff} {
		got, err := ParseDualChannelMode(m.String())
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	_, err := ParseDualChannelMode("yes")
	require.Error(t, err)
	_, err = Config{Addr: "x:1", DualChannel: DualChannelConfig{Mode: 7}}.withDefaults()
	require.Error(t, err)
}
