package jetstream

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/publish"
)

const testReplID = "0123456789abcdef0123456789abcdef01234567"

func TestNewEntry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      publish.Message
		id     string
		header nats.Header
	}{
		{
			name: "change",
			m: publish.Message{Seq: 7, ID: publish.ID{ReplID: testReplID, Offset: 131, Index: 0}, Kind: monitor.KindChange,
				DB: 0, Key: []byte("k"), Subject: []byte("rt.0.k"), Batch: 0, BatchLen: 1, Body: []byte("{\"kind\":\"cmd\"}\n")},
			id: testReplID + ":131:0",
			header: nats.Header{
				publish.HeaderReplID: {testReplID}, publish.HeaderOffset: {"131"}, publish.HeaderIndex: {"0"},
				publish.HeaderKind: {"change"}, publish.HeaderDB: {"0"}, publish.HeaderBatch: {"0/1"},
				jetstream.MsgIDHeader: {testReplID + ":131:0"},
			},
		},
		{
			name: "transaction",
			m: publish.Message{Seq: 8, ID: publish.ID{ReplID: testReplID, Offset: 260, Index: 1}, Kind: monitor.KindChange,
				DB: 12, Key: []byte("n"), Subject: []byte("rt.12.n"), Tx: true, Batch: 1, BatchLen: 2, Body: []byte("{}\n")},
			id: testReplID + ":260:1",
			header: nats.Header{
				publish.HeaderReplID: {testReplID}, publish.HeaderOffset: {"260"}, publish.HeaderIndex: {"1"},
				publish.HeaderKind: {"change"}, publish.HeaderDB: {"12"}, publish.HeaderTx: {"1"}, publish.HeaderBatch: {"1/2"},
				jetstream.MsgIDHeader: {testReplID + ":260:1"},
			},
		},
		{
			name: "snapshot end",
			m: publish.Message{Seq: 9, ID: publish.ID{ReplID: testReplID, Offset: 100, Index: publish.IndexSnapshotDone}, Kind: monitor.KindSnapshotDone,
				DB: 0, Subject: []byte("rt.sync"), Batch: 0, BatchLen: 1, Body: []byte("{}\n")},
			id: testReplID + ":100:18446744073709551615",
			header: nats.Header{
				publish.HeaderReplID: {testReplID}, publish.HeaderOffset: {"100"}, publish.HeaderIndex: {"18446744073709551615"},
				publish.HeaderKind: {"snapshot-done"}, publish.HeaderDB: {"0"}, publish.HeaderBatch: {"0/1"},
				jetstream.MsgIDHeader: {testReplID + ":100:18446744073709551615"},
			},
		},
		{
			name: "FLUSHALL without PSYNC",
			m: publish.Message{Seq: 10, ID: publish.ID{Offset: 40, Index: 0}, Kind: monitor.KindDBChange,
				DB: -1, Subject: []byte("rt.all"), Batch: 0, BatchLen: 1, Body: []byte("{}\n")},
			id: "",
			header: nats.Header{
				publish.HeaderReplID: {""}, publish.HeaderOffset: {"40"}, publish.HeaderIndex: {"0"},
				publish.HeaderKind: {"db-change"}, publish.HeaderDB: {"-1"}, publish.HeaderBatch: {"0/1"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.Subject = append([]byte(nil), tc.m.Subject...)
			m.Body = append([]byte(nil), tc.m.Body...)
			e := newEntry(&m)
			// the message's buffers are reused after Send: the entry keeps copies
			for i := range m.Subject {
				m.Subject[i] = 'x'
			}
			for i := range m.Body {
				m.Body[i] = 'x'
			}
			require.Equal(t, tc.m.Seq, e.seq)
			require.Equal(t, tc.id, e.id)
			require.False(t, e.done)
			require.Nil(t, e.fut)
			require.Equal(t, string(tc.m.Subject), e.msg.Subject)
			require.Equal(t, string(tc.m.Body), string(e.msg.Data))
			require.Equal(t, tc.header, e.msg.Header)
		})
	}
}

// BenchmarkNewEntry measures the sink's copy of a message (Send, apart
// from the window and nats.go).
func BenchmarkNewEntry(b *testing.B) {
	m := &publish.Message{Seq: 7, ID: publish.ID{ReplID: testReplID, Offset: 123456789, Index: 0}, Kind: monitor.KindChange,
		DB: 0, Key: []byte("key:12345678"), Subject: []byte("redtap.0.key:12345678"), Batch: 0, BatchLen: 1,
		Body: []byte(`{"kind":"cmd","db":0,"offset":123456789,"args":["SET","key:12345678","0123456789abcdef"],"keys":["key:12345678"]}` + "\n")}
	b.ReportAllocs()
	for b.Loop() {
		newEntry(m)
	}
}
