package monitor

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// argv splits on spaces; ” is the empty argument and \0 a NUL byte.
func argv(s string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(s) {
		if f == "''" {
			f = ""
		}
		out = append(out, []byte(strings.ReplaceAll(f, `\0`, "\x00")))
	}
	return out
}

type k = KeyRef

func TestKeys(t *testing.T) {
	const (
		roa = KeyRO | KeyAccess
		owu = KeyOW | KeyUpdate
		rwu = KeyRW | KeyUpdate
		rad = KeyRW | KeyAccess | KeyDelete
	)
	for _, tc := range []struct {
		args string
		want []KeyRef
		err  error
	}{
		// plain index/range specs, any case
		{"GET k", []k{{1, roa}}, nil},
		{"get k", []k{{1, roa}}, nil},
		{"sEt k v", []k{{1, owu}}, nil},
		{"ZADD k 1 m", []k{{1, rwu}}, nil},
		{"MSET a 1 b 2", []k{{1, owu}, {3, owu}}, nil},
		{"MSET a 1 b", []k{{1, owu}, {3, owu}}, nil}, // range to the end, step 2
		{"DEL a b c", []k{{1, KeyRM | KeyDelete}, {2, KeyRM | KeyDelete}, {3, KeyRM | KeyDelete}}, nil},
		{"BLPOP a b 0", []k{{1, rad}, {2, rad}}, nil},              // lastkey -2
		{"RENAME a b", []k{{1, rad}, {2, KeyOW | KeyUpdate}}, nil}, // two specs
		// subcommands
		{"XGROUP CREATE k g $", []k{{2, KeyRW | KeyInsert}}, nil},
		{"xgroup create k g $", []k{{2, KeyRW | KeyInsert}}, nil},
		{"OBJECT ENCODING k", []k{{2, KeyRO}}, nil},
		{"CONFIG SET a b", nil, nil},
		// SET and BITFIELD: variable flags, from the procedure
		{"SET k v GET", []k{{1, KeyRW | KeyAccess | KeyUpdate}}, nil},
		{"SET k v get\\0x", []k{{1, KeyRW | KeyAccess | KeyUpdate}}, nil}, // a C string ends at NUL
		{"SET k get", []k{{1, owu}}, nil},                                 // GET is looked for from argument 3
		{"BITFIELD k GET u8 0", []k{{1, roa}}, nil},
		{"BITFIELD k GET u8 0 SET u8 0 1", []k{{1, KeyRW | KeyAccess | KeyUpdate}}, nil},
		{"BITFIELD k GET u8", []k{{1, KeyRW | KeyAccess | KeyUpdate}}, nil}, // a syntax error counts as a write
		// numkeys: keynum spec, and the lenient fallback
		{"ZUNIONSTORE d 2 a b WEIGHTS 1 2", []k{{1, owu}, {3, roa}, {4, roa}}, nil},
		{"ZUNIONSTORE d 02 a b", []k{{3, 0}, {4, 0}, {1, 0}}, nil}, // string2ll rejects 02, atoi reads 2
		{"ZUNIONSTORE d 2abc a b", []k{{3, 0}, {4, 0}, {1, 0}}, nil},
		{"ZUNIONSTORE d 0 a", nil, ErrInvalidArgs},
		{"ZUNIONSTORE d 3 a b", nil, ErrInvalidArgs},
		{"ZUNIONSTORE d 4294967297 a", []k{{3, 0}, {1, 0}}, nil}, // Redis 7.4 semantics (see AppendKeys)
		{"EVAL s 0", nil, nil},                                   // no_mandatory_keys
		{"EVAL s 2 a b c", []k{{3, KeyRW | KeyAccess | KeyUpdate}, {4, KeyRW | KeyAccess | KeyUpdate}}, nil},
		{"EVAL s x a", nil, nil},
		{"LMPOP 2 a b LEFT", []k{{2, rad}, {3, rad}}, nil},
		{"BLMPOP 0 1 a LEFT", []k{{3, rad}}, nil},
		// keyword specs
		{"XREAD COUNT 1 STREAMS a b 0 0", []k{{4, roa}, {5, roa}}, nil},
		{"XREAD STREAMS a b 0", []k{{2, roa}}, nil}, // half of 3 rounds down
		{"XREAD COUNT 1 x y", nil, ErrInvalidArgs},
		{"XREADGROUP GROUP g c STREAMS a 0", []k{{5, roa}}, nil},
		{"GEORADIUS k 1 2 3 m STORE d STOREDIST e", []k{{1, roa}, {7, owu}, {9, owu}}, nil},
		{"GEORADIUS k 1 2 3 m STORE", []k{{1, roa}}, nil}, // STORE as the last argument is no keyword
		// SORT and MIGRATE: incomplete specs, procedure
		{"SORT k", []k{{1, roa}}, nil},
		{"SORT k BY w GET # STORE d", []k{{1, roa}, {7, owu}}, nil},
		{"SORT k STORE d STORE e", []k{{1, roa}, {5, owu}}, nil},
		{"SORT k LIMIT 0 STORE d", []k{{1, roa}}, nil}, // LIMIT skips two
		{"SORT k GET STORE d", []k{{1, roa}}, nil},
		{"SORT_RO k BY w", []k{{1, roa}}, nil},
		{"MIGRATE h p k 0 10", []k{{3, rad}}, nil},
		{"MIGRATE h p '' 0 10 COPY AUTH KEYS KEYS a b", []k{{10, rad}, {11, rad}}, nil},
		{"MIGRATE h p k 0 10 KEYS a", nil, ErrInvalidArgs},
		{"MIGRATE h p \\0 0 10 KEYS a", nil, ErrInvalidArgs}, // length, not C string
		{"MIGRATE h p '' 0 10 KEYS", []k{{3, rad}}, nil},     // KEYS last: the spec does not see it, and is complete
		// not keys
		{"SPUBLISH ch m", nil, nil},
		{"PING", nil, nil},
		// errors
		{"", nil, ErrUnknownCommand},
		{"NOSUCH k", nil, ErrUnknownCommand},
		{"config|set a b", nil, ErrUnknownCommand},
		{"CONFIG NOSUCH", nil, ErrUnknownCommand},
		{"CONFIG", nil, ErrArity},
		{"GET", nil, ErrArity},
		{"GET a b", nil, ErrArity},
		{"MULTI a", nil, ErrArity},
		{"XREAD STREAMS a", nil, ErrArity},
		{strings.Repeat("x", 300), nil, ErrUnknownCommand},
	} {
		t.Run(tc.args, func(t *testing.T) {
			prefix := []KeyRef{{Index: 99}}
			got, err := AppendKeys(prefix, argv(tc.args))
			require.Equal(t, prefix[0], got[0], "dst prefix")
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				var e *Error
				require.True(t, errors.As(err, &e))
				require.Len(t, got, 1)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, nilIfEmpty(got[1:]))
			keys, err := Keys(argv(tc.args))
			require.NoError(t, err)
			require.Equal(t, tc.want, nilIfEmpty(keys))
		})
	}
}

