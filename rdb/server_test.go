package rdb

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/redtap/redtap/internal/testkit/redistest"
)

// Tests against a real redis-server: write datasets, SAVE, decode
// <Dir>/dump.rdb and compare every key with what the server returns.

// serverArgs are the configuration directives of the dataset servers.
func serverArgs(compression bool) []string {
	c := "no"
	if compression {
		c = "yes"
	}
	return []string{
		"--dbfilename", "dump.rdb", "--rdbcompression", c, "--rdbchecksum", "yes",
		"--list-max-listpack-size", "-2", "--list-compress-depth", "1",
	}
}

// dbClient returns a client of database db, closed when the test ends.
func dbClient(t testing.TB, s *redistest.Server, db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DB: db, Protocol: 2, DisableIdentity: true, MaxRetries: 3})
	t.Cleanup(func() { c.Close() })
	return c
}

// saveAndRead runs SAVE and returns the dump's bytes.
func saveAndRead(t testing.TB, s *redistest.Server) []byte {
	t.Helper()
	require.NoError(t, s.Client().Save(context.Background()).Err())
	b, err := os.ReadFile(filepath.Join(s.Dir, "dump.rdb"))
	require.NoError(t, err)
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	require.NoError(t, err)
}

// datasetFacts are values the dataset test checks in the file itself.
type datasetFacts struct {
	compressible string // a string value LZF shrinks
	plainElem    string // an element large enough for a plain quicklist node
	midElem      string // an element in the middle of a compressed quicklist
}

