package main

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
	"syscall"
	"time"
)

// errNoRedisServer is returned by startRedis when redis-server is not on the
// PATH. Its message says what to install.
var errNoRedisServer = errors.New("redis-server not found on PATH: install it " +
	"(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), " +
	"or point --redis at a running server")

// Timeouts of the managed server.
const (
	redisStartTimeout = 10 * time.Second // until it answers PING
	redisStopGrace    = 5 * time.Second  // between SIGTERM and SIGKILL
)

// redisProc is a redis-server child process that sysmon starts when no
// --redis is given: a throwaway server on a free loopback port, without
// persistence, in its own temporary directory.
//
// Stop ends it. If sysmon itself dies without calling Stop (SIGKILL), the
// child gets SIGKILL from the kernel on Linux (Pdeathsig, see
// redisproc_linux.go) and its temporary directory stays behind in
// os.TempDir() as redtap-sysmon-*.
type redisProc struct {
	Addr string // "127.0.0.1:port"
	Dir  string // working directory, removed by Stop
	Log  string // redis-server's log file, inside Dir

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	stopOnce sync.Once
	stopErr  error
}

// startRedis starts redis-server (bin, or the one on the PATH when bin is
// empty) and returns once it answers PING.
func startRedis(ctx context.Context, bin string) (*redisProc, error) {
	if bin == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			return nil, errNoRedisServer
		}
		bin = p
	}
	dir, err := os.MkdirTemp("", "redtap-sysmon-")
	if err != nil {
		return nil, err
	}
	// The port is free when we look, but another process may take it
	// before redis-server binds it: then try another one.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		p, err := launchRedis(ctx, bin, dir, port)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("start redis-server: %w", lastErr)
}

func launchRedis(ctx context.Context, bin, dir string, port int) (*redisProc, error) {
	p := &redisProc{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:  dir,
		Log:  filepath.Join(dir, "redis.log"),
		done: make(chan struct{}),
	}
	os.Remove(p.Log)
	p.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--repl-diskless-sync-delay", "0",
		"--daemonize", "no", "--logfile", p.Log)
	p.cmd.Dir = dir
	// Own process group, so that Ctrl-C in a terminal reaches sysmon only,
	// which then stops the collector before the server; plus Pdeathsig.
	p.cmd.SysProcAttr = childAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.cmd.Wait() //nolint:errcheck // the exit status of a server we stop is not interesting
		close(p.done)
	}()
	deadline := time.Now().Add(redisStartTimeout)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("redis-server exited at start: %s", p.tailLog())
		case <-ctx.Done():
			p.kill()
			return nil, ctx.Err()
		default:
		}
		if pingRedis(p.Addr) == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("redis-server did not answer PING within %v: %s", redisStartTimeout, p.tailLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after redisStopGrace), waits
// for it and removes its directory. Stop is idempotent.
func (p *redisProc) Stop() error {
	p.stopOnce.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited already
		select {
		case <-p.done:
		case <-time.After(redisStopGrace):
			p.kill()
		}
		p.stopErr = os.RemoveAll(p.Dir)
	})
	return p.stopErr
}

// Pid returns the server's process id.
func (p *redisProc) Pid() int { return p.cmd.Process.Pid }

func (p *redisProc) kill() {
	p.cmd.Process.Kill() //nolint:errcheck // it may have exited already
	<-p.done
}

func (p *redisProc) tailLog() string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 1000 {
		b = b[len(b)-1000:]
	}
	return strings.TrimSpace(string(b))
}

// pingRedis sends one inline PING and wants +PONG (or -NOAUTH, which also
// means the server is up).
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second)) //nolint:errcheck // a failed deadline shows as a read error
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line == "+PONG\r\n" || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING: %q", strings.TrimSpace(line))
}

// freePort returns a TCP port that is free on 127.0.0.1 right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
