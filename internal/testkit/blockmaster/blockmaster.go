// Package blockmaster is a minimal master for benchmarks: after the
// replication handshake it sends an empty snapshot, then the same block of
// commands over and over until the connection closes. It allocates nothing
// per command, so that the allocations a benchmark reports are the
// consumer's (replica's BenchmarkNextSET, monitor's BenchmarkTap).
package blockmaster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/replica"
)

// Start listens on a loopback port, serves one replica with block repeated
// forever, and returns the address. The listener closes when the benchmark
// ends.
func Start(tb testing.TB, block []byte) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go serve(ln, block)
	return ln.Addr().String()
}

func serve(ln net.Listener, block []byte) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		args, err := readCommand(br)
		if err != nil {
			return
		}
		if strings.EqualFold(args[0], "PSYNC") || strings.EqualFold(args[0], "SYNC") {
			break
		}
		reply := "+OK\r\n"
		if strings.EqualFold(args[0], "PING") {
			reply = "+PONG\r\n"
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
	snap := fakemaster.EmptyRDB()
	hdr := fmt.Sprintf("+FULLRESYNC %s 0\r\n$%d\r\n", strings.Repeat("a", 40), len(snap))
	if _, err := c.Write(append([]byte(hdr), snap...)); err != nil {
		return
	}
	go io.Copy(io.Discard, br) //nolint:errcheck // REPLCONF ACKs
	for {
		if _, err := c.Write(block); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || line[0] != '*' {
		return nil, fmt.Errorf("bad command line %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if _, err := br.ReadString('\n'); err != nil {
			return nil, err
		}
		a, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(a, "\r\n")
	}
	return args, nil
}

// SETs returns a block of n SET commands with 16-byte values, as
// redis-benchmark writes them; key(i) names the i-th command's key.
func SETs(n int, key func(i int) string) []byte {
	var block []byte
	for i := 0; i < n; i++ {
		k := key(i)
		block = fmt.Appendf(block, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n", len(k), k, "xxxxxxxxxxxxxxxx")
	}
	return block
}

// Dial starts a master serving block (Start) and connects a replica to it
// that skips the (empty) snapshot. It reads up to the snapshot's end, so
// that the replica's next events are the block's commands. The replica
// closes when the benchmark ends.
//
// blockmaster imports replica for this: replica's own tests that use it
// are in package replica_test.
func Dial(tb testing.TB, block []byte) *replica.Replica {
	tb.Helper()
	ctx := context.Background()
	r, err := replica.Dial(ctx, replica.Config{Addr: Start(tb, block), Snapshot: replica.SnapshotSkip, MaxRetries: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if _, ok := ev.(*replica.SnapshotDone); ok {
			return r
		}
	}
}