func nilIfEmpty(k []KeyRef) []KeyRef {
	if len(k) == 0 {
		return nil
	}
	return k
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"NOSUCH k", `monitor: "NOSUCH": unknown command`},
		{"CONFIG NOSUCH", `monitor: config: unknown command: argument 1: subcommand "NOSUCH"`},
		{"GET", `monitor: get: wrong number of arguments: got 1, want exactly 2`},
		{"XREAD STREAMS a", `monitor: xread: wrong number of arguments: got 3, want at least 4`},
		{"ZUNIONSTORE d 5 a", `monitor: zunionstore: invalid arguments: argument 2: numkeys out of range: "5"`},
		{"MIGRATE h p k 0 10 KEYS a", `monitor: migrate: invalid arguments: argument 3: KEYS with a non-empty key argument: "k"`},
		{"XREAD COUNT 1 x y", `monitor: xread: invalid arguments: no STREAMS argument`},
	} {
		_, err := Keys(argv(tc.args))
		require.EqualError(t, err, tc.want)
	}
}

// TestKeySpecs runs the spec interpreter on specifications no current
// command has, to cover its other paths.
func TestKeySpecs(t *testing.T) {
	idx := func(p int) BeginSearch { return BeginSearch{Type: BeginIndex, Pos: p} }
	kw := func(w string, from int) BeginSearch {
		return BeginSearch{Type: BeginKeyword, Keyword: w, StartFrom: from}
	}
	rng := func(last, step, limit int) FindKeys {
		return FindKeys{Type: FindRange, LastKey: last, KeyStep: step, Limit: limit}
	}
	num := func(idx, first, step int) FindKeys {
		return FindKeys{Type: FindKeynum, KeyNumIdx: idx, FirstKey: first, KeyStep: step}
	}
	for _, tc := range []struct {
		name  string
		specs []KeySpec
		args  string
		want  []int
		ok    bool
	}{
		{"keyword from the end", []KeySpec{{Begin: kw("KEYS", -2), Find: rng(-1, 1, 0)}}, "c a KEYS b keys x", []int{5}, true},
		{"keyword from the end skips argument 1", []KeySpec{{Begin: kw("KEYS", -1), Find: rng(0, 1, 0)}}, "c KEYS a", nil, true},
		{"keyword not at the last argument", []KeySpec{{Begin: kw("STORE", 1), Find: rng(0, 1, 0)}}, "c x STORE", nil, true},
		{"keyword startfrom 0", []KeySpec{{Begin: kw("A", 0), Find: rng(0, 1, 0)}}, "c A b", nil, true},
		{"keyword past the end", []KeySpec{{Begin: kw("A", 5), Find: rng(0, 1, 0)}}, "c A b", nil, true},
		{"range with limit", []KeySpec{{Begin: kw("STREAMS", 1), Find: rng(-1, 1, 2)}}, "c STREAMS a b c 0 0 0", []int{2, 3, 4}, true},
		{"range with limit, too few", []KeySpec{{Begin: kw("STREAMS", 1), Find: rng(-1, 1, 2)}}, "c STREAMS a", nil, false},
		{"range step 2", []KeySpec{{Begin: idx(1), Find: rng(-1, 2, 0)}}, "c a 1 b 2", []int{1, 3}, true},
		{"range past the end", []KeySpec{{Begin: idx(1), Find: rng(2, 1, 0)}}, "c a b", nil, false},
		{"index past the end", []KeySpec{{Begin: idx(3), Find: rng(0, 1, 0)}}, "c a", nil, false},
		{"keynum with an offset", []KeySpec{{Begin: idx(1), Find: num(1, 2, 1)}}, "c x 2 y a b", []int{3, 4}, true},
		{"keynum step 2", []KeySpec{{Begin: idx(1), Find: num(0, 1, 2)}}, "c 3 a x b", []int{2, 4}, true},
		{"keynum index past the end", []KeySpec{{Begin: idx(1), Find: num(5, 1, 1)}}, "c 1 a", nil, false},
		{"keynum negative", []KeySpec{{Begin: idx(1), Find: num(0, 1, 1)}}, "c -1 a", nil, false},
		{"keynum huge", []KeySpec{{Begin: idx(1), Find: num(0, 1, 1)}}, "c 9223372036854775807 a", nil, false},
		{"two specs", []KeySpec{{Begin: idx(1), Find: rng(0, 1, 0)}, {Begin: idx(2), Find: rng(-1, 1, 0)}}, "c a b c", []int{1, 2, 3}, true},
		{"not_key skipped", []KeySpec{{Flags: KeyNotKey, Begin: idx(1), Find: rng(0, 1, 0)}}, "c a", nil, true},
		{"incomplete", []KeySpec{{Flags: KeyIncomplete, Begin: idx(1), Find: rng(0, 1, 0)}}, "c a", nil, false},
		{"unknown begin", []KeySpec{{Begin: BeginSearch{}, Find: rng(0, 1, 0)}}, "c a", nil, false},
		{"unknown find", []KeySpec{{Begin: idx(1)}}, "c a", nil, false},
		{"step 0", []KeySpec{{Begin: idx(1), Find: rng(0, 0, 0)}}, "c a", nil, false},
		{"negative limit", []KeySpec{{Begin: idx(1), Find: rng(-1, 1, -2)}}, "c a", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, _ := appendBySpecs(nil, tc.specs, argv(tc.args))
			require.Equal(t, tc.ok, ok)
			if !ok {
				return
			}
			var idx []int
			for _, k := range got {
				idx = append(idx, k.Index)
			}
			require.Equal(t, tc.want, idx)
		})
	}
}