// writeDataset writes every type and encoding Redis 7.0 produces into
// databases 0 to 3.
func writeDataset(t testing.TB, s *redistest.Server) datasetFacts {
	ctx := context.Background()
	c := dbClient(t, s, 0)
	rng := rand.New(rand.NewPCG(11, 12))
	randBytes := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return string(b)
	}
	var f datasetFacts

	// strings
	p := c.Pipeline()
	for k, v := range map[string]string{
		"str:int8": "7", "str:int16": "300", "str:int32": "70000", "str:min32": "-2147483648",
		"str:int64": "9223372036854775807", "str:notint": "007", "str:plus": "+5", "str:empty": "",
		"str:short": "hello", "str:utf8": "héllo wörld ✓", "str:binary": "\x00\xff\xfe\xc3\x28 bin\r\n",
		"bin\x00\xffkey": "binary key", "": "the empty key", "str:random": randBytes(5000),
		"str:float": "3.14",
	} {
		p.Set(ctx, k, v, 0)
	}
	f.compressible = strings.Repeat("abcdefgh", 2000)
	p.Set(ctx, "str:compressible", f.compressible, 0)
	// LZF at its best ratio (a 264-byte back reference per 3 bytes, 88:1)
	p.Set(ctx, "str:zeros", strings.Repeat("\x00", 1<<20), 0)
	// lists: a small listpack node, multi-node lists (inner nodes LZF
	// compressed by list-compress-depth 1), integers
	p.RPush(ctx, "list:small", "a", "1", "-5", "hello", "300000", "9223372036854775807", "", "\x00\xff")
	big := make([]any, 5000)
	for i := range big {
		big[i] = fmt.Sprintf("item-%06d-%s", i, strings.Repeat("p", i%50))
	}
	p.RPush(ctx, "list:big", big...)
	f.midElem = big[2500].(string)
	ints := make([]any, 3000)
	for i := range ints {
		ints[i] = int64(i*i*i) - 1<<20
	}
	p.RPush(ctx, "list:ints", ints...)
	// sets: intsets of every width, hashtables (7.0 has no listpack sets)
	p.SAdd(ctx, "set:int16", 1, 2, 3, -5, 32767)
	p.SAdd(ctx, "set:int32", 70000, -70000, 1)
	p.SAdd(ctx, "set:int64", int64(1)<<40, -(int64(1) << 40), math.MaxInt64, math.MinInt64)
	p.SAdd(ctx, "set:strings", "a", "b", "c", "\x00")
	members := make([]any, 1000)
	for i := range members {
		members[i] = fmt.Sprintf("m%d", i)
	}
	p.SAdd(ctx, "set:big", members...)
	// zsets: listpack and skiplist, scores of every kind
	scores := []float64{0, 1, -1, 1.5, -2.25, 0.1, 1e300, -1e300, math.Inf(1), math.Inf(-1),
		123456789012, 5e-324, math.MaxFloat64, 1 << 53}
	var zs []redis.Z
	for i, sc := range scores {
		zs = append(zs, redis.Z{Score: sc, Member: fmt.Sprintf("z%02d", i)})
	}
	p.ZAdd(ctx, "zset:small", zs...)
	zs = nil
	for i := 0; i < 300; i++ {
		zs = append(zs, redis.Z{Score: scores[i%len(scores)] + float64(i), Member: fmt.Sprintf("member-%d", i)})
	}
	p.ZAdd(ctx, "zset:skiplist", zs...)
	p.ZAdd(ctx, "zset:longmember", redis.Z{Score: 2, Member: strings.Repeat("M", 100)}, redis.Z{Score: math.Inf(-1), Member: "x"})
	// hashes: listpack and hashtable
	p.HSet(ctx, "hash:small", "f1", "v1", "num", "123", "neg", "-5", "empty", "", "bin", "\x00\xff")
	fields := make([]any, 0, 2000)
	for i := 0; i < 1000; i++ {
		fields = append(fields, fmt.Sprintf("field:%d", i), fmt.Sprintf("value:%d", i*7))
	}
	p.HSet(ctx, "hash:big", fields...)
	p.HSet(ctx, "hash:longval", "f", strings.Repeat("V", 100), "g", "1")
	// TTLs in ms (absolute, so they compare exactly)
	p.PExpireAt(ctx, "str:short", timeMs(4102444800123))
	p.PExpireAt(ctx, "list:small", timeMs(4102444800999))
	p.PExpireAt(ctx, "hash:small", timeMs(1999999999001))
	p.PExpireAt(ctx, "zset:skiplist", timeMs(4102444800000))
	_, err := p.Exec(ctx)
	must(t, err)

	// a list with plain nodes: elements at or over the packed threshold
	must(t, c.Do(ctx, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "8192").Err())
	f.plainElem = randBytes(10000)
	must(t, c.RPush(ctx, "list:plain", "head", f.plainElem, "mid", randBytes(8192), "tail").Err())
	must(t, c.Do(ctx, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0").Err()) // back to 1 GiB

	writeStreams(t, c)

	// databases 1 to 3
	for db := 1; db <= 3; db++ {
		cdb := dbClient(t, s, db)
		must(t, cdb.Set(ctx, "dup", fmt.Sprintf("db%d", db), 0).Err())
		must(t, cdb.RPush(ctx, fmt.Sprintf("list%d", db), "x", db).Err())
		must(t, cdb.HSet(ctx, "h", "db", db).Err())
		if db == 3 {
			must(t, cdb.SetArgs(ctx, "ttl", "v", redis.SetArgs{ExpireAt: timeMs(4102444801234)}).Err())
			must(t, cdb.SAdd(ctx, "s", 1, 2, 3).Err())
		}
	}
	return f
}

func writeStreams(t testing.TB, c *redis.Client) {
	ctx := context.Background()
	p := c.Pipeline()
	// many entries over several listpack nodes (stream-node-max-entries
	// 100), some with the master entry's fields, some with others
	for i := 1; i <= 1000; i++ {
		var vals []any
		switch i % 3 {
		case 0:
			vals = []any{"a", i, "b", "x"}
		case 1:
			vals = []any{"a", i, "c", strings.Repeat("y", i%70), "d", -i}
		default:
			vals = []any{"a", i, "b", "\x00\xff"}
		}
		p.XAdd(ctx, &redis.XAddArgs{Stream: "stream:main", ID: fmt.Sprintf("%d-%d", 1700000000000+i/7, i%7), Values: vals})
	}
	_, err := p.Exec(ctx)
	must(t, err)
	for _, id := range []string{"1700000000001-1", "1700000000010-3", "1700000000100-0", "1700000000142-6"} {
		must(t, c.XDel(ctx, "stream:main", id).Err())
	}
	must(t, c.XGroupCreate(ctx, "stream:main", "g1", "0").Err())
	must(t, c.XGroupCreate(ctx, "stream:main", "g2", "$").Err())
	must(t, c.Do(ctx, "XGROUP", "CREATE", "stream:main", "g3", "1700000000050-0", "ENTRIESREAD", "300").Err())
	must(t, c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "alice", Streams: []string{"stream:main", ">"}, Count: 20}).Err())
	must(t, c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "bob", Streams: []string{"stream:main", ">"}, Count: 7}).Err())
	must(t, c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g3", Consumer: "carol", Streams: []string{"stream:main", ">"}, Count: 3}).Err())
	must(t, c.XGroupCreateConsumer(ctx, "stream:main", "g1", "idle-consumer").Err())
	pend, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "stream:main", Group: "g1", Start: "-", End: "+", Count: 100}).Result()
	must(t, err)
	require.Len(t, pend, 27)
	must(t, c.XAck(ctx, "stream:main", "g1", pend[0].ID, pend[5].ID, pend[21].ID).Err())
	// re-deliver one entry: delivery count 2, new owner
	must(t, c.XClaim(ctx, &redis.XClaimArgs{Stream: "stream:main", Group: "g1", Consumer: "bob", Messages: []string{pend[1].ID}}).Err())

	// trimmed stream
	for i := 0; i < 500; i++ {
		must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "stream:trimmed", Values: []any{"n", i}}).Err())
	}
	must(t, c.XTrimMaxLen(ctx, "stream:trimmed", 123).Err())
	// empty stream (all deleted) with a group
	must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "stream:empty", ID: "5-5", Values: []any{"k", "v"}}).Err())
	must(t, c.XGroupCreate(ctx, "stream:empty", "g", "0").Err())
	must(t, c.XDel(ctx, "stream:empty", "5-5").Err())
	// explicit ids with huge parts, binary field names, duplicate fields
	must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "stream:ids", ID: "1-1", Values: []any{"\x00f", "v"}}).Err())
	must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "stream:ids", ID: "18446744073709551614-18446744073709551615", Values: []any{"f", "1", "f", "2"}}).Err())
}

