package keyspace_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/keyspace"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// tap is a master with keyspace notifications, a replica tapping it and a
// face serving the tap on a loopback port.
type tap struct {
	srv  *redistest.Server
	rc   *redis.Client
	face *keyspace.Face
	addr string
}

func startTap(t *testing.T, k *redistest.Kind, cfg keyspace.Config) *tap {
	t.Helper()
	o := redistest.Options{Args: []string{"--notify-keyspace-events", "KEA", "--repl-diskless-sync-delay", "0"}}
	if k != nil {
		o = k.Options(o)
	}
	return tapOn(t, redistest.Start(t, o), cfg)
}

// tapOn taps srv with a face of cfg (taking the snapshot when it tracks
// keys).
func tapOn(t *testing.T, srv *redistest.Server, cfg keyspace.Config) *tap {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mode := replica.SnapshotSkip
	if cfg.TrackKeys {
		mode = replica.SnapshotFull
	}
	r, err := replica.Dial(ctx, replica.Config{Addr: srv.Addr, Snapshot: mode})
	require.NoError(t, err)
	m, err := monitor.New(r)
	require.NoError(t, err)
	sub, err := m.Subscribe(monitor.Filter{})
	require.NoError(t, err)
	f, err := keyspace.New(ctx, sub, cfg)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- f.Serve(ctx, l) }()
	t.Cleanup(func() {
		require.NoError(t, f.Close())
		require.ErrorIs(t, <-served, keyspace.ErrClosed)
		m.Close()
		r.Close()
	})
	redistest.WaitFor(t, 10*time.Second, "the tap's first sync", func() bool {
		id, _ := f.Position()
		return id != ""
	})
	return &tap{srv: srv, rc: srv.Client(), face: f, addr: l.Addr().String()}
}

// client returns a go-redis client of the face speaking proto.
func (tp *tap) client(t *testing.T, proto int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: tp.addr, Protocol: proto})
	t.Cleanup(func() { c.Close() })
	return c
}

// msg is one (channel, message) pair.
type msg struct{ Channel, Payload string }

// collect reads messages from ps until it has seen the sentinel message
// (a "set" of key "sentinel" in database 0).
func collect(t *testing.T, ps *redis.PubSub) []msg {
	t.Helper()
	var got []msg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil && len(got) > 3 {
			t.Logf("last: %v", got[len(got)-3:])
		}
		require.NoError(t, err, "after %d messages", len(got))
		got = append(got, msg{m.Channel, m.Payload})
		if m.Payload == "sentinel" && m.Channel == "__keyevent@0__:set" ||
			m.Channel == "__keyspace@0__:sentinel" && m.Payload == "set" {
			return got
		}
	}
}

