package cluster

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/redcon"
)

// TestCtlPool: the barriers' INFO queries reuse a connection, survive the
// server closing an idle one, and leave nothing open once the pool is
// closed.
func TestCtlPool(t *testing.T) {
	var accepted, open atomic.Int64
	var mu sync.Mutex
	var conns []redcon.Conn
	off := int64(100)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := redcon.NewServerNetwork("tcp", l.Addr().String(),
		func(c redcon.Conn, cmd redcon.Command) {
			mu.Lock()
			off++
			c.WriteBulkString("# Replication\r\nrole:master\r\nmaster_replid:abc\r\nmaster_repl_offset:" + strconv.FormatInt(off, 10) + "\r\n")
			mu.Unlock()
		},
		func(c redcon.Conn) bool {
			accepted.Add(1)
			open.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			return true
		},
		func(c redcon.Conn, err error) { open.Add(-1) })
	go srv.Serve(l) //nolint:errcheck
	defer srv.Close()

	cfg := Config{Addrs: []string{l.Addr().String()}}
	cfg.defaults()
	ctx := context.Background()
	var p ctlPool
	addr := l.Addr().String()
	for want := int64(101); want <= 103; want++ {
		got, err := p.offset(ctx, &cfg, addr)
		if err != nil || got != want {
			t.Fatalf("offset = %d, %v; want %d", got, err, want)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d connections for 3 queries, want 1", n)
	}

	// The server closes the idle connection: one retry on a new one.
	mu.Lock()
	for _, c := range conns {
		c.NetConn().Close() // safe from another goroutine, unlike Conn.Close
	}
	mu.Unlock()
	waitFor(t, func() bool { return open.Load() == 0 })
	if got, err := p.offset(ctx, &cfg, addr); err != nil || got != 104 {
		t.Fatalf("offset after the server closed the connection = %d, %v", got, err)
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}

	p.close()
	waitFor(t, func() bool { return open.Load() == 0 })
	// A query after close still answers, and its connection is not kept.
	if _, err := p.offset(ctx, &cfg, addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return open.Load() == 0 })

	// A cancelled query fails and keeps no connection.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.offset(cctx, &cfg, addr); err == nil {
		t.Fatal("a cancelled query succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("condition not met within 5s")
		}
	}
}
