package rdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/redtap/redtap/internal/testkit/rdbfile"
	"github.com/stretchr/testify/require"
)

// Hand-built snapshots with every value type and opcode, including the
// ones no installed server writes (ziplists, zipmaps, the old list/zset
// types, hash field TTLs, Valkey's hash2, module values, functions). Each
// comes with the keys it must decode to.

type synth struct {
	name string
	data []byte
	want []canon
	// extra checks on the decoded snapshot
	check func(t *testing.T, s *snapshot)
}

// moduleID packs a 9-character module type name and an encoding version as
// Redis does (moduleTypeEncodeId).
func moduleID(name string, ver uint64) uint64 {
	var id uint64
	for i := 0; i < 9; i++ {
		id = id<<6 | uint64(strings.IndexByte(moduleCharset, name[i]))
	}
	return id<<10 | ver
}

// stream building

type synEntry struct {
	id      StreamID
	fields  []string // field, value, ...
	deleted bool
}

// streamLP encodes one stream listpack node with master fields mf.
func streamLP(master StreamID, mf []string, entries []synEntry) []byte {
	live, deleted := 0, 0
	for _, e := range entries {
		if e.deleted {
			deleted++
		} else {
			live++
		}
	}
	lp := [][]byte{rdbfile.LPInt(int64(live)), rdbfile.LPInt(int64(deleted)), rdbfile.LPInt(int64(len(mf)))}
	for _, f := range mf {
		lp = append(lp, rdbfile.LPAuto(f))
	}
	lp = append(lp, rdbfile.LPInt(0))
	for _, e := range entries {
		same := len(e.fields)/2 == len(mf)
		for i := 0; same && i < len(mf); i++ {
			same = e.fields[2*i] == mf[i]
		}
		flags := int64(0)
		if e.deleted {
			flags |= 1
		}
		if same {
			flags |= 2
		}
		lp = append(lp, rdbfile.LPInt(flags), rdbfile.LPInt(int64(e.id.Ms-master.Ms)), rdbfile.LPInt(int64(e.id.Seq-master.Seq)))
		n := len(e.fields) / 2
		if !same {
			lp = append(lp, rdbfile.LPInt(int64(n)))
		}
		for i := 0; i < n; i++ {
			if !same {
				lp = append(lp, rdbfile.LPAuto(e.fields[2*i]))
			}
			lp = append(lp, rdbfile.LPAuto(e.fields[2*i+1]))
		}
		cnt := 3 + n
		if !same {
			cnt = 4 + 2*n
		}
		lp = append(lp, rdbfile.LPInt(int64(cnt)))
	}
	return rdbfile.Listpack(lp...)
}

func rawID(id StreamID) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, id.Ms), id.Seq)
}

