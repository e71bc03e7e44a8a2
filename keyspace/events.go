package keyspace

import (
	"bytes"

	"github.com/redtap/redtap/monitor"
)

// Notification is one keyspace notification: the event Event happened to
// Key in database DB, as a master with notify-keyspace-events publishes it
// on __keyspace@<DB>__:<Key> (message Event) and __keyevent@<DB>__:<Event>
// (message Key).
type Notification struct {
	DB    int
	Event string // the master's event name: "set", "del", "lpush" ...
	Key   []byte
}

// AppendNotifications appends the notifications a master publishes for the
// command whose events evs are (the events of one command, as
// monitor.AppendEvents returns them or as they come in a batch: consecutive
// events with the same Args), in the master's order, and returns the
// extended slice. The keys alias the events'.
//
// Only what the arguments tell is published: see the package documentation
// for what the master says and redtap cannot (a "del" after a pop that
// empties a list, for instance).
func AppendNotifications(dst []Notification, evs []monitor.Event) []Notification {
	for len(evs) > 0 {
		n := 1
		for n < len(evs) && sameCommand(&evs[0], &evs[n]) {
			n++
		}
		dst = appendCommand(dst, evs[:n])
		evs = evs[n:]
	}
	return dst
}

// sameCommand reports whether two events come from the same command: they
// share Args (the monitor gives every event of a command the same slice).
func sameCommand(a, b *monitor.Event) bool {
	return len(a.Args) > 0 && len(b.Args) == len(a.Args) && &a.Args[0] == &b.Args[0] && a.Offset == b.Offset
}

func appendCommand(dst []Notification, evs []monitor.Event) []Notification {
	first := &evs[0]
	if first.Kind != monitor.KindChange {
		return dst // snapshot keys, markers, FLUSHALL ...: no per-key event
	}
	// LMOVE, RPOPLPUSH (and the blocking forms a master propagates as
	// them): the master publishes the push on the destination before the
	// pop on the source.
	if len(evs) == 2 && (first.Op == monitor.OpLPop || first.Op == monitor.OpRPop) &&
		(evs[1].Op == monitor.OpLPush || evs[1].Op == monitor.OpRPush) {
		dst = appendEvent(dst, &evs[1])
		return appendEvent(dst, first)
	}
	for i := range evs {
		dst = appendEvent(dst, &evs[i])
	}
	return dst
}

func add(dst []Notification, e *monitor.Event, name string) []Notification {
	return append(dst, Notification{DB: e.DB, Event: name, Key: e.Key})
}

// appendEvent appends the notifications of one key of a command.
func appendEvent(dst []Notification, e *monitor.Event) []Notification {
	if e.Kind != monitor.KindChange || e.Key == nil {
		return dst
	}
	switch e.Op {
	case monitor.OpDel:
		return add(dst, e, "del")
	case monitor.OpExpireAt:
		return add(dst, e, "expire")
	case monitor.OpPersist:
		return add(dst, e, "persist")
	case monitor.OpRenameFrom:
		return add(dst, e, "rename_from")
	case monitor.OpRenameTo:
		return add(dst, e, "rename_to")
	case monitor.OpMoveFrom:
		return add(dst, e, "move_from")
	case monitor.OpMoveTo:
		return add(dst, e, "move_to")
	case monitor.OpCopyFrom:
		return dst // only the destination is written
	case monitor.OpCopyTo:
		return add(dst, e, "copy_to")
	case monitor.OpSet:
		dst = add(dst, e, "set")
		if e.N != 0 || e.M != 0 {
			// SET ... PXAT (how a master propagates SET EX, SETEX ...)
			dst = add(dst, e, "expire")
		}
		return dst
	case monitor.OpAppend:
		return add(dst, e, "append")
	case monitor.OpIncrBy:
		return add(dst, e, "incrby")
	case monitor.OpSetRange:
		return add(dst, e, "setrange")
	case monitor.OpSetBit:
		return add(dst, e, "setbit")
	case monitor.OpHSet:
		return add(dst, e, "hset")
	case monitor.OpHDel:
		return add(dst, e, "hdel")
	case monitor.OpHIncrBy:
		return add(dst, e, "hincrby")
	case monitor.OpSAdd:
		return add(dst, e, "sadd")
	case monitor.OpSRem:
		return add(dst, e, "srem")
	case monitor.OpZAdd:
		if e.Opts&monitor.OptIncr != 0 {
			return add(dst, e, "zincr")
		}
		return add(dst, e, "zadd")
	case monitor.OpZIncrBy:
		return add(dst, e, "zincr")
	case monitor.OpZRem:
		return add(dst, e, "zrem")
	case monitor.OpZPopMin:
		return add(dst, e, "zpopmin")
	case monitor.OpZPopMax:
		return add(dst, e, "zpopmax")
	case monitor.OpZRemRangeByRank:
		return add(dst, e, "zremrangebyrank")
	case monitor.OpZRemRangeByScore:
		return add(dst, e, "zremrangebyscore")
	case monitor.OpZRemRangeByLex:
		return add(dst, e, "zremrangebylex")
	case monitor.OpLPush:
		return add(dst, e, "lpush")
	case monitor.OpRPush:
		return add(dst, e, "rpush")
	case monitor.OpLPop:
		return add(dst, e, "lpop")
	case monitor.OpRPop:
		return add(dst, e, "rpop")
	case monitor.OpLSet:
		return add(dst, e, "lset")
	case monitor.OpLTrim:
		return add(dst, e, "ltrim")
	case monitor.OpLInsert:
		return add(dst, e, "linsert")
	case monitor.OpLRem:
		return add(dst, e, "lrem")
	case monitor.OpXAdd:
		return add(dst, e, "xadd")
	case monitor.OpXDel:
		return add(dst, e, "xdel")
	case monitor.OpXTrim:
		return add(dst, e, "xtrim")
	case monitor.OpXGroup:
		return appendXGroup(dst, e)
	case monitor.OpOther:
		return appendOther(dst, e)
	}
	return dst
}

