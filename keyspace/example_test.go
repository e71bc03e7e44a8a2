package keyspace_test

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/tidwall/redcon"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/keyspace"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// Example serves the keyspace notifications of an (in-process, fake)
// master's replication stream, and subscribes to them with go-redis as one
// would on the master itself.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fm, err := fakemaster.New(fakemaster.Options{RDB: fakemaster.EmptyRDB(), ReplID: strings.Repeat("ab", 20)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fm.Close()
	r, err := replica.Dial(ctx, replica.Config{Addr: fm.Addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	m, err := monitor.New(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	sub, err := m.Subscribe(monitor.Filter{})
	if err != nil {
		fmt.Println(err)
		return
	}
	face, err := keyspace.New(ctx, sub, keyspace.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer face.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go face.Serve(ctx, l)

	c := redis.NewClient(&redis.Options{Addr: l.Addr().String()})
	defer c.Close()
	ps := c.PSubscribe(ctx, "__keyevent@*__:*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // subscribed
		fmt.Println(err)
		return
	}

	// Writes on the master, as a Redis 7 master propagates them.
	fm.Propagate("SET", "cpu:1", "42", "PXAT", "4102444800000") // SET cpu:1 42 EX ...
	fm.Propagate("LMOVE", "jobs", "done", "LEFT", "RIGHT")
	fm.Propagate("MULTI")
	fm.Propagate("HSET", "h", "f", "v")
	fm.Propagate("RENAME", "h", "h2")
	fm.Propagate("EXEC")
	fm.Propagate("SELECT", "1")
	fm.Propagate("DEL", "last")

	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(msg.Channel, msg.Payload)
		if msg.Payload == "last" {
			return
		}
	}
	// Output:
	// __keyevent@0__:set cpu:1
	// __keyevent@0__:expire cpu:1
	// __keyevent@0__:rpush done
	// __keyevent@0__:lpop jobs
	// __keyevent@0__:hset h
	// __keyevent@0__:rename_from h
	// __keyevent@0__:rename_to h2
	// __keyevent@1__:del last
}

// ExampleAppendNotifications shows the notifications of one command, as a
// master publishes them.
func ExampleAppendNotifications() {
	args := [][]byte{[]byte("MSET"), []byte("a"), []byte("1"), []byte("b"), []byte("2")}
	evs := monitor.AppendEvents(nil, 3, args)
	for _, n := range keyspace.AppendNotifications(nil, evs) {
		fmt.Printf("__keyspace@%d__:%s %s\n", n.DB, n.Key, n.Event)
	}
	// Output:
	// __keyspace@3__:a set
	// __keyspace@3__:b set
}

// ExampleFace_Mount serves the notifications on the caller's own redcon
// server, next to its own commands, behind its own check.
func ExampleFace_Mount() {
	var face *keyspace.Face // keyspace.New(ctx, sub, keyspace.Config{Allow: ...})
	mux := redcon.NewServeMux()
	mux.HandleFunc("ping", func(conn redcon.Conn, cmd redcon.Command) { conn.WriteString("PONG") })
	mux.HandleFunc("get", func(conn redcon.Conn, cmd redcon.Command) { conn.WriteNull() })
	face.Mount(mux) // SUBSCRIBE, PSUBSCRIBE, ..., REDTAP.SUBSCRIBE, HELLO
	srv := redcon.NewServer("127.0.0.1:6380", mux.ServeRESP, nil,
		func(conn redcon.Conn, err error) { face.ConnClosed(conn) })
	_ = srv // srv.ListenAndServe()
}