// writeStream writes a stream value of type enc (15, 19 or 21) with two
// nodes, a group with a PEL of two entries owned by one consumer, and a
// second empty group; it returns the expected canon.
func writeStream(f *rdbfile.File, enc Encoding, key string) canon {
	m1, m2 := StreamID{1000, 0}, StreamID{2000, 5}
	n1 := []synEntry{
		{id: StreamID{1000, 0}, fields: []string{"a", "1", "b", "x"}},
		{id: StreamID{1000, 1}, fields: []string{"a", "2", "b", "y"}},
		{id: StreamID{1001, 0}, fields: []string{"c", "-7", "d", strings.Repeat("z", 70), "e", "\x00"}},
		{id: StreamID{1002, 0}, fields: []string{"a", "gone", "b", "gone"}, deleted: true},
	}
	n2 := []synEntry{
		{id: StreamID{2000, 5}, fields: []string{"f", "v"}},
		{id: StreamID{2000, 3}, fields: []string{"f", "lower seq than the master"}},
		{id: StreamID{1<<62 + 3, 0}, fields: []string{"f", "big ms", "f", "dup"}},
	}
	f.Key(byte(enc), key).Length(2)
	f.Blob(rawID(m1)).Blob(streamLP(m1, []string{"a", "b"}, n1))
	f.Blob(rawID(m2)).Blob(streamLP(m2, []string{"f"}, n2))
	last := StreamID{1<<62 + 3, 0}
	f.Length(6).ID(last.Ms, last.Seq)
	if enc >= EncStreamListpacks2 {
		f.ID(1000, 0).ID(1002, 0).Length(7)
	}
	f.Length(2)
	// group g1: PEL 1000-1 (count 3) and 2000-5, both owned by "alice"
	f.Str("g1").ID(2000, 5)
	if enc >= EncStreamListpacks2 {
		f.Length(5)
	}
	f.Length(2)
	f.Raw(rawID(StreamID{1000, 1})...)
	f.Uint64LE(1700000000123).Length(3)
	f.Raw(rawID(StreamID{2000, 5})...)
	f.Uint64LE(1700000000456).Length(1)
	f.Length(2)
	f.Str("alice").Uint64LE(1700000000999)
	if enc >= EncStreamListpacks3 {
		f.Uint64LE(1700000000888)
	}
	f.Length(2)
	f.Raw(rawID(StreamID{1000, 1})...)
	f.Raw(rawID(StreamID{2000, 5})...)
	f.Str("bob").Uint64LE(1700000000001)
	if enc >= EncStreamListpacks3 {
		f.Uint64LE(1700000000002)
	}
	f.Length(0)
	// group g2: nothing read; entries-read stored as -1 (unknown)
	f.Str("g2").ID(0, 0)
	if enc >= EncStreamListpacks2 {
		f.Length(math.MaxUint64)
	}
	f.Length(0).Length(0)

	c := canon{Key: key, Type: "stream", Expire: -1}
	for _, e := range append(append([]synEntry{}, n1...), n2...) {
		if !e.deleted {
			c.Stream = append(c.Stream, canonEntry{e.id.String(), e.fields})
		}
	}
	active := func(v int64) int64 {
		if enc >= EncStreamListpacks3 {
			return v
		}
		return -1
	}
	c.Meta = &canonMeta{Length: 6, LastID: last.String(), MaxDeletedID: "0-0", FirstID: "0-0", Groups: []canonGroup{
		{Name: "g1", LastID: "2000-5", EntriesRead: -1, Pending: []canonPending{
			{"1000-1", "alice", 1700000000123, 3}, {"2000-5", "alice", 1700000000456, 1}},
			Consumers: []canonConsumer{
				{Name: "alice", SeenTime: 1700000000999, ActiveTime: active(1700000000888), Pending: []canonPending{
					{ID: "1000-1", Time: 1700000000123, Count: 3}, {ID: "2000-5", Time: 1700000000456, Count: 1}}},
				{Name: "bob", SeenTime: 1700000000001, ActiveTime: active(1700000000002), Pending: []canonPending{}},
			}},
		{Name: "g2", LastID: "0-0", EntriesRead: -1, Pending: []canonPending{}, Consumers: []canonConsumer{}},
	}}
	if enc >= EncStreamListpacks2 {
		c.Meta.FirstID, c.Meta.MaxDeletedID, c.Meta.EntriesAdded = "1000-0", "1002-0", 7
		c.Meta.Groups[0].EntriesRead = 5
	}
	return c
}

