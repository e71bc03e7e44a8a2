package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

// processGone reports whether pid no longer runs: it does not exist, or it
// is a zombie waiting for a parent (init) to reap it.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

const helperEnv = "SYSMON_TEST_MANAGED_REDIS_HELPER"

// TestManagedRedisHelper is not a test: run by TestManagedRedisParentKilled
// as a child process, it starts a managed redis-server, prints its pid and
// directory, and waits to be killed.
func TestManagedRedisHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestManagedRedisParentKilled")
	}
	p, err := startRedis(t.Context(), "")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(p.Pid(), p.Dir)
	select {}
}

// A sysmon killed with SIGKILL cannot stop its redis-server: the kernel
// does (Pdeathsig).
func TestManagedRedisParentKilled(t *testing.T) {
	redistest.Binary(t, "redis-server")
	cmd := exec.Command(os.Args[0], "-test.run=^TestManagedRedisHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck // cleanup
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	var pid int
	var dir string
	_, err = fmt.Sscan(line, &pid, &dir)
	require.NoError(t, err, "helper said %q", line)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.False(t, processGone(pid), "redis-server not running")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait() //nolint:errcheck // killed
	redistest.WaitFor(t, 10*time.Second, "redis-server to die with its parent", func() bool { return processGone(pid) })
}
