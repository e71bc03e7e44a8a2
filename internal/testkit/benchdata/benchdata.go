// Package benchdata fills a real redis-server with the mixed dataset that
// the decoder benchmarks read (BENCHMARKS.md): a few very large collections
// (a list, a hash and a sorted set of millions of elements) next to many
// small keys of every type, in every encoding Redis 7.0 writes with its
// default configuration.
//
// The content is deterministic: every key, element and score comes from a
// seeded generator and every stream id and expiry is explicit, so two builds
// with the same [Spec] hold the same data (the RDB files still differ in
// their ctime and memory AUX fields).
package benchdata

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Spec sizes the dataset. Zero counts leave that part out.
type Spec struct {
	BigList int // elements of the one big list (quicklist of listpacks)
	BigHash int // fields of the one big hash (hashtable)
	BigZSet int // members of the one big sorted set (skiplist)

	IntStrings   int // string keys holding integers
	SmallStrings int // string keys holding 8-40 byte text
	LargeStrings int // string keys holding ~1 KB values (half compressible, half not)

	SmallLists int // lists of 5-30 elements (quicklist with one listpack node)
	IntSets    int // sets of 5-30 integers (intset)
	SmallSets  int // sets of 5-30 strings (hashtable in Redis 7.0, listpack from 7.2)
	SmallZSets int // sorted sets of 5-30 members (listpack)
	SmallHashs int // hashes of 5-30 fields (listpack)

	Streams       int // streams with two consumer groups each
	StreamEntries int // entries per stream

	ExpireEvery int // every n-th small key gets an absolute expiry (0: none)
	Seed        uint64
	Pipeline    int // commands per pipeline round trip (default 10000)
}

// Default is the ~150 MB dataset of BENCHMARKS.md.
func Default() Spec {
	return Spec{
		BigList: 2_000_000, BigHash: 1_000_000, BigZSet: 1_000_000,
		IntStrings: 300_000, SmallStrings: 300_000, LargeStrings: 40_000,
		SmallLists: 15_000, IntSets: 15_000, SmallSets: 15_000, SmallZSets: 15_000, SmallHashs: 15_000,
		Streams: 5, StreamEntries: 20_000,
		ExpireEvery: 10, Seed: 1,
	}
}

// Scaled returns Default with every count divided by div (at least 1 where
// Default has any), for a smaller dataset of the same shape.
func Scaled(div int) Spec {
	s := Default()
	d := func(n int) int {
		if n == 0 {
			return 0
		}
		return max(1, n/div)
	}
	s.BigList, s.BigHash, s.BigZSet = d(s.BigList), d(s.BigHash), d(s.BigZSet)
	s.IntStrings, s.SmallStrings, s.LargeStrings = d(s.IntStrings), d(s.SmallStrings), d(s.LargeStrings)
	s.SmallLists, s.IntSets, s.SmallSets = d(s.SmallLists), d(s.IntSets), d(s.SmallSets)
	s.SmallZSets, s.SmallHashs = d(s.SmallZSets), d(s.SmallHashs)
	s.StreamEntries = d(s.StreamEntries)
	return s
}

// Keys is the number of keys the spec creates.
func (s Spec) Keys() int {
	n := s.IntStrings + s.SmallStrings + s.LargeStrings + s.SmallLists + s.IntSets + s.SmallSets +
		s.SmallZSets + s.SmallHashs + s.Streams
	for _, c := range []int{s.BigList, s.BigHash, s.BigZSet} {
		if c > 0 {
			n++
		}
	}
	return n
}

