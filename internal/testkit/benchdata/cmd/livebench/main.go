// Command livebench measures live delivery from the outside: it writes
// ZADDs to a Redis master at a fixed rate, each member carrying the wall
// clock of its write, while N Server-Sent Events clients read a
// `redtap serve` (or any assembler/live SSE handler) in this process, not
// the server's. Some clients time every member they find in a dUpdates
// message: --timed of them, spread over the order in which they
// subscribed, the last one included. The others only read, as cheaply as
// they can, so that this process takes as little of the machine as it
// can. It prints one line per run with the achieved rate, the latency
// p50/p99/max over every timed client's samples, twice: from the write to
// the client's read (p50...), and from the write to the bytes' arrival in
// the client's socket (socket_p50..., the kernel's receive time,
// SO_TIMESTAMPNS), which leaves out how long this process, on the same
// machine, took to be scheduled. Given the server's pid, it also prints
// the server's CPU per 1,000 deliveries and its resident memory.
//
//	livebench --redis 127.0.0.1:6379 --url http://127.0.0.1:8080/events?match=lat \
//	  --pid $(pgrep -f 'redtap serve') --rate 10000 --subs 100 --dur 10s
//
// With --bare it also syncs with the master as a bare replica (a socket
// and a handshake, no redtap code) and times each member's arrival there:
// the path from the master alone, under the same load.
//
// With --idle N it opens N subscribers that only read, waits --dur, and
// prints the server's resident memory before and after (per subscriber).
//
// scripts/bench-live.sh runs the whole matrix of BENCHMARKS.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redtap/redtap/internal/testkit/benchdata"
	"golang.org/x/sys/unix"
)

