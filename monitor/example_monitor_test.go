package monitor_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// Example taps an in-process fake master with a replica and subscribes to
// the keys "cpu:*": the snapshot's, then the commands', a transaction as
// one batch.
func Example() {
	ctx := context.Background()
	snap := fakemaster.NewRDB(10).Select(0).Set("cpu:0", "7").Set("mem:0", "x").Bytes()
	fm, err := fakemaster.New(fakemaster.Options{RDB: snap, ReplID: strings.Repeat("ab", 20)})
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
	sub, err := m.Subscribe(monitor.Filter{Match: []string{"cpu:*"}})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Writes on the master, as a Redis 7 master propagates them.
	fm.Propagate("SET", "cpu:1", "42", "PXAT", "4102444800000")
	fm.Propagate("SET", "mem:1", "not selected")
	fm.Propagate("MULTI")
	fm.Propagate("INCRBY", "cpu:1", "-2")
	fm.Propagate("HSET", "cpu:2", "user", "3", "sys", "1")
	fm.Propagate("LMOVE", "cpu:3", "cpu:4", "LEFT", "RIGHT")
	fm.Propagate("EXEC")
	fm.Propagate("MSET", "cpu:5", "a", "mem:2", "b")

	for b, err := range sub.All(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("batch @%d tx=%v\n", b.Offset, b.Tx)
		for _, e := range b.Events {
			switch e.Kind {
			case monitor.KindReset:
				fmt.Println("  reset")
			case monitor.KindSnapshotKey:
				fmt.Printf("  snapshot %s = %q\n", e.Key, e.Entry.Str)
			case monitor.KindSnapshotDone:
				fmt.Println("  snapshot done")
			case monitor.KindChange:
				fmt.Printf("  %s %s", e.Op, e.Key)
				switch e.Op {
				case monitor.OpSet:
					fmt.Printf(" = %q expires %d", e.Value, e.N)
				case monitor.OpIncrBy:
					fmt.Printf(" by %d", e.N)
				case monitor.OpHSet:
					fmt.Printf(" %q", e.Elems)
				case monitor.OpLPop, monitor.OpRPush:
					fmt.Printf(" (LMOVE with %s)", e.Other)
				}
				fmt.Println()
			}
		}
		if b.Offset == fm.Offset() {
			fmt.Println("position", m.Position())
			return
		}
	}
	// Output:
	// batch @0 tx=false
	//   reset
	// batch @0 tx=false
	//   snapshot cpu:0 = "7"
	// batch @0 tx=false
	//   snapshot done
	// batch @62 tx=false
	//   set cpu:1 = "42" expires 4102444800000
	// batch @285 tx=true
	//   incrby cpu:1 by -2
	//   hset cpu:2 ["user" "3" "sys" "1"]
	//   lpop cpu:3 (LMOVE with cpu:4)
	//   rpush cpu:4 (LMOVE with cpu:3)
	// batch @335 tx=false
	//   set cpu:5 = "a" expires 0
	// position abababababababababababababababababababab:335
}

// ExampleAppendEvents shows the typed views of commands from anywhere.
func ExampleAppendEvents() {
	args := func(s ...string) [][]byte {
		a := make([][]byte, len(s))
		for i, x := range s {
			a[i] = []byte(x)
		}
		return a
	}
	var evs []monitor.Event
	evs = monitor.AppendEvents(evs, 0, args("MSET", "a", "1", "b", "2"))
	evs = monitor.AppendEvents(evs, 0, args("ZADD", "z", "GT", "1.5", "m"))
	evs = monitor.AppendEvents(evs, 0, args("RENAME", "a", "c"))
	evs = monitor.AppendEvents(evs, 3, args("MOVE", "c", "5"))
	evs = monitor.AppendEvents(evs, 0, args("SUNIONSTORE", "d", "s1"))
	for _, e := range evs {
		fmt.Printf("%-11s db %d key %s (args[%d]) value %q elems %q other %q otherdb %d opts %q\n",
			e.Op, e.DB, e.Key, e.KeyIndex, e.Value, e.Elems, e.Other, e.OtherDB, e.Opts)
	}
	// Output:
	// set         db 0 key a (args[1]) value "1" elems [] other "" otherdb 0 opts ""
	// set         db 0 key b (args[3]) value "2" elems [] other "" otherdb 0 opts ""
	// zadd        db 0 key z (args[1]) value "" elems ["1.5" "m"] other "" otherdb 0 opts "gt"
	// rename-from db 0 key a (args[1]) value "" elems [] other "c" otherdb 0 opts ""
	// rename-to   db 0 key c (args[2]) value "" elems [] other "a" otherdb 0 opts ""
	// move-from   db 3 key c (args[1]) value "" elems [] other "" otherdb 5 opts ""
	// move-to     db 5 key c (args[1]) value "" elems [] other "" otherdb 3 opts ""
	// other       db 0 key d (args[1]) value "" elems [] other "" otherdb 0 opts ""
	// other       db 0 key s1 (args[2]) value "" elems [] other "" otherdb 0 opts ""
}
