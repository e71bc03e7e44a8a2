package replica_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/replica"
)

// blockMaster is a minimal master for benchmarks: after the handshake it
// sends an empty snapshot, then the same block of commands over and over
// until the connection closes. It allocates nothing per command, so that
// the allocations a benchmark reports are the replica's.
func blockMaster(b *testing.B, block []byte) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
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
	}()
	return ln.Addr().String()
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

// BenchmarkNextSET measures Replica.Next over loopback TCP on a stream of
// SETs like redis-benchmark's (16-byte keys and values): one op is one
// command delivered. Run with -benchmem for the allocations per command.
func BenchmarkNextSET(b *testing.B) {
	var block []byte
	const perBlock = 10000
	for i := 0; i < perBlock; i++ {
		k := fmt.Sprintf("key:%012d", i)
		block = fmt.Appendf(block, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n", len(k), k, strings.Repeat("x", 16))
	}
	addr := blockMaster(b, block)
	ctx := context.Background()
	r, err := replica.Dial(ctx, replica.Config{Addr: addr, Snapshot: replica.SnapshotSkip, MaxRetries: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := ev.(*replica.SnapshotDone); ok {
			break
		}
	}
	b.SetBytes(int64(len(block) / perBlock))
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for range b.N {
		ev, err := r.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := ev.(*replica.Command); !ok {
			b.Fatalf("got %T", ev)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmd/s")
	// allocs/op is rounded down to an integer; this is the exact mean.
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "mallocs/cmd")
}
