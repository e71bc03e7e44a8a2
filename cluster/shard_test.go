package cluster

import (
	"bytes"
	"testing"

	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

func TestOwn(t *testing.T) {
	buf := []byte("SETkeyvalueDELk2")
	cmd := &replica.Command{Args: [][]byte{buf[0:3], buf[3:6], buf[6:11]}}
	tx := &replica.Transaction{Commands: []replica.Command{
		{Args: [][]byte{buf[0:3], buf[3:6], buf[6:11]}},
		{Args: [][]byte{buf[11:14], buf[14:16]}},
	}}
	if n := own(cmd); n != 11 {
		t.Fatalf("own(command) = %d, want 11", n)
	}
	if n := own(tx); n != 16 {
		t.Fatalf("own(transaction) = %d, want 16", n)
	}
	copy(buf, bytes.Repeat([]byte{'x'}, len(buf))) // the session reuses its buffer
	want := func(args [][]byte, s ...string) {
		t.Helper()
		if len(args) != len(s) || cap(args) != len(s) {
			t.Fatalf("args %q (cap %d), want %q", args, cap(args), s)
		}
		for i := range s {
			if string(args[i]) != s[i] || cap(args[i]) != len(s[i]) {
				t.Fatalf("args %q, want %q", args, s)
			}
		}
	}
	want(cmd.Args, "SET", "key", "value")
	want(tx.Commands[0].Args, "SET", "key", "value")
	want(tx.Commands[1].Args, "DEL", "k2")
	// Appending to one command's arguments leaves the next one alone.
	tx.Commands[0].Args = append(tx.Commands[0].Args, []byte("REPLACE"))
	want(tx.Commands[1].Args, "DEL", "k2")

	big := &replica.Command{Args: [][]byte{[]byte("SET"), []byte("k"), make([]byte, ownMax)}}
	arg := big.Args[2]
	if n := own(big); n != -1 || &big.Args[2][0] != &arg[0] {
		t.Fatalf("own(%d bytes) = %d, copied: want -1, left as it is", ownMax+4, n)
	}
	if n := own(&replica.Sync{}); n != -1 {
		t.Fatalf("own(Sync) = %d, want -1", n)
	}
}

func TestShardQueue(t *testing.T) {
	sh := &shard{room: make(chan struct{}, 1)}
	if sh.head() != nil || sh.queued() {
		t.Fatal("an empty queue has a head")
	}
	var items []*item
	full := false
	for i := 0; !full; i++ {
		if i > queueMax {
			t.Fatalf("not full after %d events", i)
		}
		it := &item{sh: sh}
		items = append(items, it)
		full = sh.push(it, 1)
	}
	if len(items) != queueMax || !sh.full() {
		t.Fatalf("full after %d events, want %d", len(items), queueMax)
	}
	// The merger takes the queue: room for the shard again.
	for i, want := range items {
		it := sh.head()
		if it != want {
			t.Fatalf("event %d out of order", i)
		}
		if i == 0 {
			select {
			case <-sh.room:
			default:
				t.Fatal("no room signal after the merger took the queue")
			}
			if sh.full() {
				t.Fatal("still full after the merger took the queue")
			}
			sh.push(&item{sh: sh}, queueMaxBytes) // bytes fill it too
			if !sh.full() {
				t.Fatal("not full at queueMaxBytes")
			}
		}
		sh.local[sh.li] = nil
		sh.li++
	}
	if it := sh.head(); it == nil || sh.full() {
		t.Fatal("the event queued meanwhile is not next")
	}
}

func TestOwnRecord(t *testing.T) {
	buf := []byte("keystrab12fvzm")
	en := &rdb.Entry{Key: buf[0:3], Type: rdb.TypeHash, Chunk: 2, Expire: 42,
		Str:     buf[3:6],
		Elems:   [][]byte{buf[6:7], buf[7:8]},
		Fields:  []rdb.Field{{Name: buf[10:11], Value: buf[11:12], Expire: 7}},
		Members: []rdb.Member{{Name: buf[12:14], Score: 1.5}},
	}
	ev := &replica.SnapshotRecord{Record: en}
	if n := own(ev); n != 3+3+2+2+2 {
		t.Fatalf("own(record) = %d, want 12", n)
	}
	copy(buf, bytes.Repeat([]byte{'x'}, len(buf))) // the decoder reuses its buffers
	*en = rdb.Entry{}                              // and its Entry
	c := ev.Record.(*rdb.Entry)
	if c == en || string(c.Key) != "key" || string(c.Str) != "str" || c.Chunk != 2 || c.Expire != 42 ||
		string(c.Elems[0]) != "a" || string(c.Elems[1]) != "b" ||
		string(c.Fields[0].Name) != "f" || string(c.Fields[0].Value) != "v" || c.Fields[0].Expire != 7 ||
		string(c.Members[0].Name) != "zm" || c.Members[0].Score != 1.5 {
		t.Fatalf("copy %+v", c)
	}
	if cap(c.Key) != 3 {
		t.Fatalf("key cap %d: an append would overwrite the next slice", cap(c.Key))
	}
	for _, r := range []rdb.Record{
		&rdb.Entry{Key: []byte("s"), Type: rdb.TypeStream, Stream: &rdb.Stream{}},
		&rdb.Entry{Key: []byte("b"), Type: rdb.TypeString, Str: make([]byte, ownMax)},
	} {
		if n := own(&replica.SnapshotRecord{Record: r}); n != -1 {
			t.Fatalf("own(%T) = %d, want -1", r, n)
		}
	}
}