func TestString2ll(t *testing.T) {
	for _, tc := range []struct {
		s  string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"-7", -7, true}, {"120", 120, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false}, {"-0", 0, false}, {"01", 0, false}, {"+1", 0, false},
		{" 1", 0, false}, {"1 ", 0, false}, {"1\x00", 0, false}, {"", 0, false}, {"-", 0, false},
		{"100000000000000000000", 0, false}, {"x", 0, false},
	} {
		v, ok := string2ll([]byte(tc.s))
		require.Equal(t, tc.ok, ok, "%q", tc.s)
		require.Equal(t, tc.v, v, "%q", tc.s)
	}
}

func TestAtoi(t *testing.T) {
	for _, tc := range []struct {
		s string
		v int32
	}{
		{"2", 2}, {" \t\n\v\f\r2", 2}, {"+2", 2}, {"-2", -2}, {"02", 2}, {"2abc", 2}, {"2\x003", 2},
		{"abc", 0}, {"", 0}, {"- 2", 0}, {"+-2", 0}, {"2147483647", 1<<31 - 1}, {"2147483648", -1 << 31},
		{"4294967297", 1}, {"9223372036854775807", -1}, {"99999999999999999999", -1},
		{"-99999999999999999999", 0}, {"-9223372036854775808", 0}, {"-4294967295", 1},
	} {
		require.Equal(t, tc.v, atoi([]byte(tc.s)), "%q", tc.s)
	}
}

