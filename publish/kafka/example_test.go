package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/kafka"
)

// Publish a replica's events to a Kafka topic (here kfake's in-process
// fake; the source stands for a *replica.Replica), then read them back.
func Example() {
	ctx := context.Background()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := kafka.EnsureTopic(ctx, c.ListenAddrs(), "redtap", 1); err != nil {
		panic(err)
	}
	sink, err := kafka.NewSink(ctx, kafka.Config{Brokers: c.ListenAddrs(), Topic: "redtap"})
	if err != nil {
		panic(err)
	}
	defer sink.Close()
	p, err := publish.New(newEventSource(1), sink, publish.Config{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		panic(err)
	}
	if err := p.Drain(ctx); err != nil {
		panic(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("redtap"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	for n := 0; n < 3; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			fmt.Printf("key %q: %s", r.Key, r.Value)
			n++
		})
	}
	// Output:
	// key "": {"kind":"sync","mode":"full","replid":"0123456789abcdef0123456789abcdef01234567","offset":10}
	// key "": {"kind":"snapshot_done","replid":"0123456789abcdef0123456789abcdef01234567","offset":10}
	// key "k0": {"kind":"cmd","db":0,"offset":100,"args":["SET","k0","0"],"keys":["k0"]}
}
