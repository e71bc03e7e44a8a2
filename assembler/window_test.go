package assembler

import (
	"strconv"
	"testing"
	"time"

	"github.com/redtap/redtap/rdb"
	"github.com/stretchr/testify/require"
)

func c(args ...string) []string { return args }

func TestWindows(t *testing.T) {
	rec := func(id string, ts int) string { return `{"id":"` + id + `","t":` + strconv.Itoa(ts) + `}` }
	tests := []struct {
		name  string
		win   Window
		snap  []*rdb.Entry
		cmds  [][]string
		key   string
		want  []string
		stale bool
	}{
		{name: "zset newest N by score, out of order", win: Window{Limit: 3},
			cmds: [][]string{c("ZADD", "k", "5", "e", "1", "a", "3", "c"), c("ZADD", "k", "2", "b", "4", "d")},
			key:  "k", want: []string{"c", "d", "e"}},
		{name: "zset equal scores by member", win: Window{Limit: 2},
			cmds: [][]string{c("ZADD", "k", "1", "b", "1", "c", "1", "a")},
			key:  "k", want: []string{"b", "c"}},
		{name: "zset snapshot then changes", win: Window{Limit: 3},
			snap: []*rdb.Entry{zsetEntry("k", "a", 1, "b", 2, "c", 3, "d", 4)},
			cmds: [][]string{c("ZREM", "k", "d"), c("ZINCRBY", "k", "10", "a")},
			key:  "k", want: []string{"b", "c", "a"}},
		{name: "zset NX XX GT LT INCR", win: Window{Limit: 10},
			cmds: [][]string{
				c("ZADD", "k", "1", "a", "2", "b", "3", "c"),
				c("ZADD", "k", "NX", "9", "a", "4", "d"), // a stays 1, d added
				c("ZADD", "k", "XX", "7", "b", "8", "e"), // b 7, e not added
				c("ZADD", "k", "GT", "0", "c", "5", "d"), // c stays 3, d 5
				c("ZADD", "k", "LT", "6", "b", "0", "a"), // b 6, a 0
				c("ZADD", "k", "INCR", "10", "a"),        // a 10
				c("ZADD", "k", "GT", "INCR", "-1", "a"),  // no change
			},
			key: "k", want: []string{"c", "d", "b", "a"}},
		{name: "zset pops and ranges", win: Window{Limit: 10},
			cmds: [][]string{
				c("ZADD", "k", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f", "7", "g"),
				c("ZPOPMIN", "k"), c("ZPOPMAX", "k", "2"),
				c("ZREMRANGEBYSCORE", "k", "(2", "3"),
				c("ZREMRANGEBYRANK", "k", "-1", "-1"),
			},
			key: "k", want: []string{"b", "d"}},
		{name: "zset lex range over equal scores", win: Window{Limit: 10},
			cmds: [][]string{c("ZADD", "k", "0", "a", "0", "b", "0", "c", "0", "d"), c("ZREMRANGEBYLEX", "k", "(a", "[c")},
			key:  "k", want: []string{"a", "d"}},
		{name: "zset lex range over unequal scores is stale", win: Window{Limit: 10},
			cmds: [][]string{c("ZADD", "k", "0", "a", "1", "b"), c("ZREMRANGEBYLEX", "k", "-", "+")},
			key:  "k", want: []string{"a", "b"}, stale: true},
		{name: "zset dedup by id keeps the newest", win: Window{Limit: 2, DedupID: true},
			cmds: [][]string{c("ZADD", "k", "1", rec("x", 1), "2", rec("y", 2), "3", rec("x", 3), "4", "plain")},
			key:  "k", want: []string{"x=" + rec("x", 3), "plain"}},
		{name: "zset numeric id", win: Window{Limit: 5, DedupID: true},
			cmds: [][]string{c("ZADD", "k", "1", `{"id":12,"v":1}`, "2", `{"id":12,"v":2}`, "3", `{"id":null}`)},
			key:  "k", want: []string{`12={"id":12,"v":2}`, `{"id":null}`}},
		{name: "zset emptied is deleted", win: Window{Limit: 5},
			cmds: [][]string{c("ZADD", "k", "1", "a"), c("ZREM", "k", "a")},
			key:  "k", want: nil},
		{name: "stream newest N", win: Window{Limit: 2},
			cmds: [][]string{
				c("XADD", "s", "1-0", "f", "a"), c("XADD", "s", "2-0", "f", "b"), c("XADD", "s", "3-0", "f", "c"),
				c("XADD", "s", "MAXLEN", "=", "3", "4-0", "f", "d"), c("XDEL", "s", "4-0"),
			},
			key: "s", want: []string{`2-0={"f":"b"}`, `3-0={"f":"c"}`}},
		{name: "stream trim minid", win: Window{Limit: 5},
			cmds: [][]string{c("XADD", "s", "1-0", "f", "a"), c("XADD", "s", "2-0", "f", "b"), c("XTRIM", "s", "MINID", "2")},
			key:  "s", want: []string{`2-0={"f":"b"}`}},
		{name: "list tail window", win: Window{Limit: 2},
			cmds: [][]string{c("RPUSH", "l", "a", "b", "c", "d"), c("RPOP", "l"), c("LSET", "l", "-1", "C")},
			key:  "l", want: []string{"1=b", "2=C"}},
		{name: "list head window", win: Window{Limit: 2, FromHead: true},
			cmds: [][]string{c("LPUSH", "l", "a", "b", "c"), c("LINSERT", "l", "BEFORE", "b", "x"), c("LREM", "l", "1", "c")},
			key:  "l", want: []string{"0=x", "1=b"}},
		{name: "list trim and move", win: Window{Limit: 10},
			cmds: [][]string{c("RPUSH", "l", "a", "b", "c", "d"), c("LTRIM", "l", "1", "-1"), c("LMOVE", "l", "l", "LEFT", "RIGHT"), c("LPOP", "l")},
			key:  "l", want: []string{"0=d", "1=b"}},
		{name: "hash fields", win: Window{Limit: 2},
			cmds: [][]string{c("HSET", "h", "b", "2", "a", "1", "c", "3"), c("HINCRBY", "h", "a", "5"), c("HDEL", "h", "b")},
			key:  "h", want: []string{"a=6", "c=3"}},
		{name: "string ops", win: Window{},
			cmds: [][]string{c("SET", "s", "ab"), c("APPEND", "s", "cd"), c("SETRANGE", "s", "1", "XY")},
			key:  "s", want: []string{"=aXYd"}},
		{name: "incrby", win: Window{},
			cmds: [][]string{c("INCRBY", "n", "5"), c("DECR", "n")},
			key:  "n", want: []string{"=4"}},
		{name: "incrby on a non-integer is stale", win: Window{},
			cmds: [][]string{c("SET", "n", "x"), c("INCR", "n")},
			key:  "n", want: []string{"=x"}, stale: true},
		{name: "set members", win: Window{Limit: 2},
			cmds: [][]string{c("SADD", "s", "c", "a", "b"), c("SREM", "s", "a")},
			key:  "s", want: []string{"b", "c"}},
		{name: "rename moves the value", win: Window{},
			cmds: [][]string{c("SADD", "a", "x"), c("RENAME", "a", "b")},
			key:  "b", want: []string{"x"}},
		{name: "rename source leaves", win: Window{},
			cmds: [][]string{c("SADD", "a", "x"), c("RENAME", "a", "b")},
			key:  "a", want: nil},
		{name: "copy keeps the source", win: Window{},
			cmds: [][]string{c("SADD", "a", "x"), c("COPY", "a", "b"), c("SADD", "b", "y")},
			key:  "a", want: []string{"x"}},
		{name: "other command is stale", win: Window{},
			cmds: [][]string{c("SADD", "a", "x"), c("SUNIONSTORE", "a", "a", "b")},
			key:  "a", want: []string{"x"}, stale: true},
		{name: "stale cleared by DEL and SET", win: Window{},
			cmds: [][]string{c("SADD", "a", "x"), c("SUNIONSTORE", "a", "a", "b"), c("DEL", "a"), c("SET", "a", "v")},
			key:  "a", want: []string{"=v"}},
		{name: "expire changes nothing", win: Window{},
			cmds: [][]string{c("SET", "a", "v"), c("PEXPIREAT", "a", "1"), c("PERSIST", "a")},
			key:  "a", want: []string{"=v"}},
		{name: "flushdb", win: Window{},
			cmds: [][]string{c("SET", "a", "v"), c("FLUSHDB")},
			key:  "a", want: nil},
		{name: "swapdb", win: Window{},
			cmds: [][]string{c("SET", "a", "v"), c("SWAPDB", "0", "1")},
			key:  "a", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.win.Match = "*"
			r := newRig(t, Config{Windows: []Window{tc.win}, Interval: AtOnce})
			r.f.snapshot(tc.snap...)
			for _, cmd := range tc.cmds {
				r.f.cmd(cmd...)
			}
			r.sync()
			got := r.v.values(tc.key)
			if tc.want == nil {
				require.Nil(t, r.v.windows["0/"+tc.key], "%v", got)
				return
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.stale, r.v.windows["0/"+tc.key].stale)
			// A new viewer sees the same.
			s2 := &recSink{}
			_, err := r.a.Subscribe(s2, nil, -1)
			require.NoError(t, err)
			v2 := newView()
			v2.applyAll(t, s2.msgs)
			require.Equal(t, tc.want, v2.values(tc.key))
		})
	}
}