// workload runs n random commands whose propagated form is the command
// itself and whose notifications the arguments tell: it keeps its own
// model of the keys so that it never empties a hash, list, set or sorted
// set (the master then adds a "del" the stream cannot tell) nor deletes a
// missing key.
//
// With free set it also empties collections, deletes missing keys and
// SMOVEs members the destination has: for a face with Config.TrackKeys.
// m is the model, kept across calls.
func workload(t *testing.T, ctx context.Context, rc *redis.Client, seed uint64, n int, m *wmodel, free bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	conn := rc.Conn()
	defer conn.Close()
	type kstate = wkey
	dbs := m.dbs
	least := 2 // what a collection keeps
	if free {
		least = 1
	}
	emptied := func(k string) {
		if s := dbs[m.db][k]; s != nil && (s.typ == "l" && s.size == 0 || s.mem != nil && len(s.mem) == 0) {
			delete(dbs[m.db], k)
		}
	}
	do0 := func(args ...any) {
		if err := conn.Do(ctx, args...).Err(); err != redis.Nil {
			require.NoError(t, err, "%v", args)
		}
	}
	do0("select", m.db)
	db := m.db
	defer func() { m.db = 0 }() // it ends in database 0
	pick := func(typ string) string { return fmt.Sprintf("%s:%d", typ, rng.IntN(4)) }
	get := func(k string) *kstate { return dbs[db][k] }
	existing := func() string {
		for k := range dbs[db] {
			return k
		}
		return ""
	}
	do := do0
	member := func() string { return "m" + strconv.Itoa(rng.IntN(6)) }
	for range n {
		n := 36
		if free {
			n = 42
		}
		switch rng.IntN(n) {
		case 0:
			db = rng.IntN(2)
			m.db = db
			do("select", db)
		case 1:
			k := pick("s")
			do("set", k, "v"+strconv.Itoa(rng.IntN(100)))
			dbs[db][k] = &kstate{typ: "s"}
		case 2:
			a, b := pick("s"), pick("s")
			do("mset", a, "1", b, "2")
			dbs[db][a], dbs[db][b] = &kstate{typ: "s"}, &kstate{typ: "s"}
		case 3:
			k := pick("s")
			if s := get(k); s == nil || s.typ == "s" {
				do("append", k, "x")
				dbs[db][k] = &kstate{typ: "s"}
			}
		case 4:
			k := pick("n")
			if s := get(k); s == nil {
				do("incrby", k, rng.IntN(10)-5)
				dbs[db][k] = &kstate{typ: "n"}
			} else {
				do("incrby", k, rng.IntN(10)-5)
			}
		case 5:
			if k := existing(); k != "" {
				if free {
					do("del", k, "missing")
				} else {
					do("del", k)
				}
				delete(dbs[db], k)
			}
		case 6:
			k := pick("h")
			s := get(k)
			if s == nil {
				s = &kstate{typ: "h", mem: map[string]bool{}}
				dbs[db][k] = s
			}
			f := member()
			do("hset", k, f, "v", "f9", "w")
			s.mem[f], s.mem["f9"] = true, true
		case 7:
			k := pick("h")
			if s := get(k); s != nil && len(s.mem) >= least {
				f := member()
				if s.mem[f] || free {
					do("hdel", k, f)
					delete(s.mem, f)
					emptied(k)
				}
			}
		case 8, 9:
			k := pick("l")
			s := get(k)
			if s == nil {
				s = &kstate{typ: "l"}
				dbs[db][k] = s
			}
			cmd := []string{"lpush", "rpush"}[rng.IntN(2)]
			do(cmd, k, "a", "b")
			s.size += 2
		case 10:
			k := pick("l")
			if s := get(k); s != nil && s.size >= least {
				do([]string{"lpop", "rpop"}[rng.IntN(2)], k)
				s.size--
				emptied(k)
			}
		case 11:
			k := pick("S")
			s := get(k)
			if s == nil {
				s = &kstate{typ: "S", mem: map[string]bool{}}
				dbs[db][k] = s
			}
			m := member()
			if !s.mem[m] {
				do("sadd", k, m)
				s.mem[m] = true
			}
		case 12:
			k := pick("S")
			if s := get(k); s != nil && len(s.mem) >= least {
				for m := range s.mem {
					do("srem", k, m)
					delete(s.mem, m)
					emptied(k)
					break
				}
			}
		case 13:
			k := pick("z")
			s := get(k)
			if s == nil {
				s = &kstate{typ: "z", mem: map[string]bool{}}
				dbs[db][k] = s
			}
			m := member()
			do("zadd", k, rng.IntN(100), m)
			s.mem[m] = true
		case 14:
			k := pick("z")
			if s := get(k); s != nil && len(s.mem) >= least {
				for m := range s.mem {
					do("zrem", k, m)
					delete(s.mem, m)
					emptied(k)
					break
				}
			}
		case 15:
			k := pick("x")
			do("xadd", k, "*", "f", "v")
			dbs[db][k] = &kstate{typ: "x"}
		case 16:
			if k := existing(); k != "" {
				dst := k + "r"
				do("rename", k, dst)
				dbs[db][dst] = dbs[db][k]
				delete(dbs[db], k)
			}
		case 17:
			if k := existing(); k != "" {
				do("expire", k, 100000)
			}
		case 18:
			k := pick("s")
			do("set", k, "e", "ex", 100000)
			dbs[db][k] = &kstate{typ: "s"}
		case 19:
			// A transaction: the stream carries MULTI/EXEC.
			k := pick("s")
			do("multi")
			do("set", k, "t")
			do("append", k, "u")
			do("exec")
			dbs[db][k] = &kstate{typ: "s"}
		case 20:
			src, dst := pick("S"), pick("S")
			if s := get(src); s != nil && len(s.mem) >= least && src != dst {
				d := get(dst)
				if d == nil {
					d = &kstate{typ: "S", mem: map[string]bool{}}
					dbs[db][dst] = d
				}
				for m := range s.mem {
					if d.mem[m] && !free {
						continue // the master publishes no "sadd" then: the stream cannot tell
					}
					do("smove", src, dst, m)
					delete(s.mem, m)
					d.mem[m] = true
					emptied(src)
					break
				}
			}
		case 21:
			src, dst := pick("l"), pick("l")
			if s := get(src); s != nil && s.size >= least {
				d := get(dst)
				if d == nil {
					d = &kstate{typ: "l"}
					dbs[db][dst] = d
				}
				do("lmove", src, dst, []string{"left", "right"}[rng.IntN(2)], []string{"left", "right"}[rng.IntN(2)])
				s.size--
				d.size++
				emptied(src)
			}
		case 22:
			k := pick("z")
			s := get(k)
			if s == nil {
				s = &kstate{typ: "z", mem: map[string]bool{}}
				dbs[db][k] = s
			}
			m := member()
			if rng.IntN(2) == 0 {
				do("zincrby", k, 2, m)
			} else {
				do("zadd", k, "incr", 3, m)
			}
			s.mem[m] = true
		case 23:
			k := pick("h")
			s := get(k)
			if s == nil {
				s = &kstate{typ: "h", mem: map[string]bool{}}
				dbs[db][k] = s
			}
			do("hincrby", k, "cnt", 1)
			s.mem["cnt"] = true
		case 24:
			k := pick("s")
			if s := get(k); s != nil {
				do("setrange", k, 1, "zz")
			}
		case 25:
			k := pick("l")
			if s := get(k); s != nil && s.size >= 1 {
				do("lset", k, 0, "q")
			}
		case 26:
			k := pick("l")
			if s := get(k); s != nil && s.size >= 1 {
				do("linsert", k, "before", "a", "ins") // may add one: the model undercounts
			}
		case 27:
			k := pick("l")
			if s := get(k); s != nil && s.size >= 2 {
				do("ltrim", k, 0, -2)
				s.size--
			} else if s != nil && free {
				do("ltrim", k, 1, 0) // empties it
				delete(dbs[db], k)
			}
		case 28:
			if k := existing(); k != "" {
				do("persist", k)
			}
		case 29:
			if k := existing(); k != "" {
				dst := k + "c"
				do("copy", k, dst, "replace")
				c := *dbs[db][k]
				if c.mem != nil {
					c.mem = maps.Clone(c.mem)
				}
				dbs[db][dst] = &c
			}
		case 30:
			k := pick("n")
			if s := get(k); s == nil || s.typ == "n" {
				do([]string{"incr", "decr"}[rng.IntN(2)], k)
				dbs[db][k] = &kstate{typ: "n"}
			}
		case 31:
			k := pick("h")
			s := get(k)
			if s == nil {
				s = &kstate{typ: "h", mem: map[string]bool{}}
				dbs[db][k] = s
			}
			f := member()
			do("hsetnx", k, f, "x")
			s.mem[f] = true
		case 32:
			k := pick("s")
			do([]string{"setnx", "getset"}[rng.IntN(2)], k, "g")
			dbs[db][k] = &kstate{typ: "s"}
		case 33:
			if k := existing(); k != "" {
				do("pexpire", k, 100000000)
			}
		case 34:
			if k := existing(); k != "" {
				other := 1 - db
				if dbs[other][k] == nil {
					do("move", k, other)
					dbs[other][k] = dbs[db][k]
					delete(dbs[db], k)
				}
			}
		case 35:
			if k := existing(); k != "" {
				if typ := dbs[db][k].typ; (typ == "s" || typ == "n") && rng.IntN(2) == 0 {
					do("getdel", k)
				} else {
					do("unlink", k)
				}
				delete(dbs[db], k)
			}
		// Only with free: commands that may empty their key.
		case 36, 37:
			k := pick("z")
			if s := get(k); s != nil {
				cmd := []string{"zpopmin", "zpopmax"}[rng.IntN(2)]
				if rng.IntN(2) == 0 {
					do(cmd, k)
				} else {
					do(cmd, k, 2)
				}
				// Which members went: the model forgets the key.
				delete(dbs[db], k)
			}
		case 38:
			k := pick("z")
			if s := get(k); s != nil {
				do("zremrangebyrank", k, 0, rng.IntN(3)-1)
				delete(dbs[db], k)
			}
		case 39:
			k := pick("z")
			if s := get(k); s != nil {
				do("zremrangebyscore", k, "("+strconv.Itoa(rng.IntN(50)), []string{"+inf", "60", "(99"}[rng.IntN(3)])
				delete(dbs[db], k)
			}
		case 40:
			k := pick("l")
			if s := get(k); s != nil {
				do([]string{"lpop", "rpop"}[rng.IntN(2)], k, 3)
				s.size -= 3
				if s.size <= 0 {
					delete(dbs[db], k)
				}
			}
		case 41:
			k := pick("h")
			if s := get(k); s != nil {
				do("hdel", k, "m1", "m2", "f9", "cnt")
				for _, f := range []string{"m1", "m2", "f9", "cnt"} {
					delete(s.mem, f)
				}
				emptied(k)
			}
		}
	}
	do("select", 0)
	do("set", "sentinel", "1")
}