func main() {
	var (
		redisAddr = flag.String("redis", "127.0.0.1:6379", "the master's `HOST:PORT`")
		rawURL    = flag.String("url", "http://127.0.0.1:8080/events", "the SSE `URL`")
		key       = flag.String("key", "lat", "the sorted set written")
		rate      = flag.Int("rate", 1000, "ZADDs per second")
		subs      = flag.Int("subs", 100, "SSE subscribers")
		idle      = flag.Int("idle", 0, "open `N` idle subscribers and report the server's memory instead")
		dur       = flag.Duration("dur", 10*time.Second, "how long to write (or to hold the idle subscribers)")
		warm      = flag.Duration("warmup", time.Second, "writes before measuring")
		pid       = flag.Int("pid", 0, "the server's process id, for its CPU and memory")
		timed     = flag.Int("timed", 10, "how many of the subscribers time every member (the others only read)")
		bare      = flag.Bool("bare", false, "also time every member on a bare replica connection to the master (no redtap code): the path from the master alone")
		label     = flag.String("label", "", "printed first on the result line")
	)
	flag.Parse()
	u, err := url.Parse(*rawURL)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if *idle > 0 {
		runIdle(ctx, u, *idle, *dur, *pid, *label)
		return
	}
	rc := redis.NewClient(&redis.Options{Addr: *redisAddr, PoolSize: 4})
	defer rc.Close()
	if err := rc.Del(ctx, *key).Err(); err != nil {
		fail(err)
	}
	if err := rc.ZAdd(ctx, *key, redis.Z{Score: 0, Member: "0:0"}).Err(); err != nil {
		fail(err)
	}
	r := &run{}
	var wg sync.WaitGroup
	ready := make(chan error, *subs)
	// One after the other, so that the server has them in this order:
	// the timed ones are spread over it, the last one included (a server
	// that writes to its viewers in turn gives the last the longest
	// wait).
	every := max(*subs/max(*timed, 1), 1)
	for i := range *subs {
		wg.Add(1)
		timed := *timed > 0 && i%every == every-1 && i/every < *timed
		go func() { defer wg.Done(); r.client(ctx, u, ready, timed) }()
		if err := <-ready; err != nil {
			fail(err)
		}
	}

	if *bare { // synced during the warm-up
		go r.bareReplica(ctx, *redisAddr)
	}

	// Warm up, then measure.
	seq := 0
	write(ctx, rc, *key, *rate, *warm, &seq)
	r.from.Store(int64(seq))
	r.measuring.Store(true)
	cpu0, self0 := procCPU(*pid), procCPU(os.Getpid())
	d0 := r.delivered.Load()
	t0 := time.Now()
	n0 := seq
	write(ctx, rc, *key, *rate, *dur, &seq)
	elapsed := time.Since(t0)
	// The last deliveries: until every timed client has every member, or
	// nothing has come for a second.
	want := int64(seq-n0) * int64(min(*timed, *subs))
	for last, idle := r.samples.Load(), 0; r.samples.Load() < want && idle < 20; idle++ {
		time.Sleep(50 * time.Millisecond)
		if n := r.samples.Load(); n != last {
			last, idle = n, 0
		}
	}
	r.measuring.Store(false)
	cpu, self := procCPU(*pid)-cpu0, procCPU(os.Getpid())-self0
	d := r.delivered.Load() - d0
	rss := procRSS(*pid)
	cancel()
	wg.Wait()

	r.mu.Lock()
	lats, sock, bl, bs := r.lats, r.sock, r.bare, r.bareSock
	r.mu.Unlock()
	slices.Sort(lats)
	slices.Sort(sock)
	slices.Sort(bl)
	slices.Sort(bs)
	pctOf := benchdata.Percentile
	pct := func(p float64) time.Duration { return pctOf(lats, p) }
	achieved := float64(seq-n0) / elapsed.Seconds()
	// seen: the share of (write, timed client) pairs that arrived. A
	// member that entered and left the window between two messages is
	// never shown: the window is the newest N.
	line := fmt.Sprintf("%s rate=%d achieved=%.0f/s subs=%d timed=%d samples=%d seen=%.1f%% p50=%s p99=%s max=%s messages=%d updates=%d",
		*label, *rate, achieved, *subs, min(*timed, *subs), len(lats), 100*float64(len(lats))/float64(max(want, 1)), ms(pct(0.5)), ms(pct(0.99)), ms(pct(1)), d, r.updates.Load())
	line += fmt.Sprintf(" socket_p50=%s socket_p99=%s socket_max=%s", ms(pctOf(sock, 0.5)), ms(pctOf(sock, 0.99)), ms(pctOf(sock, 1)))
	if *bare {
		line += fmt.Sprintf(" bare_samples=%d bare_p50=%s bare_p99=%s bare_socket_p50=%s bare_socket_p99=%s",
			len(bl), ms(pctOf(bl, 0.5)), ms(pctOf(bl, 0.99)), ms(pctOf(bs, 0.5)), ms(pctOf(bs, 0.99)))
	}
	if *pid > 0 {
		line += fmt.Sprintf(" server_cpu=%s cpu_per_1000=%s server_rss=%.1fMiB", ms(cpu), ms(cpu*1000/time.Duration(max(d, 1))), float64(rss)/(1<<20))
	}
	line += fmt.Sprintf(" clients_cpu=%s elapsed=%s", ms(self), ms(elapsed))
	fmt.Println(strings.TrimSpace(line))
}

// run is one measurement's shared state.
type run struct {
	measuring atomic.Bool
	delivered atomic.Int64 // dUpdates messages read while measuring
	samples   atomic.Int64 // members timed while measuring
	from      atomic.Int64 // the last write before measuring
	updates   atomic.Int64 // fresh updates after the first (a slow viewer's reset)
	mu        sync.Mutex
	lats      []time.Duration // write to read by the client
	sock      []time.Duration // write to arrival in the client's socket
	bare      []time.Duration // write to read on the bare replica connection
	bareSock  []time.Duration // write to arrival in its socket
}

// record adds a read's samples, to the read and socket figures of one
// kind of reader.
func (r *run) record(reads, socks *[]time.Duration, read, sock []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*reads = append(*reads, read...)
	*socks = append(*socks, sock...)
}

