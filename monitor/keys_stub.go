package monitor

// TEMP: a stand-in for monitor/keys.go and monitor/commands_gen.go (branch
// monitor-keys), dropped on merge. It knows the key positions of the
// commands the monitor's tests use, by a few fixed rules; the real
// AppendKeys follows the servers' key specifications for every command.

import (
	"errors"
	"strconv"
)

// KeyRef is one key of a command: its position in the arguments and how
// the command uses it.
type KeyRef struct {
	Index int      // position in args (args[0] is the command name)
	Flags KeyFlags // unused by the stub
}

// KeyFlags say how a command uses a key (stub: always 0).
type KeyFlags uint16

// ErrUnknownCommand reports a command the command table does not know.
var ErrUnknownCommand = errors.New("monitor: unknown command")

var errStubArgs = errors.New("monitor: invalid arguments")

// stubRule: keys from first to last (negative: counted from the end, -1 is
// the last argument) every step; or, with numkeys > 0, the index of a
// numkeys argument followed by that many keys.
type stubRule struct {
	first, last, step int
	numkeys           int  // index of the numkeys argument; keys follow it
	store             bool // with numkeys: args[1] is a destination key too
	none              bool // a command without keys
	special           func(dst []KeyRef, args [][]byte) ([]KeyRef, error)
}

var stubRules = map[string]stubRule{}

func init() {
	one := stubRule{first: 1, last: 1, step: 1}
	all := stubRule{first: 1, last: -1, step: 1}
	pairs := stubRule{first: 1, last: -1, step: 2}
	two := stubRule{first: 1, last: 2, step: 1}
	for _, n := range []string{
		"set", "setnx", "setex", "psetex", "getset", "append", "incr", "decr", "incrby", "decrby",
		"incrbyfloat", "setrange", "setbit", "getdel", "getex", "bitfield", "pfadd", "expire", "pexpire",
		"expireat", "pexpireat", "persist", "move", "restore", "hset", "hmset", "hsetnx", "hdel",
		"hincrby", "hincrbyfloat", "sadd", "srem", "spop", "zadd", "zincrby", "zrem", "zpopmin",
		"zpopmax", "zremrangebyrank", "zremrangebyscore", "zremrangebylex", "geoadd", "lpush", "rpush",
		"lpushx", "rpushx", "lpop", "rpop", "lset", "ltrim", "linsert", "lrem", "xadd", "xdel", "xtrim",
		"xack", "xclaim", "xautoclaim", "xsetid", "get", "lrange", "hgetall", "type", "exists",
	} {
		stubRules[n] = one
	}
	for _, n := range []string{"del", "unlink", "sunionstore", "sinterstore", "sdiffstore", "pfmerge", "touch"} {
		stubRules[n] = all
	}
	for _, n := range []string{"mset", "msetnx"} {
		stubRules[n] = pairs
	}
	for _, n := range []string{"rename", "renamenx", "copy", "lmove", "blmove", "rpoplpush", "brpoplpush", "smove", "zrangestore"} {
		stubRules[n] = two
	}
	for _, n := range []string{"blpop", "brpop", "bzpopmin", "bzpopmax"} {
		stubRules[n] = stubRule{first: 1, last: -2, step: 1}
	}
	for _, n := range []string{"zunionstore", "zinterstore", "zdiffstore"} {
		stubRules[n] = stubRule{numkeys: 2, store: true}
	}
	for _, n := range []string{"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "lmpop", "zmpop", "sintercard", "zintercard"} {
		stubRules[n] = stubRule{numkeys: 2}
	}
	for _, n := range []string{"blmpop", "bzmpop"} {
		stubRules[n] = stubRule{numkeys: 3}
	}
	for _, n := range []string{
		"flushall", "flushdb", "swapdb", "select", "ping", "publish", "spublish", "function", "script",
		"multi", "exec", "replconf", "echo",
	} {
		stubRules[n] = stubRule{none: true}
	}
	stubRules["bitop"] = stubRule{first: 2, last: -1, step: 1}
	stubRules["xgroup"] = stubRule{special: stubXGroup}
	stubRules["sort"] = stubRule{special: stubSort}
}

func stubXGroup(dst []KeyRef, args [][]byte) ([]KeyRef, error) {
	if len(args) < 3 {
		return dst, errStubArgs
	}
	return append(dst, KeyRef{Index: 2}), nil
}

func stubSort(dst []KeyRef, args [][]byte) ([]KeyRef, error) {
	if len(args) < 2 {
		return dst, errStubArgs
	}
	dst = append(dst, KeyRef{Index: 1})
	for i := 2; i+1 < len(args); i++ {
		if stubLower(args[i]) == "store" {
			dst = append(dst, KeyRef{Index: i + 1})
			break
		}
	}
	return dst, nil
}

func stubLower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// AppendKeys appends the keys of the command args (name first) to dst, in
// argument order (stub: the commands the tests use).
func AppendKeys(dst []KeyRef, args [][]byte) ([]KeyRef, error) {
	if len(args) == 0 {
		return dst, ErrUnknownCommand
	}
	r, ok := stubRules[stubLower(args[0])]
	if !ok {
		return dst, ErrUnknownCommand
	}
	switch {
	case r.none:
		return dst, nil
	case r.special != nil:
		return r.special(dst, args)
	case r.numkeys > 0:
		if len(args) <= r.numkeys {
			return dst, errStubArgs
		}
		n, err := strconv.Atoi(string(args[r.numkeys]))
		if err != nil || n < 0 || r.numkeys+n >= len(args) {
			return dst, errStubArgs
		}
		if r.store {
			dst = append(dst, KeyRef{Index: 1})
		}
		for i := 0; i < n; i++ {
			dst = append(dst, KeyRef{Index: r.numkeys + 1 + i})
		}
		return dst, nil
	}
	last := r.last
	if last < 0 {
		last = len(args) + last
	}
	if r.first >= len(args) || last >= len(args) || last < r.first {
		return dst, errStubArgs
	}
	for i := r.first; i <= last; i += r.step {
		dst = append(dst, KeyRef{Index: i})
	}
	return dst, nil
}
