// Package jetstreamtest runs a real NATS server with JetStream inside a
// test process (github.com/nats-io/nats-server/v2), on a loopback port,
// storing its streams in files under a directory, and restarts it there.
package jetstreamtest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running NATS server with JetStream.
type Server struct {
	t    testing.TB
	dir  string
	port int
	opts server.Options
	srv  *server.Server
}

// Start starts a server on a free loopback port, with file storage in dir
// (t.TempDir() when empty), and shuts it down at the end of the test.
// configure, when not nil, may change the options (users, limits) before the
// server starts.
func Start(t testing.TB, dir string, configure func(*server.Options)) *Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, dir: dir, port: port}
	s.opts = server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true, ServerName: "redtap-test"}
	if configure != nil {
		configure(&s.opts)
	}
	s.start()
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		s.t.Fatalf("nats-server on port %d did not start", s.port)
	}
	s.srv = srv
}

// URL is the server's "nats://127.0.0.1:port".
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Shutdown stops the server and waits until it has; the files stay.
func (s *Server) Shutdown() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts the server again on the same port and directory (after
// Shutdown, or shutting it down first).
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	s.start()
}
