package cluster_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redtap/redtap/cluster"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// Tap a cluster from two seed nodes, resume from a checkpoint file, and
// print every command with its shard.
func Example() {
	ctx := context.Background()
	cp, err := cluster.NewFileCheckpointer("/tmp/redtap-cluster.json")
	if err != nil {
		log.Fatal(err)
	}
	tap, err := cluster.Dial(ctx, cluster.Config{
		Addrs:        []string{"127.0.0.1:7000", "127.0.0.1:7001"},
		Checkpointer: cp,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tap.Close()
	for ev, err := range tap.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		if c, ok := ev.(*replica.Command); ok {
			o := tap.Origin()
			fmt.Printf("%s@%d: %q\n", o.Shard, o.Offset, c.Args)
		}
	}
}

// The monitor reads the merged stream as it reads one master.
func Example_monitor() {
	ctx := context.Background()
	tap, err := cluster.Dial(ctx, cluster.Config{Addrs: []string{"127.0.0.1:7000"}})
	if err != nil {
		log.Fatal(err)
	}
	defer tap.Close()
	m, err := monitor.New(tap)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	sub, err := m.Subscribe(monitor.Filter{Match: []string{"user:*"}})
	if err != nil {
		log.Fatal(err)
	}
	for b, err := range sub.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range b.Events {
			fmt.Println(e.Kind, string(e.Key))
		}
	}
}