func TestSwapDBMovesKeys(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*"}}, Interval: AtOnce})
	r.f.snapshot()
	r.f.cmd("SET", "a", "0")
	r.f.cmdDB(1, "SET", "a", "1")
	r.f.cmdDB(1, "SET", "b", "1")
	r.f.cmd("SWAPDB", "0", "1")
	r.f.cmdDB(2, "SET", "c", "2")
	r.f.cmd("MOVE", "a", "3")
	r.sync()
	require.Equal(t, "0/b 1/a 2/c 3/a", r.v.keys())
	require.Equal(t, []string{"=1"}, r.v.values("b"))
	r.f.cmd("FLUSHALL")
	r.sync()
	require.Equal(t, "", r.v.keys())
}

func TestMaxAge(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*", MaxAge: 10 * time.Second}}})
	now := r.c.ms()
	r.f.snapshot(zsetEntry("k", "old", int(now-20_000), "mid", int(now-5_000)))
	r.sync()
	require.Equal(t, []string{"mid"}, r.v.values("k"))
	r.f.cmd("ZADD", "k", strconv.FormatInt(now+1000, 10), "new")
	r.tick() // +1s
	require.Equal(t, []string{"mid", "new"}, r.v.values("k"))
	r.c.Add(4 * time.Second) // mid is now 10s old + 1 ms after the next second
	r.tick()
	require.Equal(t, []string{"new"}, r.v.values("k"))
	// Nothing changes: no message.
	r.a.Tick()
	require.Empty(t, r.sink.msgs)
}