// client reads one SSE stream until ctx ends and times every member of
// every dUpdates. It reports on ready once the first updates arrived.
func (r *run) client(ctx context.Context, u *url.URL, ready chan<- error, timed bool) {
	body, err := open(ctx, u, timed)
	if err != nil {
		ready <- err
		return
	}
	defer body.Close()
	var sc *stampConn
	if timed {
		sc = body.(rawBody).Closer.(*stampConn)
	}
	br := bufio.NewReaderSize(body, 64<<10)
	first := true
	var event []byte
	var mine, sock []time.Duration
	var long []byte // a line longer than br's buffer
	for {
		if !first && !timed {
			// An untimed subscriber reads the socket itself from
			// its first message on, as cheaply as a client can.
			r.rawRead(body.(rawBody).Closer.(net.Conn))
			return
		}
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if first {
				ready <- fmt.Errorf("stream ended before its first message: %v", err)
			}
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			event = append(event[:0], bytes.TrimSpace(line[len("event: "):])...)
			continue
		case !bytes.HasPrefix(line, []byte("data: ")):
			continue
		}
		if first {
			first = false
			ready <- nil
			continue
		}
		if !r.measuring.Load() {
			continue
		}
		if string(event) == "updates" {
			r.updates.Add(1)
			continue
		}
		r.delivered.Add(1)
		if !timed {
			continue
		}
		now := time.Now().UnixNano()
		arrived := sc.arrived.Load()
		mine, sock = mine[:0], sock[:0]
		for rest := line; ; {
			j := bytes.Index(rest, []byte(`"value":"`))
			if j < 0 {
				break
			}
			rest = rest[j+len(`"value":"`):]
			k := bytes.IndexByte(rest, '"')
			if k < 0 {
				break
			}
			if c := bytes.IndexByte(rest[:k], ':'); c >= 0 {
				seq, _ := strconv.ParseInt(string(rest[:c]), 10, 64)
				if ns, err := strconv.ParseInt(string(rest[c+1:k]), 10, 64); err == nil && ns > 0 && seq > r.from.Load() {
					mine = append(mine, time.Duration(now-ns))
					sock = append(sock, time.Duration(arrived-ns))
				}
			}
			rest = rest[k:]
		}
		r.record(&r.lats, &r.sock, mine, sock)
		r.samples.Add(int64(len(mine)))
	}
}

// rawRead reads c until the stream ends and counts the dUpdates (a name
// cut in two by a read is missed).
func (r *run) rawRead(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if r.measuring.Load() {
			r.delivered.Add(int64(bytes.Count(buf[:n], []byte("event: dUpdates"))))
		}
	}
}

type rawBody struct {
	io.Reader
	io.Closer
}

// open sends the GET on a connection of its own and returns the body
// (chunked encoding undone by net/http's response reader).
func open(ctx context.Context, u *url.URL, stamp bool) (io.ReadCloser, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if stamp {
		if c, err = newStampConn(c); err != nil {
			return nil, err
		}
	}
	context.AfterFunc(ctx, func() { c.Close() })
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	req.Header.Set("Accept", "text/event-stream")
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), req)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return rawBody{resp.Body, c}, nil
}

// write runs rate ZADDs per second for d, one member each, "seq:unixnano".
// Every millisecond it sends, pipelined, the writes that are due, so that
// the rate holds even when a tick comes late.
func write(ctx context.Context, rc *redis.Client, key string, rate int, d time.Duration, seq *int) {
	start := time.Now()
	n0 := *seq
	for {
		el := time.Since(start)
		if el >= d {
			return
		}
		due := n0 + int(float64(rate)*el.Seconds()) - *seq
		if due > 0 {
			p := rc.Pipeline()
			for range due {
				*seq++
				p.ZAdd(ctx, key, redis.Z{Score: float64(*seq), Member: strconv.Itoa(*seq) + ":" + strconv.FormatInt(time.Now().UnixNano(), 10)})
			}
			if _, err := p.Exec(ctx); err != nil {
				fail(err)
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// runIdle holds n subscribers that read and ignore what they get.
func runIdle(ctx context.Context, u *url.URL, n int, d time.Duration, pid int, label string) {
	rss0 := procRSS(pid)
	var wg sync.WaitGroup
	var opened, failed atomic.Int64
	sem := make(chan struct{}, 64)
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := open(ctx, u, false)
			<-sem
			if err != nil {
				failed.Add(1)
				return
			}
			opened.Add(1)
			defer body.Close()
			_, _ = io.Copy(io.Discard, body)
		}()
	}
	for opened.Load()+failed.Load() < int64(n) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(d)
	rss1 := procRSS(pid)
	cpu := procCPU(pid)
	fmt.Printf("%s idle=%d opened=%d failed=%d server_rss_before=%.1fMiB server_rss_after=%.1fMiB per_subscriber=%.1fKiB server_cpu_total=%s\n",
		label, n, opened.Load(), failed.Load(), float64(rss0)/(1<<20), float64(rss1)/(1<<20),
		float64(rss1-rss0)/1024/float64(max(opened.Load(), 1)), ms(cpu))
}

// procCPU is the user+system time of pid (0: none).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fail(err)
	}
	// Fields after the ")" that ends the command name: utime is the 12th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// procRSS is the resident memory of pid in bytes (0: none).
func procRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fail(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "livebench:", err)
	os.Exit(1)
}