func synthFiles() []synth {
	var out []synth
	strs := func(s ...string) []string { return s }

	// RDB 3: the old encodings, no checksum.
	{
		f := rdbfile.New(3).Select(0)
		want := []canon{}
		add := func(c canon) { want = append(want, c) }
		f.Set("s", "v")
		add(canon{Key: "s", Type: "string", Expire: -1, Str: "v"})
		f.Raw(opExpireTime, 0x10, 0x27, 0, 0) // 10000 s
		f.Key(byte(EncString), "int8").IntStr(-100)
		add(canon{Key: "int8", Type: "string", Expire: 10000000, Str: "-100"})
		f.Key(byte(EncString), "int16").IntStr(30000)
		add(canon{Key: "int16", Type: "string", Expire: -1, Str: "30000"})
		f.Key(byte(EncString), "int32").IntStr(-2000000000)
		add(canon{Key: "int32", Type: "string", Expire: -1, Str: "-2000000000"})
		f.Key(byte(EncList), "list").Length(3).Str("a").IntStr(12).Str("")
		add(canon{Key: "list", Type: "list", Expire: -1, List: strs("a", "12", "")})
		f.Key(byte(EncSet), "set").Length(2).Str("y").Str("x")
		add(canon{Key: "set", Type: "set", Expire: -1, Set: strs("x", "y")})
		f.Key(byte(EncZSet), "zset").Length(5).Str("m1").Raw(3, '1', '.', '5')
		f.Str("m2").Raw(254).Str("m3").Raw(255).Str("m4").Raw(2, '-', '3')
		f.Str("m5").Raw(4, '1', 'e', '1', '0')
		add(canon{Key: "zset", Type: "zset", Expire: -1, ZSet: []canonMember{
			{"m3", math.Inf(-1)}, {"m4", -3}, {"m1", 1.5}, {"m5", 1e10}, {"m2", math.Inf(1)}}})
		f.Key(byte(EncHash), "hash").Length(2).Str("f1").Str("v1").IntStr(5).IntStr(6)
		add(canon{Key: "hash", Type: "hash", Expire: -1, Hash: map[string]string{"f1": "v1", "5": "6"}})
		f.Key(byte(EncHashZipmap), "zipmap").Blob(rdbfile.Zipmap(2, "k1", "v1", strings.Repeat("K", 100), "100 bytes"))
		add(canon{Key: "zipmap", Type: "hash", Expire: -1, Hash: map[string]string{"k1": "v1", strings.Repeat("K", 100): "100 bytes"}})
		f.Key(byte(EncListZiplist), "ziplist").Blob(rdbfile.Ziplist(rdbfile.ZLStr("first"), rdbfile.ZLInt(12), rdbfile.ZLInt(-129), rdbfile.ZLStr(strings.Repeat("w", 300)), rdbfile.ZLInt(1<<40)))
		add(canon{Key: "ziplist", Type: "list", Expire: -1, List: strs("first", "12", "-129", strings.Repeat("w", 300), "1099511627776")})
		f.Key(byte(EncSetIntset), "intset").Blob(rdbfile.Intset(8, math.MinInt64, -1, math.MaxInt64))
		add(canon{Key: "intset", Type: "set", Expire: -1, Set: strs("-1", "-9223372036854775808", "9223372036854775807")})
		f.Key(byte(EncZSetZiplist), "zsetzl").Blob(rdbfile.Ziplist(rdbfile.ZLStr("a"), rdbfile.ZLStr("0.25"), rdbfile.ZLStr("b"), rdbfile.ZLInt(-4), rdbfile.ZLStr("c"), rdbfile.ZLStr("inf")))
		add(canon{Key: "zsetzl", Type: "zset", Expire: -1, ZSet: []canonMember{{"b", -4}, {"a", 0.25}, {"c", math.Inf(1)}}})
		f.Key(byte(EncHashZiplist), "hashzl").Blob(rdbfile.Ziplist(rdbfile.ZLStr("f"), rdbfile.ZLInt(99), rdbfile.ZLStr("g"), rdbfile.ZLStr("h")))
		add(canon{Key: "hashzl", Type: "hash", Expire: -1, Hash: map[string]string{"f": "99", "g": "h"}})
		f.Select(7)
		f.Set("s", "db7")
		add(canon{DB: 7, Key: "s", Type: "string", Expire: -1, Str: "db7"})
		out = append(out, synth{name: "rdb3-old-encodings", data: f.BytesNoChecksum(), want: want})
	}

	// RDB 3: zipmap lengths at the 1/5-byte boundary: 253 is one byte,
	// 254 and up are 254 then 4 bytes little-endian (zipmap.c)
	{
		f := rdbfile.New(3).Select(0)
		f.Key(byte(EncHashZipmap), "zipmap").Blob(rdbfile.Zipmap(1, "k1", strings.Repeat("v", 254), strings.Repeat("K", 300), "big key",
			strings.Repeat("x", 253), strings.Repeat("y", 253)))
		want := []canon{{Key: "zipmap", Type: "hash", Expire: -1,
			Hash: map[string]string{"k1": strings.Repeat("v", 254), strings.Repeat("K", 300): "big key", strings.Repeat("x", 253): strings.Repeat("y", 253)}}}
		out = append(out, synth{name: "rdb3-zipmap-biglen", data: f.BytesNoChecksum(), want: want})
	}

	// RDB 9: quicklist of ziplists, LZF, LRU/LFU, zset2.
	{
		f := rdbfile.New(9).Aux("redis-ver", "5.0.0").Aux("redis-bits", "64").Select(0).ResizeDB(4, 1)
		want := []canon{}
		add := func(c canon) { want = append(want, c) }
		node1 := rdbfile.Ziplist(rdbfile.ZLStr("a"), rdbfile.ZLInt(1), rdbfile.ZLStr(strings.Repeat("compress me ", 20)))
		node2 := rdbfile.Ziplist(rdbfile.ZLInt(-1), rdbfile.ZLStr("tail"))
		f.Raw(opIdle).Length(12345)
		f.Key(byte(EncListQuicklist), "ql").Length(2).Blob(node1).LZFStr(node2)
		add(canon{Key: "ql", Type: "list", Expire: -1, List: strs("a", "1", strings.Repeat("compress me ", 20), "-1", "tail")})
		f.ExpireMs(1700000000123).Raw(opFreq, 42)
		f.Key(byte(EncString), "lzf").LZFStr([]byte(strings.Repeat("abcabcabc", 100)))
		add(canon{Key: "lzf", Type: "string", Expire: 1700000000123, Str: strings.Repeat("abcabcabc", 100)})
		f.Key(byte(EncZSet2), "z2").Length(3).Str("x").Uint64LE(math.Float64bits(1.25)).Str("y").Uint64LE(math.Float64bits(math.Inf(-1))).LZFStr([]byte(strings.Repeat("m", 50))).Uint64LE(math.Float64bits(-0.5))
		add(canon{Key: "z2", Type: "zset", Expire: -1, ZSet: []canonMember{{"y", math.Inf(-1)}, {strings.Repeat("m", 50), -0.5}, {"x", 1.25}}})
		f.Key(byte(EncString), "empty").Str("")
		add(canon{Key: "empty", Type: "string", Expire: -1, Str: ""})
		out = append(out, synth{name: "rdb9-quicklist-lzf", data: f.Bytes(), want: want, check: func(t *testing.T, s *snapshot) {
			k := s.byName()
			require.Equal(t, int64(12345), k["0/ql"].Idle)
			require.Equal(t, -1, k["0/ql"].Freq)
			require.Equal(t, 42, k["0/lzf"].Freq)
			require.Equal(t, int64(-1), k["0/lzf"].Idle)
			require.Equal(t, "5.0.0", s.Aux["redis-ver"])
		}})
	}

	// RDB 10: quicklist2 (plain and packed nodes), listpack hash/zset,
	// stream type 19, a function (all loadable by Redis 7.0).
	{
		f := rdbfile.New(10).Aux("redis-ver", "7.0.0").Select(0)
		want := []canon{}
		add := func(c canon) { want = append(want, c) }
		big := strings.Repeat("P", 1000) // a plain node may hold any size
		packed := rdbfile.Listpack(rdbfile.LPStr("x"), rdbfile.LPInt(-4096), rdbfile.LPInt(1<<40))
		f.Key(byte(EncListQuicklist2), "ql2").Length(4).Length(2).Blob(packed).Length(1).Str(big).Length(2).LZFStr(rdbfile.Listpack(rdbfile.LPStr(strings.Repeat("q", 100)))).Length(1).IntStr(7)
		add(canon{Key: "ql2", Type: "list", Expire: -1, List: strs("x", "-4096", "1099511627776", big, strings.Repeat("q", 100), "7")})
		f.Key(byte(EncHashListpack), "hlp").Blob(rdbfile.Listpack(rdbfile.LPStr("f"), rdbfile.LPInt(1), rdbfile.LPStr("g"), rdbfile.LPStr("")))
		add(canon{Key: "hlp", Type: "hash", Expire: -1, Hash: map[string]string{"f": "1", "g": ""}})
		f.Key(byte(EncZSetListpack), "zlp").Blob(rdbfile.Listpack(rdbfile.LPStr("a"), rdbfile.LPInt(-3), rdbfile.LPStr("b"), rdbfile.LPStr("2.5"), rdbfile.LPStr("c"), rdbfile.LPStr("-inf")))
		add(canon{Key: "zlp", Type: "zset", Expire: -1, ZSet: []canonMember{{"c", math.Inf(-1)}, {"a", -3}, {"b", 2.5}}})
		add(writeStream(f, EncStreamListpacks2, "stream2"))
		f.Raw(opFunction2).Str("#!lua name=mylib\nredis.register_function('f', function() return 1 end)")
		out = append(out, synth{name: "rdb10-quicklist2-stream", data: f.Bytes(), want: want, check: func(t *testing.T, s *snapshot) {
			require.Equal(t, []string{"#!lua name=mylib\nredis.register_function('f', function() return 1 end)"}, s.Functions)
		}})
	}

	// RDB 10: functions of the 7.0 release candidates, module aux data and
	// a module value.
	{
		f := rdbfile.New(10).Aux("redis-ver", "7.0.0")
		f.Raw(opFunctionPreGA).Str("oldlib").Str("LUA").Length(1).Str("a description").Str("return 2")
		f.Raw(opFunctionPreGA).Str("nodesc").Str("LUA").Length(0).Str("return 3")
		modID := moduleID("test_mod1", 3)
		f.Raw(opModuleAux, 0x81).Raw(binary.BigEndian.AppendUint64(nil, modID)...)
		f.Length(2).Length(2) // when: AFTER_RDB
		f.Length(2).Length(99).Length(5).Str("aux string").Length(0)
		f.Select(0)
		f.Key(byte(EncModule2), "mod").Raw(0x81).Raw(binary.BigEndian.AppendUint64(nil, modID)...)
		f.Length(1).Length(5).Length(2).Length(6).Length(3).Raw(0, 0, 0x80, 0x3f).Length(4).Uint64LE(math.Float64bits(2.5)).Length(5).Str("payload").Length(0)
		f.Set("after-module", "x")
		out = append(out, synth{name: "rdb10-functions-module", data: f.Bytes(),
			want: []canon{{Key: "after-module", Type: "string", Expire: -1, Str: "x"}}, check: func(t *testing.T, s *snapshot) {
				require.Equal(t, []string{"#!LUA name=oldlib\nreturn 2", "#!LUA name=nodesc\nreturn 3"}, s.Functions)
				require.Len(t, s.ModuleAux, 1)
				require.Equal(t, "test_mod1", s.ModuleAux[0].Name)
				require.Equal(t, uint64(3), s.ModuleAux[0].Version)
				require.Equal(t, uint64(2), s.ModuleAux[0].When)
				require.Equal(t, []byte{2, 0x40, 99, 5, 10, 'a', 'u', 'x', ' ', 's', 't', 'r', 'i', 'n', 'g', 0}, s.ModuleAux[0].Raw)
				m := s.byName()["0/mod"]
				require.Equal(t, TypeModule, m.Type)
				require.Equal(t, "test_mod1", m.Module.Name)
				require.Equal(t, modID, m.Module.ID)
				require.Equal(t, uint64(3), m.Module.Version)
				raw := []byte{1, 5, 2, 6, 3, 0, 0, 0x80, 0x3f, 4}
				raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(2.5))
				raw = append(append(raw, 5, 7), "payload"...)
				require.Equal(t, append(raw, 0), m.Module.Raw)
			}})
	}

	// RDB 11: listpack set, stream type 21; RDB 12: hash field TTLs,
	// slot info, stream type 15.
	{
		f := rdbfile.New(11).Select(0)
		want := []canon{}
		f.Key(byte(EncSetListpack), "slp").Blob(rdbfile.Listpack(rdbfile.LPStr("b"), rdbfile.LPInt(-1), rdbfile.LPStr("a")))
		want = append(want, canon{Key: "slp", Type: "set", Expire: -1, Set: strs("-1", "a", "b")})
		want = append(want, writeStream(f, EncStreamListpacks3, "stream3"))
		out = append(out, synth{name: "rdb11-setlp-stream3", data: f.Bytes(), want: want})
	}
	{
		f := rdbfile.New(12).Select(0)
		f.Raw(opSlotInfo).Length(1234).Length(3).Length(1)
		want := []canon{}
		const minExp = 1800000000000
		f.Key(byte(EncHashMetadata), "hm").Uint64LE(minExp).Length(3)
		f.Length(0).Str("plain").Str("1")
		f.Length(1).Str("first").Str("2")        // expires at minExp
		f.Length(1001).Str("later").Str("three") // minExp + 1000
		want = append(want, canon{Key: "hm", Type: "hash", Expire: -1, Hash: map[string]string{"plain": "1", "first": "2", "later": "three"},
			FieldExpire: map[string]int64{"first": minExp, "later": minExp + 1000}})
		f.Key(byte(EncHashListpackEx), "hlpex").Uint64LE(minExp).Blob(rdbfile.Listpack(
			rdbfile.LPStr("a"), rdbfile.LPStr("x"), rdbfile.LPInt(0),
			rdbfile.LPStr("b"), rdbfile.LPInt(5), rdbfile.LPInt(minExp+5)))
		want = append(want, canon{Key: "hlpex", Type: "hash", Expire: -1, Hash: map[string]string{"a": "x", "b": "5"},
			FieldExpire: map[string]int64{"b": minExp + 5}})
		f.Key(byte(EncHashMetadataPreGA), "hpre").Length(2).Length(0).Str("n").Str("v").Length(1700000000000).Str("t").Str("w")
		want = append(want, canon{Key: "hpre", Type: "hash", Expire: -1, Hash: map[string]string{"n": "v", "t": "w"},
			FieldExpire: map[string]int64{"t": 1700000000000}})
		f.Key(byte(EncHashListpackExPreGA), "hlppre").Blob(rdbfile.Listpack(rdbfile.LPStr("k"), rdbfile.LPStr("v"), rdbfile.LPInt(1700000000001)))
		want = append(want, canon{Key: "hlppre", Type: "hash", Expire: -1, Hash: map[string]string{"k": "v"},
			FieldExpire: map[string]int64{"k": 1700000000001}})
		want = append(want, writeStream(f, EncStreamListpacks, "stream1"))
		out = append(out, synth{name: "rdb12-hfe-slotinfo-stream1", data: f.Bytes(), want: want})
	}

	// Valkey 9: hash2 (type 22 in a VALKEY file) and slot import (243).
	{
		f := rdbfile.NewValkey(80).Aux("valkey-ver", "9.0.0")
		f.Raw(opKeyMetaOrSlotImport).Str("job-1").Length(2).Length(0).Length(100).Length(200).Length(16383)
		f.Select(0)
		f.Key(byte(EncHashMetadataPreGA), "h2").Length(3)
		f.Str("F1").Str("V1").Uint64LE(2715785640000)
		f.Str("F2").Str("V2").Uint64LE(math.MaxUint64) // -1: none
		f.Str("F3").LZFStr([]byte(strings.Repeat("V3", 30))).Uint64LE(2400425640000)
		want := []canon{{Key: "h2", Type: "hash", Expire: -1, Hash: map[string]string{"F1": "V1", "F2": "V2", "F3": strings.Repeat("V3", 30)},
			FieldExpire: map[string]int64{"F1": 2715785640000, "F3": 2400425640000}}}
		out = append(out, synth{name: "valkey80-hash2-slotimport", data: f.Bytes(), want: want, check: func(t *testing.T, s *snapshot) {
			require.Equal(t, EncValkeyHash2, s.Keys[0].Encoding)
			require.Equal(t, "VALKEY", s.Header.Magic)
			require.Equal(t, 80, s.Header.Version)
		}})
	}

	// RDB 1: no SELECTDB, the smallest file.
	{
		f := rdbfile.New(1)
		f.Set("k", "v")
		out = append(out, synth{name: "rdb1-no-selectdb", data: f.BytesNoChecksum(), want: []canon{{Key: "k", Type: "string", Expire: -1, Str: "v"}}})
	}
	// Empty snapshots.
	out = append(out, synth{name: "rdb10-empty", data: rdbfile.New(10).Bytes(), want: []canon{}})
	out = append(out, synth{name: "rdb10-empty-nocrc", data: rdbfile.New(10).BytesNoChecksum(), want: []canon{}})

	// Many keys over several dbs with lengths in every length encoding.
	{
		f := rdbfile.New(10)
		want := []canon{}
		for db := 0; db < 3; db++ {
			f.Select(db * 100)
			for i := 0; i < 50; i++ {
				k := fmt.Sprintf("k%d", i)
				v := strings.Repeat(string(rune('a'+i%26)), []int{0, 63, 64, 16383, 16384, 70000}[i%6])
				f.Set(k, v)
				want = append(want, canon{DB: db * 100, Key: k, Type: "string", Expire: -1, Str: v})
			}
		}
		big := strings.Repeat("0123456789abcdef", 80000) // over 1 MiB: read in steps
		f.Set("big", big)
		want = append(want, canon{DB: 200, Key: "big", Type: "string", Expire: -1, Str: big})
		out = append(out, synth{name: "rdb10-lengths", data: f.Bytes(), want: want})
	}
	for i := range out {
		sortCanon(out[i].want)
		for j := range out[i].want {
			if out[i].want[j].Set != nil {
				sort.Strings(out[i].want[j].Set)
			}
			if out[i].want[j].ZSet != nil {
				sortZSet(out[i].want[j].ZSet)
			}
		}
	}
	return out
}

