package replica_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

// Example taps an in-process fake master: a snapshot with one key, then a
// command in db 1 and a transaction.
func Example() {
	ctx := context.Background()
	snap := fakemaster.NewRDB(10).Aux("redis-ver", "7.0.15").Select(0).Set("greeting", "hello").Bytes()
	m, err := fakemaster.New(fakemaster.Options{RDB: snap, ReplID: strings.Repeat("ab", 20)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	r, err := replica.Dial(ctx, replica.Config{Addr: m.Addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	// Writes on the master after the snapshot.
	m.Propagate("SELECT", "1")
	m.Propagate("SET", "k", "v")
	m.Propagate("MULTI")
	m.Propagate("INCR", "n")
	m.Propagate("INCR", "n")
	m.Propagate("EXEC")

	for ev, err := range r.All(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		switch e := ev.(type) {
		case *replica.Sync:
			fmt.Printf("sync %s at offset %d\n", e.Mode, e.Offset)
		case *replica.SnapshotRecord:
			if en, ok := e.Record.(*rdb.Entry); ok {
				fmt.Printf("key %s = %s\n", en.Key, en.Str)
			}
		case *replica.SnapshotDone:
			fmt.Printf("snapshot done: %d keys\n", e.Keys)
		case *replica.Command:
			fmt.Printf("db %d: %q, offset %d\n", e.DB, e.Args, e.Offset)
		case *replica.Transaction:
			fmt.Printf("transaction of %d commands in db %d, offsets %d to %d\n", len(e.Commands), e.DB, e.Start, e.Offset)
			fmt.Println("resume from", e.Pos)
			return
		}
	}
	// Output:
	// sync full at offset 0
	// key greeting = hello
	// snapshot done: 1 keys
	// db 1: ["SET" "k" "v"], offset 50
	// transaction of 2 commands in db 1, offsets 50 to 121
	// resume from abababababababababababababababababababab:121:1
}

func ExampleParsePosition() {
	p, err := replica.ParsePosition("abababababababababababababababababababab:123:1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.ReplID[:8], p.Offset, p.DB)
	fmt.Println(p.Compare(replica.Position{Offset: 200}))
	// Output:
	// abababab 123 1
	// -1
}

// ExampleFileCheckpointer resumes from a checkpoint file when there is one:
// the master then continues where the last run stopped, or answers with a
// full resync that the Sync event reports. Each call of Next commits the
// events returned before it, and a background goroutine saves the committed
// position every CheckpointInterval.
func ExampleFileCheckpointer() {
	ck, err := replica.NewFileCheckpointer("/var/lib/tap/position.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	r, err := replica.Dial(ctx, replica.Config{Addr: "127.0.0.1:6379", Checkpointer: ck})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close() // saves the final position
	for ev, err := range r.All(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		if s, ok := ev.(*replica.Sync); ok && s.Mode == replica.SyncFull {
			fmt.Println("full resync:", s.Reason) // reset the state built so far
		}
		// Apply ev: the next call of Next commits it.
	}
}

// ExampleReplica_Commit forwards events through a buffered writer and
// commits a position only once the output holding its event is flushed:
// with ManualCommit, nothing else is saved.
func ExampleReplica_Commit() {
	ck, err := replica.NewFileCheckpointer("/var/lib/tap/position.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	r, err := replica.Dial(ctx, replica.Config{Addr: "127.0.0.1:6379", Checkpointer: ck, ManualCommit: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	out := bufio.NewWriter(os.Stdout)
	var pending replica.Position // the position of the last event written to out
	flush := func() error {
		if err := out.Flush(); err != nil {
			return err
		}
		r.Commit(pending) // what is flushed may be claimed
		return nil
	}
	defer func() {
		if flush() == nil {
			r.Close() // saves the last committed position
		}
	}()
	for ev, err := range r.All(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		switch e := ev.(type) {
		case *replica.Command:
			fmt.Fprintf(out, "%d %q\n", e.DB, e.Args)
			pending = e.Pos
		case *replica.Transaction:
			for _, c := range e.Commands {
				fmt.Fprintf(out, "%d %q\n", c.DB, c.Args)
			}
			pending = e.Pos
		case *replica.SnapshotDone:
			pending = e.Pos
		case *replica.Sync:
			pending = e.Pos // zero for a full sync: nothing to commit until SnapshotDone
		}
		if out.Buffered() > 32<<10 {
			if err := flush(); err != nil {
				fmt.Println(err)
				return
			}
		}
	}
}