// stampConn reads with recvmsg and keeps the kernel's receive time of the
// last read (SO_TIMESTAMPNS): when the bytes reached the client's socket,
// before this process was scheduled to read them. Bytes read earlier but
// parsed later are stamped with a later read, so the figure errs long.
type stampConn struct {
	net.Conn
	raw     syscall.RawConn
	oob     []byte
	arrived atomic.Int64 // unix nanoseconds
}

func newStampConn(c net.Conn) (*stampConn, error) {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	return &stampConn{Conn: c, raw: raw, oob: make([]byte, 128)}, nil
}

func (c *stampConn) Read(p []byte) (int, error) {
	var n, oobn int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, c.oob, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, err
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	if ms, perr := unix.ParseSocketControlMessage(c.oob[:oobn]); perr == nil {
		for _, m := range ms {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				c.arrived.Store(sec*1e9 + nsec)
			}
		}
	}
	return n, nil
}

// bareReplica syncs with the master as a replica with nothing but a
// socket (no redtap code: handshake, skip the snapshot, read) and times
// every member of the stream while measuring, until ctx ends.
func (r *run) bareReplica(ctx context.Context, addr string) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fail(err)
	}
	c, err := newStampConn(nc)
	if err != nil {
		fail(err)
	}
	context.AfterFunc(ctx, func() { c.Close() })
	br := bufio.NewReaderSize(c, 64<<10)
	line := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			fail(fmt.Errorf("bare replica: %v", err))
		}
		return strings.TrimRight(l, "\r\n")
	}
	// One command at a time: a master refuses PSYNC behind pending replies.
	if _, err := io.WriteString(c, "REPLCONF capa eof capa psync2\r\n"); err != nil {
		fail(err)
	}
	if l := line(); l != "+OK" {
		fail(fmt.Errorf("bare replica: REPLCONF: %s", l))
	}
	if _, err := io.WriteString(c, "PSYNC ? -1\r\n"); err != nil {
		fail(err)
	}
	l := line()
	for l == "" || !strings.HasPrefix(l, "$") { // +FULLRESYNC, then newlines while the master prepares
		if strings.HasPrefix(l, "-") {
			fail(fmt.Errorf("bare replica: PSYNC: %s", l))
		}
		l = line()
	}
	if mark, ok := strings.CutPrefix(l, "$EOF:"); ok { // diskless: up to the mark
		var tail []byte
		for !bytes.HasSuffix(tail, []byte(mark)) {
			b, err := br.ReadByte()
			if err != nil {
				fail(err)
			}
			tail = append(tail, b)
			if len(tail) > 2*len(mark) {
				tail = tail[len(tail)-len(mark):]
			}
		}
	} else {
		n, err := strconv.ParseInt(l[1:], 10, 64)
		if err != nil {
			fail(fmt.Errorf("bare replica: snapshot length %q", l))
		}
		if _, err := br.Discard(int(n)); err != nil {
			fail(err)
		}
	}
	go func() { // the acknowledgements a master expects
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for range t.C {
			if _, err := io.WriteString(c, "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n"); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	var mine, sock []time.Duration
	for {
		n, err := br.Read(buf)
		if err != nil {
			return
		}
		now, arrived := time.Now().UnixNano(), c.arrived.Load()
		if !r.measuring.Load() {
			continue
		}
		mine, sock = mine[:0], sock[:0]
		from := r.from.Load()
		for b := buf[:n]; ; {
			// A member is "<seq>:<19 digits>", a bulk string of its own.
			i := bytes.IndexByte(b, ':')
			if i < 0 {
				break
			}
			j := i + 1
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			k := i
			for k > 0 && b[k-1] >= '0' && b[k-1] <= '9' {
				k--
			}
			if j-i-1 == 19 && k < i {
				seq, _ := strconv.ParseInt(string(b[k:i]), 10, 64)
				ns, _ := strconv.ParseInt(string(b[i+1:j]), 10, 64)
				if seq > from {
					mine = append(mine, time.Duration(now-ns))
					sock = append(sock, time.Duration(arrived-ns))
				}
			}
			b = b[j:]
		}
		r.record(&r.bare, &r.bareSock, mine, sock)
	}
}
