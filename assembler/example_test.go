package assembler_test

import (
	"fmt"
	"time"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// printSink prints what it is sent; a transport would write an SSE event.
type printSink struct{}

func (printSink) Send(m assembler.Message) bool {
	fmt.Printf("event: %s\nid: %d\ndata: %s\n\n", m.Event, m.ID, m.Data)
	return true
}

func Example() {
	now := time.UnixMilli(1733130000500)
	a, err := assembler.New(assembler.Config{
		Windows:  []assembler.Window{{Match: "sysmon:*", Limit: 2, DedupID: true}},
		Interval: 50 * time.Millisecond,
		Clock:    func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	// A viewer (before the snapshot: it waits for it).
	sub, _ := a.Subscribe(printSink{}, []string{"sysmon:h1:*"}, -1)
	defer sub.Unsubscribe()

	// What a monitor subscriber delivers: a reset, the snapshot, commands.
	a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindReset}}, Offset: 1000})
	a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindSnapshotKey, Entry: &rdb.Entry{
		Key: []byte("sysmon:h1:cpu"), Type: rdb.TypeZSet, Last: true,
		Members: []rdb.Member{{Name: []byte(`{"id":"h1:1733130000000","cpu":7}`), Score: 1733130000000}},
	}}}, Offset: 1000})
	a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindSnapshotDone}}, Offset: 1000})

	for i, cpu := range []string{"9", "11"} {
		ms := fmt.Sprint(1733130000100 + 100*i)
		args := [][]byte{[]byte("ZADD"), []byte("sysmon:h1:cpu"), []byte(ms), []byte(`{"id":"h1:` + ms + `","cpu":` + cpu + `}`)}
		a.Apply(&monitor.Batch{Events: monitor.AppendEvents(nil, 0, args), Offset: 1100 + 100*int64(i)})
	}
	now = now.Add(50 * time.Millisecond)
	a.Tick() // both changes, coalesced

	// Output:
	// event: updates
	// id: 1000
	// data: {"offset":1000,"windows":[{"db":0,"key":"sysmon:h1:cpu","type":"zset","entries":[{"id":"h1:1733130000000","score":1733130000000,"value":"{\"id\":\"h1:1733130000000\",\"cpu\":7}"}]}]}
	//
	// event: dUpdates
	// id: 1200
	// data: {"offset":1200,"deltas":[{"db":0,"key":"sysmon:h1:cpu","type":"zset","clear":false,"del":["h1:1733130000000"],"set":[{"id":"h1:1733130000100","score":1733130000100,"value":"{\"id\":\"h1:1733130000100\",\"cpu\":9}"},{"id":"h1:1733130000200","score":1733130000200,"value":"{\"id\":\"h1:1733130000200\",\"cpu\":11}"}]}]}
}
