// Package redistest starts real redis-server processes for tests on free
// loopback ports. A test that needs one calls Start; when the binary is
// missing the test is skipped, unless REDTAP_REQUIRE_REDIS is set, in which
// case it fails (CI sets it).
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a server. Zero values give a plain server with no
// persistence.
type Options struct {
	// Args are extra configuration directives as command-line pairs, e.g.
	// []string{"--repl-diskless-sync", "no"}.
	Args []string
	// Password sets requirepass (the default user's password).
	Password string
	// TLS, when set, makes the server listen with TLS only (tls-port) using
	// these files and require client certificates when ClientAuth is set.
	TLS        *TLSFiles
	ClientAuth bool
	// ReplicaOf makes the server a replica of that "host:port".
	ReplicaOf string
	// Binary overrides the server binary (default: redis-server on PATH).
	Binary string
}

// Server is a running redis-server.
type Server struct {
	Addr string // "127.0.0.1:port"
	Port int
	Dir  string // working directory (dump.rdb, logs)
	Log  string // path of the log file

	opts Options
	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of a redis binary (redis-server, redis-cli,
// redis-check-rdb). When it is missing it skips the test, or fails it when
// REDTAP_REQUIRE_REDIS is set.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("REDTAP_REQUIRE_REDIS") != "" {
			t.Fatalf("%s not found and REDTAP_REQUIRE_REDIS is set: %v", name, err)
		}
		t.Skipf("%s not found (install redis-server, or set REDTAP_REQUIRE_REDIS=1 to fail instead)", name)
	}
	return p
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a redis-server and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{Dir: t.TempDir(), opts: opts, t: t}
	bin := s.binary()
	s.Log = filepath.Join(s.Dir, "redis.log")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		if lastErr = s.start(bin); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("start redis-server: %v\n%s", lastErr, s.tailLog())
	return nil
}

// binary returns Options.Binary or the redis-server on PATH.
func (s *Server) binary() string {
	s.t.Helper()
	if s.opts.Binary != "" {
		return s.opts.Binary
	}
	return Binary(s.t, "redis-server")
}

func (s *Server) args() []string {
	a := []string{
		"--bind", "127.0.0.1", "--dir", s.Dir, "--logfile", s.Log,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--protected-mode", "no", "--enable-debug-command", "yes",
	}
	if s.opts.TLS != nil {
		a = append(a, "--port", "0", "--tls-port", strconv.Itoa(s.Port),
			"--tls-cert-file", s.opts.TLS.ServerCert, "--tls-key-file", s.opts.TLS.ServerKey,
			"--tls-ca-cert-file", s.opts.TLS.CACert, "--tls-replication", "yes")
		if s.opts.ClientAuth {
			a = append(a, "--tls-auth-clients", "yes")
		} else {
			a = append(a, "--tls-auth-clients", "no")
		}
	} else {
		a = append(a, "--port", strconv.Itoa(s.Port))
	}
	if s.opts.Password != "" {
		a = append(a, "--requirepass", s.opts.Password, "--masterauth", s.opts.Password)
	}
	if s.opts.ReplicaOf != "" {
		h, p, _ := net.SplitHostPort(s.opts.ReplicaOf)
		a = append(a, "--replicaof", h, p)
	}
	return append(a, s.opts.Args...)
}

func (s *Server) start(bin string) error {
	cmd := exec.Command(bin, s.args()...)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", s.tailLog())
		default:
		}
		if s.ping() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return errors.New("redis-server did not answer PING within 10s")
}

func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c := redis.NewClient(s.clientOptions())
	defer c.Close()
	return c.Ping(ctx).Err()
}

func (s *Server) clientOptions() *redis.Options {
	o := &redis.Options{Addr: s.Addr, Password: s.opts.Password, MaxRetries: -1, DisableIdentity: true, Protocol: 2}
	if s.opts.TLS != nil {
		o.TLSConfig = s.opts.TLS.ClientConfig(s.t)
	}
	return o
}

// Client returns a go-redis client for the server, closed when the test
// ends.
func (s *Server) Client() *redis.Client {
	o := s.clientOptions()
	o.MaxRetries = 3
	c := redis.NewClient(o)
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Kill stops the server with SIGKILL, and any child it forked (an RDB
// child), and waits for it. Kill is idempotent.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	killTree(cmd.Process)
	<-done
}

// Restart kills the server and starts it again on the same port and
// directory (loading dump.rdb when persistence was configured).
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(s.binary()); err != nil {
		s.t.Fatalf("restart redis-server: %v", err)
	}
}

func (s *Server) tailLog() string {
	b, _ := os.ReadFile(s.Log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Info returns the fields of INFO <section> as a map.
func (s *Server) Info(ctx context.Context, section string) (map[string]string, error) {
	c := redis.NewClient(s.clientOptions())
	defer c.Close()
	txt, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(txt))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// WaitFor polls cond every 20ms until it holds or the timeout passes, then
// fails the test with msg.
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, msg)
}