func TestJSONStrings(t *testing.T) {
	require.Equal(t, `"a\"\\\n\u0001`+"\ufffd"+`\u2028é"`, string(appendString(nil, "a\"\\\n\x01\xff\u2028é")))
	require.Equal(t, "\"\ufffd\"", string(appendString(nil, []byte{0xc3})))
	require.Equal(t, "1733130000123", string(appendScore(nil, 1733130000123)))
	require.Equal(t, "1.5", string(appendScore(nil, 1.5)))
	require.Equal(t, "-1.7976931348623157e+308", string(appendScore(nil, mathInf(-1))))
	require.Equal(t, "h1:5", memberID(`{"id":"h1:5","x":1}`))
	require.Equal(t, "7", memberID(` {"id":7}`))
	require.Equal(t, `{"id":`, memberID(`{"id":`))
	require.Equal(t, `{"x":1}`, memberID(`{"x":1}`))
}

// TestJSONShapes pins the entry shape of every type (the contract with
// the page).
func TestJSONShapes(t *testing.T) {
	r := newRig(t, Config{Windows: []Window{{Match: "*", Limit: 2}}, Interval: AtOnce})
	r.f.snapshot(
		&rdb.Entry{Key: []byte("h"), Type: rdb.TypeHash, Fields: []rdb.Field{{Name: []byte("f"), Value: []byte("v")}}, Last: true},
		&rdb.Entry{Key: []byte("l"), Type: rdb.TypeList, Elems: [][]byte{[]byte("a"), []byte("b"), []byte("c")}, Last: true},
		&rdb.Entry{Key: []byte("s"), Type: rdb.TypeSet, Elems: [][]byte{[]byte("m")}, Last: true},
		&rdb.Entry{Key: []byte("t"), Type: rdb.TypeString, Str: []byte("x\xff"), Last: true},
		&rdb.Entry{Key: []byte("x"), Type: rdb.TypeStream, Stream: &rdb.Stream{Entries: []rdb.StreamEntry{
			{ID: rdb.StreamID{Ms: 5, Seq: 1}, Fields: [][]byte{[]byte("a"), []byte("1"), []byte("b"), []byte("2")}}}}, Last: true},
		zsetEntry("z", "m", 3),
	)
	msgs := r.sink.take()
	require.Equal(t, `{"offset":100,"windows":[`+
		`{"db":0,"key":"h","type":"hash","entries":[{"id":"f","value":"v"}]},`+
		`{"db":0,"key":"l","type":"list","entries":[{"id":"1","value":"b"},{"id":"2","value":"c"}]},`+
		`{"db":0,"key":"s","type":"set","entries":[{"id":"m","value":"m"}]},`+
		`{"db":0,"key":"t","type":"string","entries":[{"id":"","value":"x`+"\ufffd"+`"}]},`+
		`{"db":0,"key":"x","type":"stream","entries":[{"id":"5-1","score":5,"value":{"a":"1","b":"2"}}]},`+
		`{"db":0,"key":"z","type":"zset","entries":[{"id":"m","score":3,"value":"m"}]}]}`, string(msgs[0].Data))
	r.f.cmd("SUNIONSTORE", "u", "s")
	r.f.cmd("LPUSH", "l", "n")
	msgs = r.sink.take()
	// The key SUNIONSTORE only read is stale too: the view cannot tell
	// (see the package documentation).
	require.Equal(t, `{"offset":110,"deltas":[{"db":0,"key":"u","type":"set","clear":false,"stale":true,"del":[],"set":[]},`+
		`{"db":0,"key":"s","type":"set","clear":false,"stale":true,"del":[],"set":[]}]}`, string(msgs[0].Data))
	require.Equal(t, `{"offset":120,"deltas":[{"db":0,"key":"l","type":"list","clear":false,"del":["1"],"set":[{"id":"2","value":"b"},{"id":"3","value":"c"}]}]}`, string(msgs[1].Data))
}