func TestLookup(t *testing.T) {
	set := Lookup("SET", "")
	require.NotNil(t, set)
	require.Equal(t, "set", set.Name)
	require.True(t, set.IsWrite())
	require.False(t, set.IsReadOnly())
	require.True(t, set.HasKeys())
	require.True(t, set.HasKeysProc())
	require.Equal(t, "write|denyoom", set.Flags.String())
	require.True(t, set.ArityOK(3))
	require.True(t, set.ArityOK(9))
	require.False(t, set.ArityOK(2))

	get := Lookup("get", "ignored")
	require.Equal(t, "get", get.Name)
	require.True(t, get.IsReadOnly())
	require.True(t, get.ArityOK(2))
	require.False(t, get.ArityOK(3))

	cfg := Lookup("Config", "")
	require.True(t, cfg.IsContainer())
	require.Contains(t, cfg.Subcommands, "config|set")
	require.Equal(t, "config|set", Lookup("config", "SET").Name)
	require.Nil(t, Lookup("config", "nosuch"))
	require.Nil(t, Lookup("nosuch", ""))
	require.Nil(t, Lookup("config|set", ""))

	// a command only Redis 7.4 knows, and one whose description changed
	hexpire := Lookup("hexpire", "")
	require.Equal(t, "redis-7.4.1", hexpire.KnownBy.String())
	require.True(t, Lookup("zrank", "").Variants.Has("redis-7.0.15"))
	require.False(t, Lookup("zrank", "").Variants.Has("redis-7.4.1"))

	c, err := LookupArgs(argv("xgroup CREATE k g $"))
	require.NoError(t, err)
	require.Equal(t, "xgroup|create", c.Name)
	c, err = LookupArgs(argv("xgroup"))
	require.NoError(t, err)
	require.Equal(t, "xgroup", c.Name)
	_, err = LookupArgs(nil)
	require.ErrorIs(t, err, ErrUnknownCommand)
}

func TestTable(t *testing.T) {
	servers := Servers()
	require.Equal(t, len(genServers), len(servers))
	servers[0] = "changed"
	require.NotEqual(t, "changed", Servers()[0], "Servers returns a copy")

	all := ServerSet(1<<len(genServers) - 1)
	var prev string
	n := 0
	for c := range Commands() {
		n++
		require.Less(t, prev, c.Name, "sorted")
		prev = c.Name
		require.NotZero(t, c.KnownBy, c.Name)
		require.Zero(t, c.KnownBy&^all, c.Name)
		require.Zero(t, c.Variants&^c.KnownBy, c.Name)
		require.NotContains(t, c.Flags.String(), "0x", c.Name)
		top, sub, isSub := strings.Cut(c.Name, "|")
		if isSub {
			require.Same(t, c, Lookup(top, sub))
		} else {
			require.Same(t, c, Lookup(c.Name, ""))
		}
		for _, s := range c.Subcommands {
			require.True(t, strings.HasPrefix(s, c.Name+"|"), s)
		}
		for _, ks := range c.KeySpecs {
			if ks.Begin.Type == BeginUnknown || ks.Find.Type == FindUnknown || ks.Flags&(KeyIncomplete|KeyVariableFlags) != 0 {
				require.True(t, c.HasKeysProc(), "%s: incomplete specs without a procedure", c.Name)
			}
		}
	}
	require.Equal(t, len(genCommands), n)
	for i := 0; i < 2; i++ {
		for range Commands() {
			break // early stop
		}
	}
}

func TestFlagStrings(t *testing.T) {
	require.Equal(t, "RW|access|update", (KeyRW | KeyAccess | KeyUpdate).String())
	require.Equal(t, []string{"OW", "update"}, (KeyOW | KeyUpdate).Names())
	require.Equal(t, "", KeyFlags(0).String())
	require.Equal(t, "variable_flags|0x800", (KeyVariableFlags | 1<<11).String())
	require.Equal(t, "write|movablekeys|deprecated", (FlagWrite | FlagMovableKeys | FlagDeprecated).String())
	s := ServerSet(0b101)
	require.Equal(t, genServers[0]+","+genServers[2], s.String())
	require.Equal(t, 2, s.Len())
	require.True(t, s.Has(genServers[2]))
	require.False(t, s.Has(genServers[1]))
	require.False(t, s.Has("nosuch"))
}

// TestAppendKeysAllocs: the common path does not allocate once dst has
// room.
func TestAppendKeysAllocs(t *testing.T) {
	dst := make([]KeyRef, 0, 16)
	for _, s := range []string{"SET k v", "MSET a 1 b 2 c 3", "EVAL s 2 a b", "XADD s * f v", "XGROUP CREATE k g $", "ZUNIONSTORE d 2 a b", "SORT k STORE d"} {
		args := argv(s)
		n := testing.AllocsPerRun(100, func() {
			if _, err := AppendKeys(dst[:0], args); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, n, s)
	}
}
