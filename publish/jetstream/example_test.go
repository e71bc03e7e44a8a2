package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/jetstream"
	"github.com/redtap/redtap/replica"
)

// sliceSource stands for a *replica.Replica (with Config.ManualCommit and a
// Checkpointer, in real use).
type sliceSource []replica.Event

func (s *sliceSource) Next(context.Context) (replica.Event, error) {
	if len(*s) == 0 {
		return nil, io.EOF
	}
	ev := (*s)[0]
	*s = (*s)[1:]
	return ev, nil
}

// Publish a replica's events to a JetStream stream, then read them back
// with a durable consumer. The server here runs in process.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "redtap-example")
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	ns.ReadyForConnections(10e9)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	if _, err := jetstream.EnsureStream(ctx, nc, jetstream.StreamConfig{Name: "REDTAP", Prefix: "redtap"}); err != nil {
		panic(err)
	}
	sink, err := jetstream.NewSink(ctx, nc, jetstream.Config{Stream: "REDTAP"})
	if err != nil {
		panic(err)
	}
	defer sink.Close()

	const id = "0123456789abcdef0123456789abcdef01234567"
	src := &sliceSource{
		&replica.Sync{Mode: replica.SyncFull, ReplID: id, Offset: 0},
		&replica.SnapshotDone{Pos: replica.Position{ReplID: id}},
		&replica.Command{Args: [][]byte{[]byte("SET"), []byte("user:1"), []byte("ada")}, Offset: 33, Pos: replica.Position{ReplID: id, Offset: 33}},
	}
	p, err := publish.New(src, sink, publish.Config{Prefix: "redtap"})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if err := p.Run(ctx); !errors.Is(err, io.EOF) { // a replica runs until ctx ends
		panic(err)
	}
	if err := p.Drain(ctx); err != nil {
		panic(err)
	}

	cctx, cancel := context.WithCancel(ctx)
	n := 0
	jetstream.Consume(cctx, nc, jetstream.ConsumeConfig{Stream: "REDTAP", Durable: "reader"}, func(m *jetstream.Message) error {
		fmt.Printf("%s %s %d:%d %s", m.Subject, m.Kind, m.ID.Offset, m.ID.Index, m.Body)
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	// Output:
	// redtap.sync reset 0:0 {"kind":"sync","mode":"full","replid":"0123456789abcdef0123456789abcdef01234567","offset":0}
	// redtap.sync snapshot-done 0:18446744073709551615 {"kind":"snapshot_done","replid":"0123456789abcdef0123456789abcdef01234567","offset":0}
	// redtap.0.user:1 change 33:0 {"kind":"cmd","db":0,"offset":33,"args":["SET","user:1","ada"],"keys":["user:1"]}
}
