package monitor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/rdb"
)

func bargs(s ...string) [][]byte {
	a := make([][]byte, len(s))
	for i, x := range s {
		a[i] = []byte(x)
	}
	return a
}

// describe renders an event's view compactly: op key@index, then the
// fields that are set.
func describe(e *Event) string {
	var sb strings.Builder
	if e.Kind != KindChange {
		sb.WriteString(e.Kind.String())
		if e.Op != OpNone {
			sb.WriteString(" ")
		}
	}
	if e.Op != OpNone {
		sb.WriteString(e.Op.String())
	}
	if e.Key != nil {
		fmt.Fprintf(&sb, " %s@%d", e.Key, e.KeyIndex)
	}
	if e.DB != 0 {
		fmt.Fprintf(&sb, " db=%d", e.DB)
	}
	if e.Value != nil {
		fmt.Fprintf(&sb, " value=%s", e.Value)
	}
	if e.Field != nil {
		fmt.Fprintf(&sb, " field=%s", e.Field)
	}
	if e.Elems != nil {
		parts := make([]string, len(e.Elems))
		for i, x := range e.Elems {
			parts[i] = string(x)
		}
		fmt.Fprintf(&sb, " elems=[%s]", strings.Join(parts, " "))
	}
	if e.N != 0 {
		fmt.Fprintf(&sb, " n=%d", e.N)
	}
	if e.M != 0 {
		fmt.Fprintf(&sb, " m=%d", e.M)
	}
	if e.Float != 0 {
		fmt.Fprintf(&sb, " float=%v", e.Float)
	}
	if e.Other != nil {
		fmt.Fprintf(&sb, " other=%s", e.Other)
	}
	if e.OtherDB != 0 {
		fmt.Fprintf(&sb, " otherdb=%d", e.OtherDB)
	}
	if e.Opts != 0 {
		fmt.Fprintf(&sb, " opts=%s", e.Opts)
	}
	if e.Err != nil {
		sb.WriteString(" err")
	}
	return sb.String()
}

// checkEvents checks what holds for the events of any command: keys and
// views alias args where they should, the index bookkeeping rebinds to the
// same slices, types agree with ops.
func checkEvents(t testing.TB, db int, args [][]byte, evs []Event) {
	t.Helper()
	for i := range evs {
		e := &evs[i]
		if len(e.Args) != len(args) || len(args) > 0 && &e.Args[0] != &args[0] {
			t.Fatalf("event %d: Args is not the command's", i)
		}
		switch e.Kind {
		case KindChange:
			if e.KeyIndex < 1 || e.KeyIndex >= len(args) || !same(e.Key, args[e.KeyIndex]) {
				t.Fatalf("event %d: Key is not Args[KeyIndex=%d]", i, e.KeyIndex)
			}
		case KindDBChange:
			if e.Key != nil || e.KeyIndex != 0 {
				t.Fatalf("event %d: a db-wide event with a key", i)
			}
			if e.Op == OpOther && e.Err == nil {
				t.Fatalf("event %d: a db-wide OpOther without Err", i)
			}
		default:
			t.Fatalf("event %d: kind %v from a command", i, e.Kind)
		}
		if e.Op == OpNone || e.Op >= numOps {
			t.Fatalf("event %d: op %v", i, e.Op)
		}
		if e.Op != OpOther && e.Type != e.Op.Type() {
			t.Fatalf("event %d: type %v for op %v", i, e.Type, e.Op)
		}
		if e.Op != OpOther && e.Op != OpFlushAll && e.Op != OpMoveTo && e.Op != OpCopyTo &&
			e.Op != OpSwapDB && e.DB != db {
			t.Fatalf("event %d: db %d, want %d", i, e.DB, db)
		}
		// Rebinding to the same args gives the same slices.
		c := *e
		c.Key, c.Value, c.Field, c.Other, c.Elems = nil, nil, nil, nil, nil
		c.bind(args)
		if e.Kind == KindChange && !same(c.Key, e.Key) || !same(c.Value, e.Value) || !same(c.Field, e.Field) ||
			!same(c.Other, e.Other) || len(c.Elems) != len(e.Elems) ||
			len(e.Elems) > 0 && &c.Elems[0] != &e.Elems[0] {
			t.Fatalf("event %d: bind gives other slices than the builder (%s)", i, describe(e))
		}
	}
}