// Populate flushes the server's current database and writes the dataset
// into it. It does not save.
func Populate(ctx context.Context, c *redis.Client, s Spec) error {
	if s.Pipeline <= 0 {
		s.Pipeline = 10_000
	}
	g := &gen{rng: rand.New(rand.NewPCG(s.Seed, 0x62656e6368)), spec: s}
	if err := c.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("benchdata: flushdb: %w", err)
	}
	p := &pipe{ctx: ctx, p: c.Pipeline(), max: s.Pipeline}

	// The big collections, in batches of 1000 elements per command.
	const batch = 1000
	for i := 0; i < s.BigList; i += batch {
		args := []any{}
		for j := i; j < min(i+batch, s.BigList); j++ {
			args = append(args, g.listElem(j))
		}
		p.add(redis.NewCmd(ctx, append([]any{"RPUSH", "big:list"}, args...)...))
	}
	for i := 0; i < s.BigHash; i += batch {
		args := []any{"HSET", "big:hash"}
		for j := i; j < min(i+batch, s.BigHash); j++ {
			args = append(args, "field:"+strconv.Itoa(j), g.text(8, 24))
		}
		p.add(redis.NewCmd(ctx, args...))
	}
	for i := 0; i < s.BigZSet; i += batch {
		args := []any{"ZADD", "big:zset"}
		for j := i; j < min(i+batch, s.BigZSet); j++ {
			args = append(args, g.score(), "member:"+strconv.Itoa(j))
		}
		p.add(redis.NewCmd(ctx, args...))
	}

	// Many small keys.
	n := 0
	expire := func(key string) {
		n++
		if s.ExpireEvery > 0 && n%s.ExpireEvery == 0 {
			// 2100-01-01 plus a spread: never expires during a build.
			p.add(redis.NewCmd(ctx, "PEXPIREAT", key, 4102444800000+int64(n)))
		}
	}
	for i := 0; i < s.IntStrings; i++ {
		k := "int:" + strconv.Itoa(i)
		p.add(redis.NewCmd(ctx, "SET", k, g.rng.Int64N(1<<40)-1<<39))
		expire(k)
	}
	for i := 0; i < s.SmallStrings; i++ {
		k := "str:" + strconv.Itoa(i)
		p.add(redis.NewCmd(ctx, "SET", k, g.text(8, 40)))
		expire(k)
	}
	for i := 0; i < s.LargeStrings; i++ {
		k := "blob:" + strconv.Itoa(i)
		var v []byte
		if i%2 == 0 {
			v = g.words(900, 1100) // text: LZF compresses it
		} else {
			v = g.random(900, 1100) // random bytes: stored raw
		}
		p.add(redis.NewCmd(ctx, "SET", k, v))
		expire(k)
	}
	// Small collections of 5 to 30 elements, each element from elem.
	small := func(n int, prefix, cmd string, elem func(j int) []any) {
		for i := 0; i < n; i++ {
			k := prefix + strconv.Itoa(i)
			args := []any{cmd, k}
			for j, m := 0, 5+g.rng.IntN(26); j < m; j++ {
				args = append(args, elem(j)...)
			}
			p.add(redis.NewCmd(ctx, args...))
			expire(k)
		}
	}
	small(s.SmallLists, "list:", "RPUSH", func(int) []any { return []any{g.listElem(g.rng.IntN(1 << 20))} })
	small(s.IntSets, "iset:", "SADD", func(int) []any { return []any{g.rng.Int64N(1 << 33)} })
	small(s.SmallSets, "set:", "SADD", func(int) []any { return []any{g.text(4, 20)} })
	small(s.SmallZSets, "zset:", "ZADD", func(int) []any { return []any{g.score(), g.text(4, 20)} })
	small(s.SmallHashs, "hash:", "HSET", func(j int) []any { return []any{"f" + strconv.Itoa(j), g.text(4, 30)} })
	for i := 0; i < s.Streams; i++ {
		k := "stream:" + strconv.Itoa(i)
		for j := 0; j < s.StreamEntries; j++ {
			id := strconv.Itoa(1700000000000+j/4) + "-" + strconv.Itoa(j%4)
			p.add(redis.NewCmd(ctx, "XADD", k, id, "sensor", strconv.Itoa(j%97),
				"value", g.text(4, 16), "seq", j))
		}
		for _, grp := range []string{"g1", "g2"} {
			p.add(redis.NewCmd(ctx, "XGROUP", "CREATE", k, grp, "0"))
		}
		if err := p.flush(); err != nil {
			return err
		}
		// Deliver part of the stream to three consumers, so the groups
		// carry pending-entries lists; acknowledge some of it.
		read := min(s.StreamEntries, 3000)
		for c := 0; c < 3; c++ {
			p.add(redis.NewCmd(ctx, "XREADGROUP", "GROUP", "g1", "c"+strconv.Itoa(c),
				"COUNT", read/3, "STREAMS", k, ">"))
		}
		if err := p.flush(); err != nil {
			return err
		}
		for j := 0; j < read/2; j++ {
			id := strconv.Itoa(1700000000000+j/4) + "-" + strconv.Itoa(j%4)
			p.add(redis.NewCmd(ctx, "XACK", k, "g1", id))
		}
		p.add(redis.NewCmd(ctx, "XDEL", k, "1700000000000-1"))
	}
	return p.flush()
}

