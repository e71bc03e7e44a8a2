package kafka_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redtap/redtap/publish"
	"github.com/redtap/redtap/publish/kafka"
	"github.com/redtap/redtap/replica"
)

const replid = "0123456789abcdef0123456789abcdef01234567"

// eventSource delivers a full sync, an empty snapshot and n SETs, then
// io.EOF.
type eventSource struct{ evs []replica.Event }

func newEventSource(n int) *eventSource {
	s := &eventSource{evs: []replica.Event{
		&replica.Sync{Mode: replica.SyncFull, ReplID: replid, Offset: 10},
		&replica.SnapshotDone{Offset: 10, Pos: replica.Position{ReplID: replid, Offset: 10}},
	}}
	for i := range n {
		off := int64(100 + 10*i)
		s.evs = append(s.evs, &replica.Command{Args: [][]byte{[]byte("SET"), []byte("k" + strconv.Itoa(i%7)), []byte(strconv.Itoa(i))}, Offset: off, Pos: replica.Position{ReplID: replid, Offset: off}})
	}
	return s
}

func (s *eventSource) Next(context.Context) (replica.Event, error) {
	if len(s.evs) == 0 {
		return nil, io.EOF
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	return ev, nil
}

func publishAll(t *testing.T, ctx context.Context, cfg kafka.Config, src *eventSource) error {
	t.Helper()
	sink, err := kafka.NewSink(ctx, cfg)
	if err != nil {
		return err
	}
	defer sink.Close()
	p, err := publish.New(src, sink, publish.Config{})
	require.NoError(t, err)
	defer p.Close()
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		return err
	}
	if err := p.Drain(ctx); err != nil {
		return err
	}
	require.Equal(t, p.Stats().Messages, p.Stats().Acked)
	return nil
}

// readAll reads every record of topic.
func readAll(t *testing.T, ctx context.Context, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err())
		require.Empty(t, fs.Errors())
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// TestKafka publishes to kfake, a protocol fake of a Kafka cluster: keyed
// records in the key's partition, the markers in every partition, headers
// with the ids; a second run over the same events publishes only what is
// new.
func TestKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "redtap"))
	require.NoError(t, err)
	defer c.Close()
	cfg := kafka.Config{Brokers: c.ListenAddrs(), Topic: "redtap"}

	require.NoError(t, publishAll(t, ctx, cfg, newEventSource(20)))
	recs := readAll(t, ctx, cfg.Brokers, "redtap", 2*3+20)
	require.Len(t, recs, 26)
	partOf := map[string]int32{}
	markers := map[int32]int{}
	for _, r := range recs {
		hdr := map[string]string{}
		for _, h := range r.Headers {
			hdr[h.Key] = string(h.Value)
		}
		require.Equal(t, replid, hdr[publish.HeaderReplID])
		if r.Key == nil {
			markers[r.Partition]++
			continue
		}
		require.Equal(t, "change", hdr[publish.HeaderKind])
		if p, ok := partOf[string(r.Key)]; ok {
			require.Equal(t, p, r.Partition, "key %s in two partitions", r.Key)
		}
		partOf[string(r.Key)] = r.Partition
	}
	require.Equal(t, map[int32]int{0: 2, 1: 2, 2: 2}, markers)

	// again, with 5 more: only those are new
	require.NoError(t, publishAll(t, ctx, cfg, newEventSource(25)))
	recs = readAll(t, ctx, cfg.Brokers, "redtap", 31)
	require.Len(t, recs, 31)

	_, err = kafka.NewSink(ctx, kafka.Config{Brokers: c.ListenAddrs(), Topic: "missing"})
	require.ErrorIs(t, err, kafka.ErrNoTopic)
}

func TestEnsureTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	created, err := kafka.EnsureTopic(ctx, c.ListenAddrs(), "t", 2)
	require.NoError(t, err)
	require.True(t, created)
	created, err = kafka.EnsureTopic(ctx, c.ListenAddrs(), "t", 2)
	require.NoError(t, err)
	require.False(t, created)
}