// canonOfSnapshot converts decoded keys for comparison, masking nothing.
func canonOfSnapshot(s *snapshot) []canon {
	got := []canon{}
	for _, k := range s.Keys {
		if k.Type == TypeModule {
			continue
		}
		got = append(got, canonOf(k))
	}
	sortCanon(got)
	return got
}

func TestSynthetic(t *testing.T) {
	for _, sy := range synthFiles() {
		t.Run(sy.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1, 2, 5} {
				s := decodeBytes(t, sy.data, chunk)
				require.Equal(t, int64(len(sy.data)), s.End.Size)
				require.Equal(t, sy.want, canonOfSnapshot(s), "chunk %d", chunk)
				if sy.check != nil {
					sy.check(t, s)
				}
			}
		})
	}
}

// TestFilterEquivalence decodes every synthetic and corpus file with
// filters: the keys that pass are decoded exactly as without filters (so
// every encoding's skip path consumes exactly its bytes).
func TestFilterEquivalence(t *testing.T) {
	inputs := map[string][]byte{}
	for _, sy := range synthFiles() {
		inputs["synth/"+sy.name] = sy.data
	}
	if dir := corpus.Optional(t); dir != "" {
		for _, r := range corpus.Manifest(t, dir) {
			if _, bad := corpusOutcomes[r.File]; bad {
				continue
			}
			b := corpus.Read(t, dir, r.File)
			if len(b) > 256<<10 {
				continue
			}
			inputs[r.File] = b
		}
	}
	for name, b := range inputs {
		full, err := decodeAll(bytes.NewReader(b), 0)
		require.NoError(t, err, name)
		// every other key, by position
		var odd []string
		for i, k := range full.Keys {
			if i%2 == 1 {
				odd = append(odd, strconv.Itoa(k.DB)+"/"+k.Key)
			}
		}
		keep := map[string]bool{}
		for _, k := range odd {
			keep[k] = true
		}
		filters := map[string][]Option{
			"none": {WithFilter(func(int, []byte, Type) bool { return false })},
			"odd": {WithFilter(func(db int, key []byte, _ Type) bool {
				return keep[strconv.Itoa(db)+"/"+string(key)]
			})},
			"db0":   {WithDBs(0)},
			"nostr": {WithTypes(TypeList, TypeSet, TypeZSet, TypeHash, TypeStream, TypeModule)},
			"match": {WithMatch("*[a-m]*")},
			"two":   {WithDBs(0, 7), WithTypes(TypeHash, TypeList)},
		}
		for fname, opts := range filters {
			s, err := decodeAll(bytes.NewReader(b), 3, opts...)
			require.NoError(t, err, "%s filter %s", name, fname)
			require.Equal(t, full.End.Size, s.End.Size)
			var want []*key
			for _, k := range full.Keys {
				if filtersAccept(t, opts, k) {
					want = append(want, k)
				}
			}
			require.Equal(t, len(want), len(s.Keys), "%s filter %s", name, fname)
			for i := range want {
				require.Equal(t, canonOf(want[i]), canonOf(s.Keys[i]), "%s filter %s", name, fname)
				require.Equal(t, want[i].Module, s.Keys[i].Module)
				require.Equal(t, want[i].Offset, s.Keys[i].Offset)
			}
			require.Equal(t, full.Functions, s.Functions)
			require.Equal(t, full.Aux, s.Aux)
		}
	}
}

// filtersAccept applies the filters of opts to a decoded key.
func filtersAccept(t *testing.T, opts []Option, k *key) bool {
	cfg := defaultConfig()
	for _, o := range opts {
		require.NoError(t, o.apply(&cfg))
	}
	for _, f := range cfg.filters {
		if !f(k.DB, []byte(k.Key), k.Type) {
			return false
		}
	}
	return true
}