// pipe queues commands and sends them max at a time; the first error sticks.
type pipe struct {
	ctx context.Context
	p   redis.Pipeliner
	n   int
	max int
	err error
}

func (p *pipe) add(c *redis.Cmd) {
	if p.err != nil {
		return
	}
	p.p.Process(p.ctx, c) //nolint:errcheck // queued; errors come from Exec
	p.n++
	if p.n >= p.max {
		p.err = p.flush()
	}
}

func (p *pipe) flush() error {
	if p.err != nil || p.n == 0 {
		return p.err
	}
	p.n = 0
	cmds, err := p.p.Exec(p.ctx)
	if err != nil {
		for _, c := range cmds {
			if c.Err() != nil {
				return fmt.Errorf("benchdata: %v: %w", c.Args()[:min(len(c.Args()), 3)], c.Err())
			}
		}
		return fmt.Errorf("benchdata: pipeline: %w", err)
	}
	return nil
}

type gen struct {
	rng  *rand.Rand
	spec Spec
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:."

// text returns a random alphanumeric string of lo to hi bytes.
func (g *gen) text(lo, hi int) string {
	n := lo + g.rng.IntN(hi-lo+1)
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	return string(b)
}

var dict = []string{"redis", "replica", "snapshot", "stream", "offset", "listpack", "quicklist",
	"checksum", "value", "member", "score", "field", "expire", "database", "module", "the", "a",
	"of", "and", "to", "key", "tap", "command", "buffer", "socket", "master", "slave", "sync"}

// words returns lo to hi bytes of space-separated dictionary words and
// numbers: compressible, but not trivially.
func (g *gen) words(lo, hi int) []byte {
	n := lo + g.rng.IntN(hi-lo+1)
	b := make([]byte, 0, n+16)
	for len(b) < n {
		if g.rng.IntN(4) == 0 {
			b = strconv.AppendInt(b, g.rng.Int64N(100000), 10)
		} else {
			b = append(b, dict[g.rng.IntN(len(dict))]...)
		}
		b = append(b, ' ')
	}
	return b[:n]
}

// random returns lo to hi random bytes.
func (g *gen) random(lo, hi int) []byte {
	n := lo + g.rng.IntN(hi-lo+1)
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := g.rng.Uint64()
		for j := i; j < min(i+8, n); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// listElem is a list element: a mix of integers (stored as listpack
// integers), short and medium strings.
func (g *gen) listElem(i int) any {
	switch g.rng.IntN(4) {
	case 0:
		return g.rng.Int64N(1 << 31)
	case 1:
		return "item:" + strconv.Itoa(i)
	case 2:
		return g.text(10, 40)
	default:
		return "event " + strconv.Itoa(i) + " " + dict[g.rng.IntN(len(dict))]
	}
}

// score is a sorted-set score: integers, decimals and a few large values.
func (g *gen) score() string {
	switch g.rng.IntN(3) {
	case 0:
		return strconv.Itoa(g.rng.IntN(1_000_000))
	case 1:
		return strconv.FormatFloat(g.rng.Float64()*1000, 'f', 3, 64)
	default:
		return strconv.FormatFloat(g.rng.NormFloat64()*1e12, 'g', -1, 64)
	}
}
