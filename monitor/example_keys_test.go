package monitor_test

import (
	"fmt"
	"log"

	"github.com/redtap/redtap/monitor"
)

func args(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

// Find the keys of commands as a master propagates them (replica.Command
// Args), with how each command uses them.
func ExampleAppendKeys() {
	var buf [16]monitor.KeyRef // reused: no allocation per command
	for _, cmd := range [][][]byte{
		args("SET", "greeting", "hello"),
		args("ZUNIONSTORE", "top", "2", "scores:a", "scores:b", "WEIGHTS", "1", "2"),
		args("SORT", "queue", "BY", "weight_*", "STORE", "sorted"),
		args("xgroup", "create", "events", "workers", "$"),
	} {
		keys, err := monitor.AppendKeys(buf[:0], cmd)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s:", cmd[0])
		for _, k := range keys {
			fmt.Printf(" %s (%v)", cmd[k.Index], k.Flags)
		}
		fmt.Println()
	}
	_, err := monitor.Keys(args("ZUNIONSTORE", "top", "3", "scores:a"))
	fmt.Println(err)
	// Output:
	// SET: greeting (OW|update)
	// ZUNIONSTORE: top (OW|update) scores:a (RO|access) scores:b (RO|access)
	// SORT: queue (RO|access) sorted (OW|update)
	// xgroup: events (RW|insert)
	// monitor: zunionstore: invalid arguments: argument 2: numkeys out of range: "3"
}

// Look up what the table says about a command.
func ExampleLookup() {
	c := monitor.Lookup("xgroup", "CREATE")
	fmt.Println(c.Name, c.Arity, c.IsWrite(), c.Flags)
	fmt.Println(c.KeySpecs[0].Flags, c.KnownBy.Len() == len(monitor.Servers()))
	h := monitor.Lookup("HEXPIRE", "")
	fmt.Println(h.Name, h.Group, h.Since, h.KnownBy)
	// Output:
	// xgroup|create -5 true write|denyoom
	// RW|insert true
	// hexpire hash 7.4.0 redis-7.4.1
}
