package keyspace_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/keyspace"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// cmdSource is a monitor.Source of n SET commands with keys of one width,
// released by start.
type cmdSource struct {
	start chan struct{}
	n, i  int
	args  [][]byte
	pad   string // appended to every key
	sync  int    // events of the full sync sent
}

func (s *cmdSource) Next(ctx context.Context) (replica.Event, error) {
	select {
	case <-s.start:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.i == s.n {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if s.sync < 2 { // a full sync of an empty snapshot first
		s.sync++
		if s.sync == 1 {
			return &replica.Sync{Mode: replica.SyncFull, ReplID: strings.Repeat("ab", 20)}, nil
		}
		return &replica.SnapshotDone{Pos: replica.Position{ReplID: strings.Repeat("ab", 20)}}, nil
	}
	s.i++
	s.args[1] = fmt.Appendf(s.args[1][:0], "key:%08d%s", s.i%100000000, s.pad)
	off := int64(s.i) * 40
	return &replica.Command{Args: s.args, Offset: off, Pos: replica.Position{ReplID: strings.Repeat("ab", 20), Offset: off}}, nil
}

// BenchmarkFanout: notifications per second through a face to 1, 100 and
// 1000 PSUBSCRIBE __keyevent@*__:* subscribers on loopback, from a source
// of SET commands (no master: the face's cost and the subscribers'
// sockets). deliveries/s is notifications/s times subscribers.
//
// subs=1/track runs the face with Config.TrackKeys (every SET a new key).
func BenchmarkFanout(b *testing.B) {
	for _, tc := range []struct {
		subs  int
		track bool
	}{{1, false}, {1, true}, {100, false}, {1000, false}} {
		subs := tc.subs
		name := "subs=" + strconv.Itoa(subs)
		if tc.track {
			name += "/track"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := &cmdSource{start: make(chan struct{}), n: b.N, args: [][]byte{[]byte("SET"), nil, []byte("v")}}
			m, err := monitor.New(src)
			require.NoError(b, err)
			defer m.Close()
			sub, err := m.Subscribe(monitor.Filter{})
			require.NoError(b, err)
			f, err := keyspace.New(ctx, sub, keyspace.Config{TrackKeys: tc.track})
			require.NoError(b, err)
			defer f.Close()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(b, err)
			go f.Serve(ctx, l)

			// One pmessage: *4 pmessage __keyevent@*__:* __keyevent@0__:set key:NNNNNNNN
			msgLen := len("*4\r\n$8\r\npmessage\r\n$16\r\n__keyevent@*__:*\r\n$18\r\n__keyevent@0__:set\r\n$12\r\nkey:00000000\r\n")
			conf := "*3\r\n$10\r\npsubscribe\r\n$16\r\n__keyevent@*__:*\r\n:1\r\n"
			var wg sync.WaitGroup
			conns := make([]net.Conn, subs)
			for i := range conns {
				c, err := net.Dial("tcp", l.Addr().String())
				require.NoError(b, err)
				defer c.Close()
				_, err = io.WriteString(c, "*2\r\n$10\r\npsubscribe\r\n$16\r\n__keyevent@*__:*\r\n")
				require.NoError(b, err)
				buf := make([]byte, len(conf))
				_, err = io.ReadFull(c, buf)
				require.NoError(b, err)
				conns[i] = c
			}
			b.ResetTimer()
			begin := time.Now()
			close(src.start)
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 64<<10)
					want := int64(b.N) * int64(msgLen)
					for got := int64(0); got < want; {
						n, err := c.Read(buf)
						if err != nil {
							b.Error(err)
							return
						}
						got += int64(n)
					}
				}()
			}
			wg.Wait()
			el := time.Since(begin)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "notifications/s")
			b.ReportMetric(float64(b.N)*float64(subs)/el.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkMasterCPU: the master's CPU per write (INFO cpu, user+sys) under
// the same SET load, with keyspace notifications off and on, and with
// notifications off but a redtap tap attached instead (what redtap costs
// the master: one replica). b.N writes, pipelined by 100.
func BenchmarkMasterCPU(b *testing.B) {
	for _, tc := range []struct {
		name   string
		notify string
		subs   int
		tap    bool
	}{
		{"notify=off", "", 0, false},
		{"notify=off/redtap-tap", "", 0, true},
		{"notify=KEA/subs=0", "KEA", 0, false},
		{"notify=KEA/subs=1", "KEA", 1, false},
		{"notify=KEA/subs=100", "KEA", 100, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := redistest.Start(b, redistest.Options{Args: []string{"--notify-keyspace-events", tc.notify}})
			rc := srv.Client()
			if tc.tap {
				r, err := replica.Dial(ctx, replica.Config{Addr: srv.Addr, Snapshot: replica.SnapshotSkip})
				require.NoError(b, err)
				defer r.Close()
				go func() {
					for {
						if _, err := r.Next(ctx); err != nil {
							return
						}
					}
				}()
			}
			var wg sync.WaitGroup
			for range tc.subs {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr})
				defer c.Close()
				ps := c.PSubscribe(ctx, "__keyevent@*__:*")
				defer ps.Close()
				_, err := ps.Receive(ctx)
				require.NoError(b, err)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ch := ps.Channel(redis.WithChannelSize(1 << 16))
					for range ch {
					}
				}()
			}
			cpu := func() float64 {
				info, err := srv.Info(ctx, "cpu")
				require.NoError(b, err)
				u, _ := strconv.ParseFloat(info["used_cpu_user"], 64)
				s, _ := strconv.ParseFloat(info["used_cpu_sys"], 64)
				return u + s
			}
			before := cpu()
			b.ResetTimer()
			for i := 0; i < b.N; i += 100 {
				p := rc.Pipeline()
				for j := i; j < min(i+100, b.N); j++ {
					p.Set(ctx, "key:"+strconv.Itoa(j%10000), "value", 0)
				}
				_, err := p.Exec(ctx)
				require.NoError(b, err)
			}
			b.StopTimer()
			b.ReportMetric((cpu()-before)*1e6/float64(b.N), "master-us/write")
		})
	}
}