// grow70k writes a hash, a zset and an intset of 70000 elements and makes
// the server keep the hash and zset as listpacks (count field 65535): HSET
// into a listpack is quadratic, so they are written as hash tables, the
// limits raised, and DEBUG RELOAD loads them into listpacks.
func grow70k(t testing.TB, c *redis.Client, n int) {
	ctx := context.Background()
	must(t, c.ConfigSet(ctx, "set-max-intset-entries", "200000").Err())
	p := c.Pipeline()
	for b := 0; b < n; b += 1000 {
		var hf []any
		var zs []redis.Z
		var is []any
		for i := b; i < min(b+1000, n); i++ {
			hf = append(hf, fmt.Sprintf("f%d", i), fmt.Sprintf("v%d", i))
			zs = append(zs, redis.Z{Score: float64(i) / 4, Member: fmt.Sprintf("m%d", i)})
			is = append(is, i*3-100000)
		}
		p.HSet(ctx, "hash:lp70k", hf...)
		p.ZAdd(ctx, "zset:lp70k", zs...)
		p.SAdd(ctx, "set:intset70k", is...)
	}
	_, err := p.Exec(ctx)
	must(t, err)
	must(t, c.ConfigSet(ctx, "hash-max-listpack-entries", "200000").Err())
	must(t, c.ConfigSet(ctx, "zset-max-listpack-entries", "200000").Err())
	must(t, c.Do(ctx, "DEBUG", "RELOAD").Err())
	for k, enc := range map[string]string{"hash:lp70k": "listpack", "zset:lp70k": "listpack", "set:intset70k": "intset"} {
		got, err := c.ObjectEncoding(ctx, k).Result()
		must(t, err)
		require.Equal(t, enc, got, k)
	}
}