// same reports whether a and b are the same slice (or both nil).
func same(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

func TestViews(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		// Keyspace.
		{[]string{"DEL", "a", "b"}, []string{"del a@1", "del b@2"}},
		{[]string{"unlink", "a"}, []string{"del a@1"}},
		{[]string{"PEXPIREAT", "k", "1700000000123"}, []string{"expireat k@1 n=1700000000123"}},
		{[]string{"PEXPIREAT", "k", "1700000000123", "gt"}, []string{"expireat k@1 n=1700000000123 opts=gt"}},
		{[]string{"EXPIREAT", "k", "1700000000", "NX"}, []string{"expireat k@1 n=1700000000000 opts=nx"}},
		{[]string{"PERSIST", "k"}, []string{"persist k@1"}},
		{[]string{"RENAME", "a", "b"}, []string{"rename-from a@1 other=b", "rename-to b@2 other=a"}},
		{[]string{"RENAMENX", "a", "b"}, []string{"rename-from a@1 other=b opts=nx", "rename-to b@2 other=a opts=nx"}},
		{[]string{"MOVE", "k", "3"}, []string{"move-from k@1 otherdb=3", "move-to k@1 db=3"}},
		{[]string{"COPY", "a", "b"}, []string{"copy-from a@1 other=b", "copy-to b@2 other=a"}},
		{[]string{"COPY", "a", "b", "DB", "2", "replace"}, []string{"copy-from a@1 other=b otherdb=2 opts=replace", "copy-to b@2 db=2 other=a opts=replace"}},
		{[]string{"FLUSHDB"}, []string{"db-change flushdb"}},
		{[]string{"FLUSHDB", "ASYNC"}, []string{"db-change flushdb"}},
		{[]string{"flushall", "sync"}, []string{"db-change flushall db=-1"}},
		{[]string{"SWAPDB", "1", "2"}, []string{"db-change swapdb db=1 otherdb=2"}},

		// Strings, as a Redis 7 master propagates them.
		{[]string{"SET", "k", "v"}, []string{"set k@1 value=v"}},
		{[]string{"SET", "k", "v", "PXAT", "1700000000123"}, []string{"set k@1 value=v n=1700000000123"}},
		{[]string{"SET", "k", "v", "EXAT", "1700000000"}, []string{"set k@1 value=v n=1700000000000"}},
		{[]string{"SET", "k", "v", "KEEPTTL"}, []string{"set k@1 value=v opts=keepttl"}},
		{[]string{"set", "k", "v", "nx", "get"}, []string{"set k@1 value=v opts=nx|get"}},
		{[]string{"SET", "k", "v", "XX", "PX", "1500"}, []string{"set k@1 value=v m=1500 opts=xx"}},
		{[]string{"SET", "k", "v", "EX", "10"}, []string{"set k@1 value=v m=10000"}},
		{[]string{"SETNX", "k", "v"}, []string{"set k@1 value=v opts=nx"}},
		{[]string{"GETSET", "k", "v"}, []string{"set k@1 value=v"}},
		{[]string{"SETEX", "k", "10", "v"}, []string{"set k@1 value=v m=10000"}},
		{[]string{"PSETEX", "k", "10", "v"}, []string{"set k@1 value=v m=10"}},
		{[]string{"MSET", "a", "1", "b", "2"}, []string{"set a@1 value=1", "set b@3 value=2"}},
		{[]string{"MSETNX", "a", "1"}, []string{"set a@1 value=1 opts=nx"}},
		{[]string{"APPEND", "k", "xyz"}, []string{"append k@1 value=xyz"}},
		{[]string{"INCR", "k"}, []string{"incrby k@1 n=1"}},
		{[]string{"DECR", "k"}, []string{"incrby k@1 n=-1"}},
		{[]string{"INCRBY", "k", "-7"}, []string{"incrby k@1 n=-7"}},
		{[]string{"DECRBY", "k", "7"}, []string{"incrby k@1 n=-7"}},
		{[]string{"DECRBY", "k", "-9223372036854775807"}, []string{"incrby k@1 n=9223372036854775807"}},
		{[]string{"SETRANGE", "k", "5", "ab"}, []string{"setrange k@1 value=ab n=5"}},
		{[]string{"SETBIT", "k", "100", "1"}, []string{"setbit k@1 n=100 m=1"}},
		{[]string{"SETBIT", "k", "7", "0"}, []string{"setbit k@1 n=7"}},

		// Hashes.
		{[]string{"HSET", "h", "f", "v", "g", "w"}, []string{"hset h@1 elems=[f v g w]"}},
		{[]string{"HMSET", "h", "f", "v"}, []string{"hset h@1 elems=[f v]"}},
		{[]string{"HSETNX", "h", "f", "v"}, []string{"hset h@1 elems=[f v] opts=nx"}},
		{[]string{"HDEL", "h", "f", "g"}, []string{"hdel h@1 elems=[f g]"}},
		{[]string{"HINCRBY", "h", "f", "-3"}, []string{"hincrby h@1 field=f n=-3"}},

		// Sets.
		{[]string{"SADD", "s", "a", "b"}, []string{"sadd s@1 elems=[a b]"}},
		{[]string{"SREM", "s", "a"}, []string{"srem s@1 elems=[a]"}},
		{[]string{"SMOVE", "s", "t", "m"}, []string{"srem s@1 elems=[m] other=t", "sadd t@2 elems=[m] other=s"}},

		// Sorted sets.
		{[]string{"ZADD", "z", "1", "a", "2.5", "b"}, []string{"zadd z@1 elems=[1 a 2.5 b]"}},
		{[]string{"ZADD", "z", "XX", "GT", "CH", "-inf", "a"}, []string{"zadd z@1 elems=[-inf a] opts=xx|gt|ch"}},
		{[]string{"ZADD", "z", "INCR", "1.5", "a"}, []string{"zadd z@1 elems=[1.5 a] float=1.5 opts=incr"}},
		{[]string{"ZADD", "z", "nx", "+inf", "a"}, []string{"zadd z@1 elems=[+inf a] opts=nx"}},
		{[]string{"ZINCRBY", "z", "-2.5", "m"}, []string{"zincrby z@1 value=m float=-2.5"}},
		{[]string{"ZREM", "z", "a", "b"}, []string{"zrem z@1 elems=[a b]"}},
		{[]string{"ZPOPMIN", "z"}, []string{"zpopmin z@1 n=1"}},
		{[]string{"ZPOPMAX", "z", "3"}, []string{"zpopmax z@1 n=3"}},
		{[]string{"ZREMRANGEBYRANK", "z", "0", "-2"}, []string{"zremrangebyrank z@1 m=-2"}},
		{[]string{"ZREMRANGEBYSCORE", "z", "(1.5", "+inf"}, []string{"zremrangebyscore z@1 elems=[(1.5 +inf]"}},
		{[]string{"ZREMRANGEBYLEX", "z", "[a", "+"}, []string{"zremrangebylex z@1 elems=[[a +]"}},

		// Lists.
		{[]string{"LPUSH", "l", "a", "b"}, []string{"lpush l@1 elems=[a b]"}},
		{[]string{"RPUSH", "l", "a"}, []string{"rpush l@1 elems=[a]"}},
		{[]string{"LPUSHX", "l", "a"}, []string{"lpush l@1 elems=[a] opts=xx"}},
		{[]string{"RPUSHX", "l", "a"}, []string{"rpush l@1 elems=[a] opts=xx"}},
		{[]string{"LPOP", "l"}, []string{"lpop l@1 n=1"}},
		{[]string{"RPOP", "l", "4"}, []string{"rpop l@1 n=4"}},
		{[]string{"LSET", "l", "-1", "x"}, []string{"lset l@1 value=x n=-1"}},
		{[]string{"LTRIM", "l", "1", "-1"}, []string{"ltrim l@1 n=1 m=-1"}},
		{[]string{"LINSERT", "l", "BEFORE", "p", "x"}, []string{"linsert l@1 value=x field=p opts=before"}},
		{[]string{"LINSERT", "l", "after", "p", "x"}, []string{"linsert l@1 value=x field=p"}},
		{[]string{"LREM", "l", "-2", "x"}, []string{"lrem l@1 value=x n=-2"}},
		{[]string{"LMOVE", "a", "b", "LEFT", "RIGHT"}, []string{"lpop a@1 n=1 other=b", "rpush b@2 other=a"}},
		{[]string{"LMOVE", "a", "a", "right", "left"}, []string{"rpop a@1 n=1 other=a", "lpush a@2 other=a"}},
		{[]string{"BLMOVE", "a", "b", "RIGHT", "LEFT", "0"}, []string{"rpop a@1 n=1 other=b", "lpush b@2 other=a"}},
		{[]string{"RPOPLPUSH", "a", "b"}, []string{"rpop a@1 n=1 other=b", "lpush b@2 other=a"}},
		{[]string{"BRPOPLPUSH", "a", "b", "1"}, []string{"rpop a@1 n=1 other=b", "lpush b@2 other=a"}},

		// Streams, as propagated (concrete id, exact trim).
		{[]string{"XADD", "s", "1700000000000-0", "f", "v"}, []string{"xadd s@1 value=1700000000000-0 elems=[f v]"}},
		{[]string{"XADD", "s", "MAXLEN", "=", "50", "1-1", "f", "v", "g", "w"}, []string{"xadd s@1 value=1-1 field=50 elems=[f v g w] n=50 opts=maxlen"}},
		{[]string{"XADD", "s", "NOMKSTREAM", "MINID", "~", "5-0", "LIMIT", "10", "*", "f", "v"}, []string{"xadd s@1 value=* field=5-0 elems=[f v] m=10 opts=minid|approx|nomkstream"}},
		{[]string{"XTRIM", "s", "MAXLEN", "10"}, []string{"xtrim s@1 field=10 n=10 opts=maxlen"}},
		{[]string{"XTRIM", "s", "MINID", "=", "3-0"}, []string{"xtrim s@1 field=3-0 opts=minid"}},
		{[]string{"XDEL", "s", "1-0", "2-0"}, []string{"xdel s@1 elems=[1-0 2-0]"}},
		{[]string{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}, []string{"xgroup s@2 value=CREATE field=g elems=[$ MKSTREAM]"}},
		{[]string{"XGROUP", "DESTROY", "s", "g"}, []string{"xgroup s@2 value=DESTROY field=g elems=[]"}},
		{[]string{"XGROUP", "SETID", "s", "g", "5-0", "ENTRIESREAD", "3"}, []string{"xgroup s@2 value=SETID field=g elems=[5-0 ENTRIESREAD 3]"}},
		{[]string{"XACK", "s", "g", "1-0"}, []string{"xgroup s@1 field=g elems=[1-0]"}},
		{[]string{"XCLAIM", "s", "g", "c", "0", "1-0", "TIME", "123", "FORCE"}, []string{"xgroup s@1 field=g elems=[c 0 1-0 TIME 123 FORCE]"}},
		{[]string{"XAUTOCLAIM", "s", "g", "c", "0", "0-0"}, []string{"xgroup s@1 field=g elems=[c 0 0-0]"}},

		// No typed view: OpOther per key, with the command's type.
		{[]string{"SUNIONSTORE", "d", "a", "b"}, []string{"other d@1", "other a@2", "other b@3"}},
		{[]string{"PFADD", "p", "x"}, []string{"other p@1"}},
		{[]string{"XSETID", "s", "5-0"}, []string{"other s@1"}},
		// No keys: no events.
		{[]string{"PUBLISH", "ch", "msg"}, nil},
		{[]string{"FUNCTION", "LOAD", "code"}, nil},
		// Keys that cannot be told.
		{[]string{"NOSUCH.COMMAND", "k"}, []string{"db-change other err"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := bargs(tc.args...)
			evs := AppendEvents(nil, 0, args)
			checkEvents(t, 0, args, evs)
			var got []string
			for i := range evs {
				got = append(got, describe(&evs[i]))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestViewTypes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		typ  rdb.Type
	}{
		{[]string{"SET", "k", "v"}, rdb.TypeString},
		{[]string{"SUNIONSTORE", "d", "a"}, rdb.TypeSet},
		{[]string{"GEOADD", "g", "1", "2", "m"}, rdb.TypeZSet},
		{[]string{"BITOP", "AND", "d", "a"}, rdb.TypeString},
		{[]string{"RESTORE", "k", "0", "x"}, 0},
		{[]string{"DEL", "k"}, 0},
		{[]string{"SET", "k"}, rdb.TypeString}, // malformed: OpOther, still a string command
	} {
		evs := AppendEvents(nil, 0, bargs(tc.args...))
		require.NotEmpty(t, evs, tc.args)
		for _, e := range evs {
			require.Equal(t, tc.typ, e.Type, "%q", tc.args)
		}
	}
}

// Every event carries the replication offset and Tx given to the builder,
// whatever offsets its command's arguments hold (SETRANGE's, SETBIT's).
func TestViewOffsets(t *testing.T) {
	var keys [16]KeyRef
	for _, args := range [][]string{
		{"SET", "k", "v"}, {"SETRANGE", "k", "5", "ab"}, {"SETBIT", "k", "7", "1"},
		{"LSET", "l", "3", "x"}, {"RENAME", "a", "b"}, {"XADD", "s", "*", "f", "v"},
	} {
		evs, _ := appendEvents(nil, keys[:0], 0, bargs(args...), 1234, true)
		require.NotEmpty(t, evs, args)
		for _, e := range evs {
			require.Equal(t, int64(1234), e.Offset, "%q", args)
			require.True(t, e.Tx, "%q", args)
		}
	}
}

// Malformed arguments never give a typed view: OpOther events (or a
// db-wide one with Err), and no panic.
func TestViewsMalformed(t *testing.T) {
	for _, args := range [][]string{
		{"SET"}, {"SET", "k"}, {"SET", "k", "v", "PX"}, {"SET", "k", "v", "PX", "0"}, {"SET", "k", "v", "PX", "x"},
		{"SET", "k", "v", "NX", "XX"}, {"SET", "k", "v", "EX", "1", "PX", "1"}, {"SET", "k", "v", "KEEPTTL", "EX", "1"},
		{"SET", "k", "v", "EX", "9223372036854775807"}, {"SET", "k", "v", "BOGUS"},
		{"SETNX", "k"}, {"SETEX", "k", "-1", "v"}, {"SETEX", "k", "9223372036854775807", "v"}, {"MSET", "a"}, {"MSET", "a", "1", "b"},
		{"INCRBY", "k", "1.5"}, {"INCRBY", "k", "+1"}, {"INCRBY", "k", "01"}, {"INCRBY", "k", "-0"},
		{"INCRBY", "k", "9223372036854775808"}, {"DECRBY", "k", "-9223372036854775808"},
		{"SETRANGE", "k", "-1", "v"}, {"SETBIT", "k", "1", "2"}, {"SETBIT", "k", "-1", "1"},
		{"APPEND", "k"}, {"INCR"}, {"DEL"}, {"PERSIST", "a", "b"},
		{"PEXPIREAT", "k"}, {"PEXPIREAT", "k", "x"}, {"PEXPIREAT", "k", "1", "ZZ"}, {"EXPIREAT", "k", "9223372036854775807"},
		{"RENAME", "a"}, {"MOVE", "k", "-1"}, {"MOVE", "k", "x"}, {"COPY", "a", "b", "DB"}, {"COPY", "a", "b", "DB", "-1"}, {"COPY", "a", "b", "X"},
		{"FLUSHDB", "LATER"}, {"FLUSHALL", "A", "B"}, {"SWAPDB", "0"}, {"SWAPDB", "0", "x"},
		{"HSET", "h", "f"}, {"HSET", "h", "f", "v", "g"}, {"HSETNX", "h", "f"}, {"HDEL", "h"}, {"HINCRBY", "h", "f", "x"},
		{"SADD", "s"}, {"SMOVE", "a", "b"},
		{"ZADD", "z", "1"}, {"ZADD", "z", "x", "a"}, {"ZADD", "z", "nan", "a"}, {"ZADD", "z", "NX", "XX", "1", "a"},
		{"ZADD", "z", "GT", "LT", "1", "a"}, {"ZADD", "z", "NX", "GT", "1", "a"}, {"ZADD", "z", "INCR", "1", "a", "2", "b"},
		{"ZADD", "z", "1e400", "a"}, {"ZINCRBY", "z", "x", "m"}, {"ZREM", "z"}, {"ZPOPMIN", "z", "-1"}, {"ZPOPMIN", "z", "1", "2"},
		{"ZREMRANGEBYRANK", "z", "a", "1"}, {"ZREMRANGEBYSCORE", "z", "(", "1"}, {"ZREMRANGEBYLEX", "z", "a", "+"}, {"ZREMRANGEBYLEX", "z", "", "+"},
		{"LPUSH", "l"}, {"LPOP", "l", "x"}, {"LSET", "l", "x", "v"}, {"LTRIM", "l", "0"}, {"LINSERT", "l", "MIDDLE", "p", "x"},
		{"LREM", "l", "x", "v"}, {"LMOVE", "a", "b", "UP", "LEFT"}, {"LMOVE", "a", "b", "LEFT"}, {"RPOPLPUSH", "a"},
		{"XADD", "s"}, {"XADD", "s", "*"}, {"XADD", "s", "*", "f"}, {"XADD", "s", "MAXLEN"}, {"XADD", "s", "MAXLEN", "x", "*", "f", "v"},
		{"XADD", "s", "LIMIT", "10", "*", "f", "v"}, {"XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "f", "v"},
		{"XTRIM", "s"}, {"XTRIM", "s", "LIMIT", "1"}, {"XTRIM", "s", "MAXLEN", "1", "junk"}, {"XDEL", "s"},
		{"XGROUP", "HELP"}, {"XGROUP", "NOPE", "s", "g"}, {"XACK", "s", "g"}, {"XCLAIM", "s", "g", "c"},
		{""}, {strings.Repeat("x", 100), "k"},
	} {
		a := bargs(args...)
		evs := AppendEvents(nil, 0, a)
		checkEvents(t, 0, a, evs)
		for i := range evs {
			require.Equal(t, OpOther, evs[i].Op, "%q: %s", args, describe(&evs[i]))
		}
	}
	require.Empty(t, AppendEvents(nil, 0, nil))
}

func TestParseInt(t *testing.T) {
	for s, want := range map[string]int64{
		"0": 0, "1": 1, "-1": -1, "9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64,
	} {
		v, ok := parseInt([]byte(s))
		require.True(t, ok, s)
		require.Equal(t, want, v, s)
	}
	for _, s := range []string{"", "-", "+1", "01", "-0", "1a", " 1", "9223372036854775808", "-9223372036854775809", "99999999999999999999"} {
		_, ok := parseInt([]byte(s))
		require.False(t, ok, s)
	}
}

func TestParseScore(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1.5", "0.1", "123456789012345", "1.23456789012345", "1e10", "-2.5E-3",
		"inf", "+inf", "-inf", "INF", "0x1p3", "1.", ".5", "99999999999999999999", "1.000000000000000000001"} {
		got, err := ParseScore([]byte(s))
		require.NoError(t, err, s)
		want, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, s)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), s)
	}
	for _, s := range []string{"", "nan", "NaN", "x", "1x", " 1", "1 ", "1e400", "-1e400", "--1", "1_0"} {
		_, err := ParseScore([]byte(s))
		require.Error(t, err, s)
	}
}

func TestCommandTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range cmdNames {
		require.LessOrEqual(t, len(c.name), maxCmdName, c.name)
		require.False(t, seen[c.name], "duplicate %s", c.name)
		seen[c.name] = true
		id, typ := lookupCommand([]byte(strings.ToUpper(c.name)))
		require.Equal(t, c.id, id, c.name)
		require.Equal(t, c.typ, typ, c.name)
	}
	for _, n := range []string{"", "ge", "sets", "hsetx", "zzzz", strings.Repeat("a", 30)} {
		id, _ := lookupCommand([]byte(n))
		require.Equal(t, cmdUnknown, id, n)
	}
}

func TestOpStrings(t *testing.T) {
	names := map[string]bool{}
	for o := OpNone; o < numOps; o++ {
		s := o.String()
		require.NotEmpty(t, s)
		require.False(t, names[s], "duplicate name %s", s)
		names[s] = true
	}
	require.Equal(t, "op(200)", Op(200).String())
	require.Equal(t, "nx|keepttl", (OptNX | OptKeepTTL).String())
	require.Equal(t, "change", KindChange.String())
	require.Equal(t, "kind(9)", Kind(9).String())
	require.Equal(t, rdb.TypeList, OpRPush.Type())
	require.Equal(t, rdb.Type(0), OpRenameTo.Type())
}