func appendXGroup(dst []Notification, e *monitor.Event) []Notification {
	if !bytes.EqualFold(e.Args[0], []byte("xgroup")) {
		return dst // XACK, XCLAIM, XAUTOCLAIM publish nothing
	}
	switch {
	case bytes.EqualFold(e.Value, []byte("create")):
		return add(dst, e, "xgroup-create")
	case bytes.EqualFold(e.Value, []byte("setid")):
		return add(dst, e, "xgroup-setid")
	case bytes.EqualFold(e.Value, []byte("destroy")):
		return add(dst, e, "xgroup-destroy")
	case bytes.EqualFold(e.Value, []byte("createconsumer")):
		return add(dst, e, "xgroup-createconsumer")
	case bytes.EqualFold(e.Value, []byte("delconsumer")):
		return add(dst, e, "xgroup-delconsumer")
	}
	return dst
}

// otherEvents are the commands without a typed view that publish an event
// on one of their keys: the key's position in the arguments and the event
// name.
var otherEvents = map[string]struct {
	key   int
	event string
}{
	"sinterstore":    {1, "sinterstore"},
	"sunionstore":    {1, "sunionstore"},
	"sdiffstore":     {1, "sdiffstore"},
	"zunionstore":    {1, "zunionstore"},
	"zinterstore":    {1, "zinterstore"},
	"zdiffstore":     {1, "zdiffstore"},
	"zrangestore":    {1, "zrangestore"},
	"bitop":          {2, "set"},
	"bitfield":       {1, "setbit"},
	"pfadd":          {1, "pfadd"},
	"pfmerge":        {1, "pfadd"},
	"restore":        {1, "restore"},
	"xsetid":         {1, "xsetid"},
	"incrbyfloat":    {1, "incrbyfloat"},
	"hincrbyfloat":   {1, "hincrbyfloat"},
	"hpexpireat":     {1, "hexpire"},
	"hexpireat":      {1, "hexpire"},
	"hpexpire":       {1, "hexpire"},
	"hexpire":        {1, "hexpire"},
	"hpersist":       {1, "hpersist"},
	"restore-asking": {1, "restore"},
}

func appendOther(dst []Notification, e *monitor.Event) []Notification {
	var name [24]byte
	cmd := e.Args[0]
	if len(cmd) > len(name) {
		return dst
	}
	for i, c := range cmd {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		name[i] = c
	}
	lc := name[:len(cmd)]
	if string(lc) == "sort" {
		// SORT key ... STORE dst: "sortstore" on dst.
		for i := 2; i+1 < len(e.Args); i++ {
			if bytes.EqualFold(e.Args[i], []byte("store")) && e.KeyIndex == i+1 {
				return add(dst, e, "sortstore")
			}
		}
		return dst
	}
	o, ok := otherEvents[string(lc)] // no allocation for a map index
	if !ok {
		return dst
	}
	if e.KeyIndex != o.key {
		return dst // a source key: read, not written
	}
	return add(dst, e, o.event)
}