// serverKeys reads every key of the given databases back from the server.
func serverKeys(t testing.TB, s *redistest.Server, dbs []int) (keys []canon, encodings map[string]string) {
	ctx := context.Background()
	encodings = map[string]string{}
	for _, db := range dbs {
		c := dbClient(t, s, db)
		var names []string
		iter := c.Scan(ctx, 0, "", 1000).Iterator()
		for iter.Next(ctx) {
			names = append(names, iter.Val())
		}
		must(t, iter.Err())
		for _, k := range names {
			typ, err := c.Type(ctx, k).Result()
			must(t, err)
			enc, err := c.ObjectEncoding(ctx, k).Result()
			must(t, err)
			encodings[typ+":"+enc] = k
			exp, err := c.Do(ctx, "PEXPIRETIME", k).Int64()
			must(t, err)
			if exp < 0 {
				exp = -1
			}
			ck := canon{DB: db, Key: k, Type: typ, Expire: exp}
			switch typ {
			case "string":
				ck.Str, err = c.Get(ctx, k).Result()
			case "list":
				ck.List, err = c.LRange(ctx, k, 0, -1).Result()
			case "set":
				ck.Set, err = c.SMembers(ctx, k).Result()
				sort.Strings(ck.Set)
			case "zset":
				var zs []redis.Z
				zs, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
				ck.ZSet = []canonMember{}
				for _, z := range zs {
					ck.ZSet = append(ck.ZSet, canonMember{z.Member.(string), z.Score})
				}
				sortZSet(ck.ZSet)
			case "hash":
				ck.Hash, err = c.HGetAll(ctx, k).Result()
			case "stream":
				ck.Stream, ck.Meta, err = serverStream(ctx, c, k)
			default:
				t.Fatalf("key %q of type %s", k, typ)
			}
			must(t, err)
			keys = append(keys, ck)
		}
	}
	sortCanon(keys)
	return keys, encodings
}

// serverStream reads a stream with XRANGE (field order and duplicates
// kept) and its metadata with XINFO STREAM FULL COUNT 0.
func serverStream(ctx context.Context, c *redis.Client, k string) ([]canonEntry, *canonMeta, error) {
	raw, err := c.Do(ctx, "XRANGE", k, "-", "+").Slice()
	if err != nil {
		return nil, nil, err
	}
	entries := []canonEntry{}
	for _, r := range raw {
		pair := r.([]any)
		e := canonEntry{ID: pair[0].(string), Fields: []string{}}
		for _, f := range pair[1].([]any) {
			e.Fields = append(e.Fields, f.(string))
		}
		entries = append(entries, e)
	}
	info, err := c.Do(ctx, "XINFO", "STREAM", k, "FULL", "COUNT", 0).Slice()
	if err != nil {
		return nil, nil, err
	}
	m := pairs(info)
	cm := &canonMeta{Length: uint64(m["length"].(int64)), LastID: m["last-generated-id"].(string),
		MaxDeletedID: m["max-deleted-entry-id"].(string), EntriesAdded: uint64(m["entries-added"].(int64)),
		FirstID: m["recorded-first-entry-id"].(string), Groups: []canonGroup{}}
	for _, g := range m["groups"].([]any) {
		gm := pairs(g.([]any))
		cg := canonGroup{Name: gm["name"].(string), LastID: gm["last-delivered-id"].(string), EntriesRead: -1,
			Pending: []canonPending{}, Consumers: []canonConsumer{}}
		if er, ok := gm["entries-read"].(int64); ok {
			cg.EntriesRead = er
		}
		for _, p := range gm["pending"].([]any) {
			pa := p.([]any)
			cg.Pending = append(cg.Pending, canonPending{pa[0].(string), pa[1].(string), pa[2].(int64), uint64(pa[3].(int64))})
		}
		for _, cs := range gm["consumers"].([]any) {
			cm := pairs(cs.([]any))
			cc := canonConsumer{Name: cm["name"].(string), SeenTime: cm["seen-time"].(int64), ActiveTime: -1, Pending: []canonPending{}}
			for _, p := range cm["pending"].([]any) {
				pa := p.([]any)
				cc.Pending = append(cc.Pending, canonPending{ID: pa[0].(string), Time: pa[1].(int64), Count: uint64(pa[2].(int64))})
			}
			cg.Consumers = append(cg.Consumers, cc)
		}
		cm.Groups = append(cm.Groups, cg)
	}
	return entries, cm, nil
}

func pairs(a []any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(a); i += 2 {
		m[a[i].(string)] = a[i+1]
	}
	return m
}

