package live_test

import (
	"fmt"

	"github.com/redtap/redtap/assembler"
	"github.com/redtap/redtap/assembler/live"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
)

// An in-process viewer through Chan. A Hub would call Apply and Tick from
// a monitor subscriber; here the batches are made by hand.
func ExampleChan() {
	a, _ := assembler.New(assembler.Config{
		Windows:  []assembler.Window{{Match: "cpu:*", Limit: 2}},
		Interval: assembler.AtOnce,
	})
	ch, cancel, _ := live.Chan(a, []string{"cpu:*"}, 8)
	defer cancel()

	a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindReset}}, Offset: 100})
	a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindSnapshotKey, Entry: &rdb.Entry{
		Key: []byte("cpu:h1"), Type: rdb.TypeZSet, Last: true,
		Members: []rdb.Member{{Name: []byte("7"), Score: 1}},
	}}}, Offset: 100})
	a.Apply(&monitor.Batch{Events: []monitor.Event{{Kind: monitor.KindSnapshotDone}}, Offset: 100})
	args := [][]byte{[]byte("ZADD"), []byte("cpu:h1"), []byte("2"), []byte("9")}
	a.Apply(&monitor.Batch{Events: monitor.AppendEvents(nil, 0, args), Offset: 140})

	for range 2 {
		m := <-ch
		fmt.Printf("%s %d %s\n", m.Event, m.ID, m.Data)
	}
	// Output:
	// updates 100 {"offset":100,"windows":[{"db":0,"key":"cpu:h1","type":"zset","entries":[{"id":"7","score":1,"value":"7"}]}]}
	// dUpdates 140 {"offset":140,"deltas":[{"db":0,"key":"cpu:h1","type":"zset","clear":false,"del":[],"set":[{"id":"9","score":2,"value":"9"}]}]}
}