// wmodel is the workload's view of the keys of databases 0 and 1, and the
// database selected.
type wmodel struct {
	dbs [2]map[string]*wkey
	db  int
}

type wkey struct {
	typ  string
	size int
	mem  map[string]bool
}

func newModel() *wmodel { return &wmodel{dbs: [2]map[string]*wkey{{}, {}}} }

// respConn is a raw RESP connection for REDTAP.SUBSCRIBE.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRESP(t *testing.T, addr string) *respConn {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &respConn{c: c, r: bufio.NewReader(c)}
}

func (rc *respConn) send(t *testing.T, args ...string) {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := rc.c.Write(b)
	require.NoError(t, err)
}

// read reads one reply: a string (simple, bulk, error prefixed "-",
// integer as decimal) or a []any for arrays and pushes.
func (rc *respConn) read(t *testing.T) any {
	t.Helper()
	v, err := rc.tryRead()
	require.NoError(t, err)
	return v
}

func (rc *respConn) tryRead() (any, error) {
	rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("short RESP line %q", line)
	}
	line = line[:len(line)-2]
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return line, nil
	case '_':
		return nil, nil
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*', '>', '%':
		n, _ := strconv.Atoi(line[1:])
		if line[0] == '%' {
			n *= 2
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = rc.tryRead(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected RESP line %q", line)
}