// compareWithServer decodes b and compares every key with the server's.
func compareWithServer(t *testing.T, b []byte, want []canon, chunk int, opts ...Option) *snapshot {
	t.Helper()
	s, err := decodeAll(bufio.NewReader(bytes.NewReader(b)), chunk, opts...)
	require.NoError(t, err)
	require.True(t, s.End.Verified, "checksum verified")
	require.Equal(t, int64(len(b)), s.End.Size)
	var got []canon
	encs := map[string]Encoding{}
	for _, k := range s.Keys {
		got = append(got, canonOf(k))
		encs[strconv.Itoa(k.DB)+"/"+k.Key] = k.Encoding
		if k.Type != TypeString && k.Type != TypeStream && k.Len != -1 {
			require.Equal(t, int64(k.count()), k.Len, "key %q: Len", k.Key)
		}
		if k.Encoding == EncListQuicklist2 || k.Type == TypeString {
			require.Equal(t, int64(-1), k.Len, "key %q: Len of an encoding without a count", k.Key)
		}
		if k.Type == TypeStream {
			require.Equal(t, int64(len(k.Entries)), k.Len, "stream %q: Len", k.Key)
		}
	}
	sortCanon(got)
	require.Equal(t, len(want), len(got))
	for i := range want {
		maskMeta(got[i].Meta, want[i].Meta, encs[strconv.Itoa(got[i].DB)+"/"+got[i].Key])
		require.Equal(t, want[i], got[i], "db %d key %q", got[i].DB, got[i].Key)
	}
	return s
}

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

func TestServerDataset(t *testing.T) {
	for _, compression := range []bool{true, false} {
		t.Run(fmt.Sprintf("rdbcompression=%v", compression), func(t *testing.T) {
			s := redistest.Start(t, redistest.Options{Args: serverArgs(compression)})
			facts := writeDataset(t, s)
			grow70k(t, s.Client(), 70000)
			want, encodings := serverKeys(t, s, []int{0, 1, 2, 3})
			for _, e := range []string{"string:int", "string:embstr", "string:raw", "list:quicklist",
				"set:intset", "set:hashtable", "zset:listpack", "zset:skiplist", "hash:listpack",
				"hash:hashtable", "stream:stream"} {
				require.Contains(t, encodings, e, "the dataset covers OBJECT ENCODING %s", e)
			}
			require.NotContains(t, encodings, "set:listpack", "7.0 has no listpack sets")
			b := saveAndRead(t, s)

			// what the file must contain to exercise each path
			require.Equal(t, !compression, bytes.Contains(b, []byte(facts.compressible)), "LZF strings iff rdbcompression")
			require.False(t, bytes.Contains(b, []byte(facts.midElem)), "inner quicklist nodes are LZF compressed")
			plain := append(rdbfile.AppendLength([]byte{1}, uint64(len(facts.plainElem))), facts.plainElem...)
			require.True(t, bytes.Contains(b, plain), "a plain quicklist node")

			chunks := []int{0, 1}
			if !compression {
				chunks = []int{7}
			}
			// exact stop on a server-written file, commands following
			j := junk()
			br := bufio.NewReaderSize(bytes.NewReader(append(bytes.Clone(b), j...)), 4096)
			_, err := decodeAll(br, 0)
			require.NoError(t, err)
			rest, _ := io.ReadAll(br)
			require.Equal(t, j, rest)
			cr := &countingReader{r: bytes.NewReader(append(bytes.Clone(b), j...))}
			_, err = decodeAll(cr, 0)
			require.NoError(t, err)
			require.Equal(t, int64(len(b)), cr.n)

			for _, chunk := range chunks {
				snap := compareWithServer(t, b, want, chunk)
				encs := map[Encoding]bool{}
				for _, k := range snap.Keys {
					encs[k.Encoding] = true
				}
				// exactly the value types Redis 7.0 writes
				require.Equal(t, map[Encoding]bool{EncString: true, EncSet: true, EncHash: true, EncZSet2: true,
					EncSetIntset: true, EncHashListpack: true, EncZSetListpack: true, EncListQuicklist2: true,
					EncStreamListpacks2: true}, encs)
				require.Equal(t, 10, snap.Header.Version)
				require.Equal(t, "7.0.15", snap.Aux["redis-ver"])
				require.Equal(t, []int{0, 1, 2, 3}, slices.Compact(slices.Clone(snap.Selects)))
				byName := snap.byName()
				for _, k := range []string{"0/hash:lp70k", "0/zset:lp70k", "0/set:intset70k"} {
					require.Equal(t, 70000, byName[k].count(), k)
				}
				// a listpack count of 65535 means "unknown": Len says so
				require.Equal(t, int64(-1), byName["0/hash:lp70k"].Len)
				require.Equal(t, int64(-1), byName["0/zset:lp70k"].Len)
				require.Equal(t, int64(70000), byName["0/set:intset70k"].Len)
				require.Equal(t, EncHashListpack, byName["0/hash:lp70k"].Encoding)
				require.Equal(t, EncZSetListpack, byName["0/zset:lp70k"].Encoding)
				if chunk == 1 {
					require.Equal(t, 70000, byName["0/hash:lp70k"].Chunks)
				}
			}
		})
	}
}

