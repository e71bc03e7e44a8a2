package redistest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killTree kills a server and the children it forked (an RDB child for a
// sync or a save outlives its parent's SIGKILL, and would go on writing in
// the test's directory, its log included, while the test removes it). The
// server is stopped first, so that it forks no child meanwhile.
func killTree(p *os.Process) {
	p.Signal(syscall.SIGSTOP) //nolint:errcheck // it may have exited already
	waitState(p.Pid, "T", time.Second)
	kids := children(p.Pid)
	for _, pid := range kids {
		syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck
	}
	p.Kill() //nolint:errcheck
	for _, pid := range kids {
		waitState(pid, "Z", time.Second) // dead, or gone
	}
}

// children returns the processes forked by any thread of process pid.
func children(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var kids []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for f := range strings.FieldsSeq(string(b)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// waitState waits until process pid is in one of the states (a letter of
// /proc/pid/stat), or gone, or d has passed.
func waitState(pid int, states string, d time.Duration) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		// pid (comm) S ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || strings.IndexByte(states, b[i+2]) >= 0 {
			return
		}
	}
}
