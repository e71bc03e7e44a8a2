package monitor_test

import (
	"strconv"
	"testing"

	"github.com/redtap/redtap/monitor"
)

// BenchmarkAppendKeys measures key extraction for typical propagated
// commands, with a reused dst: 0 allocs/op.
func BenchmarkAppendKeys(b *testing.B) {
	mset := args("MSET")
	for i := 0; i < 10; i++ {
		mset = append(mset, []byte("key:"+strconv.Itoa(i)), []byte("value"))
	}
	for _, bc := range []struct {
		name string
		cmds [][][]byte
	}{
		{"SET", [][][]byte{args("SET", "user:1000:name", "Ada", "PX", "60000")}},
		{"MSET-10", [][][]byte{mset}},
		{"ZADD", [][][]byte{args("ZADD", "leaderboard", "42", "ada", "17", "bob")}},
		{"XADD", [][][]byte{args("XADD", "events", "1700000000000-0", "type", "login", "user", "ada")}},
		// what a script's effects replication emits (EVAL itself is
		// replicated as its effects)
		{"EVAL-effects", [][][]byte{
			args("INCRBY", "counter", "5"),
			args("HSET", "user:1000", "visits", "6"),
			args("PEXPIREAT", "session:1000", "1700000000000"),
			args("LPUSH", "log", "visit"),
		}},
		{"EVAL", [][][]byte{args("EVAL", "return 1", "2", "a", "b", "x")}},
		{"XGROUP-CREATE", [][][]byte{args("XGROUP", "CREATE", "events", "workers", "$")}},
		{"ZUNIONSTORE", [][][]byte{args("ZUNIONSTORE", "top", "2", "a", "b", "WEIGHTS", "1", "2")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]monitor.KeyRef, 0, 16)
			b.ReportAllocs()
			for b.Loop() {
				for _, c := range bc.cmds {
					var err error
					if dst, err = monitor.AppendKeys(dst[:0], c); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
