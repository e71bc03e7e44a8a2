// Command fanoutfloor measures what fanning messages out to loopback TCP
// sockets costs this machine with no Redis and no redtap at all: the
// floor under the live-delivery figures of BENCHMARKS.md. It starts itself
// again as the reading process, opens --conns connections to it, and every
// --every writes a --size message (its first 8 bytes the write time) to
// each connection in turn from one goroutine. The reader reads each
// connection in a goroutine of its own and times every read against the
// time in it. It prints the writes per second, both processes' CPU and
// the reader's latency from the start of each round.
//
//	fanoutfloor --conns 100 --size 2100 --every 2.3ms --dur 10s
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redtap/redtap/internal/testkit/benchdata"
)

func main() {
	var (
		read  = flag.Bool("read", false, "be the reading process (started by the writer)")
		conns = flag.Int("conns", 100, "connections")
		size  = flag.Int("size", 2100, "bytes per message")
		every = flag.Duration("every", 2300*time.Microsecond, "how often a message goes to every connection")
		dur   = flag.Duration("dur", 10*time.Second, "how long to write")
	)
	flag.Parse()
	if *read {
		reader()
		return
	}
	if *size < 8 {
		fail(fmt.Errorf("--size %d: at least 8", *size))
	}

	// The reader: its listening address on its first line of output,
	// its figures on the next once its input ends.
	cmd := exec.Command(os.Args[0], "--read")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fail(err)
	}
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	var addr string
	if _, err := fmt.Fscanln(out, &addr); err != nil {
		fail(fmt.Errorf("reader: %v", err))
	}
	var cs []net.Conn
	for range *conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fail(err)
		}
		cs = append(cs, c)
	}
	msg := make([]byte, *size)
	cpu0 := selfCPU()
	tick := time.NewTicker(*every)
	end := time.Now().Add(*dur)
	writes := 0
	for time.Now().Before(end) {
		<-tick.C
		binary.LittleEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		for _, c := range cs {
			if _, err := c.Write(msg); err != nil {
				fail(err)
			}
			writes++
		}
	}
	cpu := selfCPU() - cpu0
	time.Sleep(100 * time.Millisecond) // the last reads
	stdin.Close()                      // the reader reports
	var rep strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := out.Read(buf)
		rep.Write(buf[:n])
		if err != nil {
			break
		}
	}
	_ = cmd.Wait()
	fmt.Printf("conns=%d size=%d every=%s writes=%.0f/s writer_cpu=%.0f%% %s\n", *conns, *size, *every,
		float64(writes)/dur.Seconds(), 100*cpu.Seconds()/dur.Seconds(), strings.TrimSpace(rep.String()))
}

// reader accepts connections and times every read until its stdin ends.
func reader() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	fmt.Println(l.Addr())
	var (
		mu   sync.Mutex
		lats []time.Duration
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				b := make([]byte, 64<<10)
				for {
					n, err := c.Read(b)
					if err != nil {
						return
					}
					now := time.Now().UnixNano()
					if n >= 8 {
						if ts := int64(binary.LittleEndian.Uint64(b[:8])); ts > 0 {
							mu.Lock()
							lats = append(lats, time.Duration(now-ts))
							mu.Unlock()
						}
					}
				}
			}()
		}
	}()
	t0, cpu0 := time.Now(), selfCPU()
	_, _ = os.Stdin.Read(make([]byte, 1)) // until the writer closes it
	cpu, el := selfCPU()-cpu0, time.Since(t0)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lats)
	p := func(f float64) time.Duration { return benchdata.Percentile(lats, f) }
	fmt.Printf("reads=%d reader_cpu=%.0f%% p50=%.2fms p99=%.2fms max=%.2fms\n", len(lats), 100*cpu.Seconds()/el.Seconds(),
		float64(p(0.5))/1e6, float64(p(0.99))/1e6, float64(p(1))/1e6)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fanoutfloor:", err)
	os.Exit(1)
}
