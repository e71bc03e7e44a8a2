package redistest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKillChildren: Kill takes the server's RDB child with it, so that
// nothing writes in the test's directory once Kill returns.
func TestKillChildren(t *testing.T) {
	s := Start(t, Options{})
	ctx := context.Background()
	c := s.Client()
	for _, cmd := range [][]any{
		{"SET", "a", "1"}, {"SET", "b", "2"},
		{"CONFIG", "SET", "rdb-key-save-delay", "1000000"}, // a child that lasts seconds
		{"BGSAVE"},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	var kids []int
	for end := time.Now().Add(5 * time.Second); len(kids) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no BGSAVE child")
		}
		kids = children(s.cmd.Process.Pid)
	}
	s.Kill()
	for _, pid := range kids {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
		if err == nil && !isZombie(b) {
			t.Fatalf("child %d still runs after Kill: %s", pid, b)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// isZombie reports whether a /proc/pid/stat line is a dead process's.
func isZombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
