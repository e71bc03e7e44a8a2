package faultproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoServer answers every line with the same line, prefixed by name.
func echoServer(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, name+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dialProxy(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, msg string) (string, error) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	s, err := r.ReadString('\n')
	return s, err
}

func TestForwardCutRedirect(t *testing.T) {
	a, b := echoServer(t, "a:"), echoServer(t, "b:")
	p, err := New(a)
	require.NoError(t, err)
	defer p.Close()

	c, r := dialProxy(t, p)
	got, err := roundTrip(t, c, r, "hello")
	require.NoError(t, err)
	require.Equal(t, "a:hello\n", got)
	require.Equal(t, 1, p.Conns())

	require.Equal(t, 1, p.Cut())
	_, err = r.ReadString('\n')
	require.Error(t, err, "a cut connection reads EOF")
	require.EqualValues(t, 1, p.Cuts())

	p.Redirect(b, false)
	require.Equal(t, b, p.Target())
	c2, r2 := dialProxy(t, p)
	got, err = roundTrip(t, c2, r2, "x")
	require.NoError(t, err)
	require.Equal(t, "b:x\n", got)
	require.EqualValues(t, 2, p.Accepted())

	require.NoError(t, p.Close())
	require.EqualValues(t, len("hello\nx\n"), p.BytesUp())
	require.EqualValues(t, len("a:hello\nb:x\n"), p.BytesDown())
}

func TestCutAfter(t *testing.T) {
	p, err := New(echoServer(t, ""))
	require.NoError(t, err)
	defer p.Close()
	c, r := dialProxy(t, p)
	_, err = roundTrip(t, c, r, "warm")
	require.NoError(t, err)

	p.CutAfter(5)
	require.True(t, p.Armed())
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, "0123456789\n")
	require.NoError(t, err)
	b, err := io.ReadAll(r)
	require.NoError(t, err, "the proxy closes the connection cleanly")
	require.Equal(t, "01234", string(b), "exactly the armed number of bytes")
	require.False(t, p.Armed())
	require.NoError(t, p.Close())
	require.EqualValues(t, len("warm\n01234"), p.BytesDown())
}

func TestDownAndStall(t *testing.T) {
	p, err := New(echoServer(t, ""))
	require.NoError(t, err)
	defer p.Close()

	p.SetDown(true)
	c, r := dialProxy(t, p)
	_, err = roundTrip(t, c, r, "x")
	require.Error(t, err, "a down proxy closes new connections")
	p.SetDown(false)

	c, r = dialProxy(t, p)
	_, err = roundTrip(t, c, r, "y")
	require.NoError(t, err)

	p.Stall(true)
	_, err = io.WriteString(c, "stalled\n")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err = r.ReadString('\n')
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "nothing is forwarded while stalled")

	p.Stall(false)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	got, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "stalled\n", got)

	// A cut during a stall ends the stalled connection at once.
	p.Stall(true)
	_, err = io.WriteString(c, "z\n")
	require.NoError(t, err)
	require.Equal(t, 1, p.Cut())
	require.Zero(t, p.Conns())
	_, err = r.ReadString('\n')
	require.Error(t, err, "the stalled connection is closed")
	p.Stall(false)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
}