// TestServerBigKey decodes a hash of 1M fields (100k with -short) with a
// small chunk size: numbering, Last exactly once, every field once.
func TestServerBigKey(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	s := redistest.Start(t, redistest.Options{Args: serverArgs(true)})
	c := s.Client()
	ctx := context.Background()
	// written by a script: 1M fields through the client is slow under -race
	const fill = `for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do
		redis.call('HSET', KEYS[1], 'f' .. i, 'v' .. i) end return 1`
	for b := 0; b < n; b += 100_000 {
		must(t, c.Eval(ctx, fill, []string{"big"}, b, min(b+100_000, n)).Err())
	}
	must(t, dbClient(t, s, 1).Set(ctx, "after", "x", 0).Err()) // db 1 comes after db 0
	require.Equal(t, int64(n), c.HLen(ctx, "big").Val())
	b := saveAndRead(t, s)

	const chunk = 777
	d, err := NewDecoder(bufio.NewReader(bytes.NewReader(b)), WithChunkSize(chunk))
	require.NoError(t, err)
	seen := make([]bool, n)
	chunks, lasts, fields := 0, 0, 0
	var after bool
	for rec, err := range d.All(ctx) {
		require.NoError(t, err)
		e, ok := rec.(*Entry)
		if !ok {
			continue
		}
		switch string(e.Key) {
		case "after":
			after = true
			require.Equal(t, 1, lasts, "the big key ended before the next key")
		case "big":
			require.Equal(t, chunks, e.Chunk)
			require.Equal(t, int64(n), e.Len)
			chunks++
			if e.Last {
				lasts++
			} else {
				require.Len(t, e.Fields, chunk)
			}
			for _, f := range e.Fields {
				i, err := strconv.Atoi(string(f.Name[1:]))
				if err != nil || i < 0 || i >= n || seen[i] || string(f.Value[1:]) != string(f.Name[1:]) {
					t.Fatalf("field %q = %q: unexpected or repeated", f.Name, f.Value)
				}
				seen[i] = true
				fields++
			}
		}
	}
	require.True(t, after)
	require.Equal(t, 1, lasts)
	require.Equal(t, n, fields)
	require.Equal(t, (n+chunk-1)/chunk, chunks)
}

// TestServerLoadsSynthetic loads the hand-built snapshots a Redis 7.0 can
// read (RDB 10 and older, no modules) into a real server and compares what
// it holds with what the decoder reads: a check of the hand-built
// encodings (ziplists, zipmaps, old zset and list types, streams) against
// Redis itself.
func TestServerLoadsSynthetic(t *testing.T) {
	now := time.Now().UnixMilli()
	for _, sy := range synthFiles() {
		s := decodeBytes(t, sy.data, 0)
		if s.Header.Magic != "REDIS" || s.Header.Version > 10 || len(s.ModuleAux) > 0 {
			continue
		}
		t.Run(sy.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{Args: []string{"--dbfilename", "dump.rdb", "--databases", "256"}})
			require.NoError(t, os.WriteFile(filepath.Join(srv.Dir, "dump.rdb"), sy.data, 0o600))
			srv.Restart()
			dbs := map[int]bool{}
			var want []canon
			for _, k := range sy.want {
				if k.Expire >= 0 && k.Expire < now {
					continue // already expired: a master drops it on load
				}
				dbs[k.DB] = true
				want = append(want, k)
			}
			var dbList []int
			for db := range dbs {
				dbList = append(dbList, db)
			}
			sort.Ints(dbList)
			got, _ := serverKeys(t, srv, dbList)
			if want == nil {
				want = []canon{}
			}
			if got == nil {
				got = []canon{}
			}
			for i := range got {
				if i < len(want) {
					maskMeta(got[i].Meta, want[i].Meta, EncStreamListpacks2)
				}
			}
			require.Equal(t, want, got)
			if len(s.Functions) > 0 {
				libs, err := srv.Client().FunctionList(context.Background(), redis.FunctionListQuery{}).Result()
				require.NoError(t, err)
				require.Len(t, libs, len(s.Functions))
			}
		})
	}
}
