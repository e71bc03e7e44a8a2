package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/monitor/internal/serverinfo"
)

// forEachServer runs f in a subtest per server of the matrix
// (redistest.ForEachServer), with a client of a server of that kind.
func forEachServer(t *testing.T, f func(t *testing.T, k redistest.Kind, c *redis.Client)) {
	redistest.ForEachServer(t, func(t *testing.T, k redistest.Kind) {
		srv := redistest.Start(t, k.Options(redistest.Options{}))
		f(t, k, srv.Client())
	})
}

func readServer(t *testing.T, c *redis.Client) map[string]*serverinfo.Command {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmds, err := serverinfo.Read(ctx, c)
	require.NoError(t, err)
	return cmds
}

func lookupFull(name string) *monitor.CommandInfo {
	top, sub, _ := strings.Cut(name, "|")
	c := monitor.Lookup(top, sub)
	if c == nil || c.Name != name {
		return nil
	}
	return c
}

// TestTableMatchesServers checks the generated table against each server's
// COMMAND INFO: every command the server knows is in the table and known
// by that server, and, unless the entry lists the server as a variant,
// arity, flags, key positions and key specs agree.
func TestTableMatchesServers(t *testing.T) {
	forEachServer(t, func(t *testing.T, k redistest.Kind, c *redis.Client) {
		server := k.Name
		cmds := readServer(t, c)
		for _, name := range sortedNames(cmds) {
			sc := cmds[name]
			info := lookupFull(name)
			if info == nil {
				t.Errorf("%s: not in the table (run go generate ./monitor)", name)
				continue
			}
			if !info.KnownBy.Has(server) {
				t.Errorf("%s: KnownBy %v lacks %s", name, info.KnownBy, server)
			}
			if info.Variants.Has(server) {
				continue
			}
			require.Equal(t, sc.Arity, info.Arity, name)
			require.Equal(t, []int{sc.FirstKey, sc.LastKey, sc.KeyStep}, []int{info.FirstKey, info.LastKey, info.KeyStep}, name)
			want := append(slices.Clone(sc.Flags), sc.DocFlags...)
			slices.Sort(want)
			var got []string
			if s := info.Flags.String(); s != "" {
				got = strings.Split(s, "|")
			}
			slices.Sort(got)
			require.Equal(t, want, got, "%s flags", name)
			var wantSpecs, gotSpecs []string
			for _, ks := range sc.KeySpecs {
				slices.Sort(ks.Flags)
				wantSpecs = append(wantSpecs, ks.String())
			}
			for _, ks := range info.KeySpecs {
				gotSpecs = append(gotSpecs, specString(ks))
			}
			require.Equal(t, wantSpecs, gotSpecs, "%s key specs", name)
		}
		n := 0
		for info := range monitor.Commands() {
			if info.KnownBy.Has(server) {
				n++
				if cmds[info.Name] == nil {
					t.Errorf("%s: KnownBy has %s, which does not know it", info.Name, server)
				}
			}
		}
		t.Logf("%s: %d commands and subcommands, all in the table", server, n)
	})
}

// specString renders a table key spec like serverinfo.KeySpec.String, flags
// sorted.
func specString(ks monitor.KeySpec) string {
	flags := ks.Flags.Names()
	slices.Sort(flags)
	s := serverinfo.KeySpec{Flags: flags}
	switch ks.Begin.Type {
	case monitor.BeginIndex:
		s.BeginType, s.Pos = "index", ks.Begin.Pos
	case monitor.BeginKeyword:
		s.BeginType, s.Keyword, s.StartFrom = "keyword", ks.Begin.Keyword, ks.Begin.StartFrom
	default:
		s.BeginType = "unknown"
	}
	switch ks.Find.Type {
	case monitor.FindRange:
		s.FindType, s.LastKey, s.KeyStep, s.Limit = "range", ks.Find.LastKey, ks.Find.KeyStep, ks.Find.Limit
	case monitor.FindKeynum:
		s.FindType, s.KeyNumIdx, s.FirstKey, s.KeyStep = "keynum", ks.Find.KeyNumIdx, ks.Find.FirstKey, ks.Find.KeyStep
	default:
		s.FindType = "unknown"
	}
	return s.String()
}

func sortedNames(cmds map[string]*serverinfo.Command) []string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// edgeArgs are fixed argument lists run on every server besides the random
// ones: the spots where a strict and a lenient parser, a keyword search
// from either end, or a procedure's skipping rules decide.
var edgeArgs = []string{
	"ZUNIONSTORE d 2 a b", "ZUNIONSTORE d 02 a b", "ZUNIONSTORE d +2 a b", "ZUNIONSTORE d ' 2' a b",
	"ZUNIONSTORE d 2abc a b", "ZUNIONSTORE d 0 a", "ZUNIONSTORE d 3 a b", "ZUNIONSTORE d -1 a",
	"ZUNIONSTORE d 99999999999999999999 a", "ZUNIONSTORE d 1 a WEIGHTS 2",
	"EVAL s 0", "EVAL s 1", "EVAL s 2 a", "EVAL s x a", "EVAL s 1 a b c", "FCALL f 0 a", "EVALSHA s -1 a",
	"LMPOP 2 a b LEFT", "LMPOP 0 a LEFT", "BLMPOP 0 2 a b LEFT", "ZINTERCARD 2 a b LIMIT 1", "SINTERCARD 1 a",
	"SORT k", "SORT k STORE d", "SORT k STORE", "SORT k STORE d STORE e", "SORT k LIMIT STORE d STORE e",
	"SORT k BY STORE d", "SORT k GET # GET o STORE d", "SORT k store d", "SORT_RO k BY p GET q",
	"SORT k LIMIT 0 STORE d", "SORT k LIMIT 0 1 STORE d", "SORT k GET STORE d", "SORT k STORE LIMIT 0 1",
	"SORT k STORE STORE", "SORT k 'STORE\\0x' d", "SORT k STORE d LIMIT",
	"MIGRATE h p k 0 10", "MIGRATE h p '' 0 10 KEYS a b", "MIGRATE h p k 0 10 KEYS a b",
	"MIGRATE h p '' 0 10 AUTH KEYS KEYS a", "MIGRATE h p '' 0 10 AUTH2 u KEYS KEYS a", "MIGRATE h p '' 0 10 KEYS",
	"MIGRATE h p '' 0 10 COPY REPLACE KEYS a", "MIGRATE h p '' 0 keys", "MIGRATE h p '' 0 10 x KEYS",
	"MIGRATE h p '\\0' 0 10 KEYS a", "MIGRATE h p '' 0 10 KEYS a KEYS b", "MIGRATE h p k 0 KEYS a b",
	"GEORADIUS k 1 2 3 m STORE d", "GEORADIUS k 1 2 3 m STOREDIST d", "GEORADIUS k 1 2 3 m STORE d STOREDIST e",
	"GEORADIUS k 1 2 3 m STORE", "GEORADIUS k 1 2 STORE x STORE", "GEORADIUSBYMEMBER k m 3 km STORE d",
	"XREAD STREAMS a 0", "XREAD COUNT 1 BLOCK 0 STREAMS a b 0 0", "XREAD STREAMS a b 0", "XREAD STREAMS",
	"XREAD COUNT STREAMS STREAMS a 0", "XREAD a STREAMS b 0", "XREADGROUP GROUP g c STREAMS a 0",
	"XREADGROUP GROUP streams c STREAMS a 0", "XREADGROUP GROUP g c NOACK STREAMS a b 0 0",
	"SET k v", "SET k v GET", "SET k v get", "SET k get", "SET k v EX 1 GET", "SET k v GETX",
	"BITFIELD k", "BITFIELD k GET u8 0", "BITFIELD k GET u8 0 SET u8 0 1", "BITFIELD k OVERFLOW WRAP GET u8 0",
	"BITFIELD k GET u8", "BITFIELD k INCRBY u8 0", "BITFIELD_RO k GET u8 0",
	"MSET a 1 b 2", "MSET a 1 b", "DEL a b c", "BLPOP a b 0", "OBJECT ENCODING k", "XGROUP CREATE k g $",
	"CONFIG SET a b", "PING", "COMMAND", "GET", "config", "object nope k", "nosuchcommand k",
	"SPUBLISH ch m", "SSUBSCRIBE ch",
}

// splitEdge splits an edge case on spaces; ” is the empty argument, ' 2'
// an argument with a space, and \0 a NUL byte.
func splitEdge(s string) [][]byte {
	var out [][]byte
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, "'") {
			end := strings.Index(s[1:], "'") + 1
			out = append(out, []byte(strings.ReplaceAll(s[1:end], `\0`, "\x00")))
			s = s[end+1:]
			continue
		}
		f, rest, _ := strings.Cut(s, " ")
		out = append(out, []byte(f))
		s = rest
	}
	return out
}

// TestGetKeysMatchesServers compares AppendKeys with COMMAND
// GETKEYSANDFLAGS on each server, for random arguments of every command
// the server knows (keyed or not; 64 lists for the commands with a getkeys
// procedure, 8 for other keyed ones, 2 for the keyless) and the edge cases
// above. The key names must be equal, in order; the flags too, unless the
// table lists the server as a variant of the command. GETKEYS's errors
// map to AppendKeys's like this:
//
//	"Invalid command specified"                  ErrUnknownCommand
//	"The command has no key arguments"           no keys (nil, or ErrArity)
//	"Invalid number of arguments ..."            ErrArity (unless a variant)
//	"Invalid arguments specified for command"    ErrInvalidArgs
//	an empty list                                no keys, no error
func TestGetKeysMatchesServers(t *testing.T) {
	forEachServer(t, func(t *testing.T, k redistest.Kind, c *redis.Client) {
		server := k.Name
		cmds := readServer(t, c)
		// Redis 7.0's COMMAND GETKEYS needs an argument after the command
		// name (arity -4, -3 later).
		minArgs := 1
		if gk := cmds["command|getkeysandflags"]; gk != nil && gk.Arity < 0 {
			minArgs = -gk.Arity - 2
		}
		var lists [][][]byte
		h := fnv.New64a()
		for _, name := range sortedNames(cmds) {
			sc := cmds[name]
			info := lookupFull(name)
			if info == nil || len(sc.Subcommands) > 0 {
				continue // TestTableMatchesServers reports it
			}
			n := 2
			switch {
			case info.HasKeysProc():
				n = 64
			case info.HasKeys():
				n = 8
			}
			h.Reset()
			h.Write([]byte(name))
			g := newArgGen(1, h.Sum64())
			for i := 0; i < n; i++ {
				lists = append(lists, g.command(sc))
			}
		}
		for _, e := range edgeArgs {
			lists = append(lists, splitEdge(e))
		}
		nExact := len(lists)
		for _, e := range truncatedNumkeys {
			lists = append(lists, splitEdge(e))
		}
		exactTruncation := k.Flavor == redistest.FlavorRedis && k.AtLeast(7, 4)
		var st stats
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		const batch = 500
		for start := 0; start < len(lists); start += batch {
			chunk := lists[start:min(start+batch, len(lists))]
			pipe := c.Pipeline()
			replies := make([]*redis.Cmd, len(chunk))
			for i, args := range chunk {
				if len(args) < minArgs {
					continue
				}
				a := []any{"COMMAND", "GETKEYSANDFLAGS"}
				for _, x := range args {
					a = append(a, x)
				}
				replies[i] = pipe.Do(ctx, a...)
			}
			_, _ = pipe.Exec(ctx) // errors are per reply
			for i, args := range chunk {
				if replies[i] == nil {
					st.skipped++
					continue
				}
				unordered := start+i >= nExact && !exactTruncation
				if msg := compareGetKeys(server, args, replies[i], unordered, &st); msg != "" {
					st.failed++
					if st.failed <= 25 {
						t.Errorf("%s %s", fmtArgs(args), msg)
					}
				}
			}
		}
		t.Logf("%s: %d argument lists: %d with keys, %d empty lists; errors: %d keyless command, %d unknown command, %d arity, %d invalid arguments; %d skipped (variants, or too short for this GETKEYS); %d mismatches",
			server, len(lists), st.keys, st.empty, st.keyless, st.unknown, st.arity, st.invalid, st.skipped, st.failed)
	})
}

type stats struct {
	keys, empty, keyless, unknown, arity, invalid, skipped, failed int
}

// truncatedNumkeys are the numkeys of 2^31 or more, where AppendKeys
// follows Redis 7.4 (see its documentation): on the other servers only
// the set of keys must agree.
var truncatedNumkeys = []string{
	"ZUNIONSTORE d 4294967297 a", "EVAL s 4294967298 a b", "ZUNIONSTORE d 2147483649 a", "LMPOP 4294967297 a LEFT",
}

// compareGetKeys checks AppendKeys against one GETKEYSANDFLAGS reply and
// returns what differs, or "". unordered compares the key names as sets
// and ignores the flags.
func compareGetKeys(server string, args [][]byte, reply *redis.Cmd, unordered bool, st *stats) string {
	dst := []monitor.KeyRef{{Index: -7}}
	got, err := monitor.AppendKeys(dst, args)
	if len(got) < 1 || got[0].Index != -7 {
		return "AppendKeys clobbered dst"
	}
	if err != nil && len(got) != 1 {
		return fmt.Sprintf("error %v with keys %v", err, got[1:])
	}
	got = got[1:]
	info, _ := monitor.LookupArgs(args)
	variant := info != nil && info.Variants.Has(server)

	v, rerr := reply.Result()
	if rerr != nil {
		msg := strings.TrimPrefix(rerr.Error(), "ERR ")
		switch {
		case strings.HasPrefix(msg, "Invalid command specified"):
			st.unknown++
			if !errors.Is(err, monitor.ErrUnknownCommand) {
				return fmt.Sprintf("server: %s; AppendKeys: %v %v", msg, got, err)
			}
		case strings.HasPrefix(msg, "The command has no key arguments"):
			st.keyless++
			if len(got) > 0 || (err != nil && !errors.Is(err, monitor.ErrArity)) || info == nil || info.HasKeys() {
				return fmt.Sprintf("server: %s; AppendKeys: %v %v", msg, got, err)
			}
		case strings.HasPrefix(msg, "Invalid number of arguments"):
			st.arity++
			if variant {
				st.skipped++
				return ""
			}
			if !errors.Is(err, monitor.ErrArity) {
				return fmt.Sprintf("server: %s; AppendKeys: %v %v", msg, got, err)
			}
		case strings.HasPrefix(msg, "Invalid arguments specified"):
			st.invalid++
			if !errors.Is(err, monitor.ErrInvalidArgs) {
				return fmt.Sprintf("server: %s; AppendKeys: %v %v", msg, got, err)
			}
		default:
			return fmt.Sprintf("unexpected server error %q", msg)
		}
		return ""
	}
	if err != nil {
		if variant && errors.Is(err, monitor.ErrArity) {
			st.skipped++
			return ""
		}
		return fmt.Sprintf("server: %v; AppendKeys: %v", v, err)
	}
	l, ok := v.([]any)
	if !ok {
		return fmt.Sprintf("server reply %T %v", v, v)
	}
	if len(l) == 0 {
		st.empty++
	} else {
		st.keys++
	}
	var wantNames, gotNames []string
	var wantFlags, gotFlags []string
	for _, e := range l {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			return fmt.Sprintf("server reply element %v", e)
		}
		name, _ := pair[0].(string)
		wantNames = append(wantNames, strconv.Quote(name))
		var fl []string
		for _, f := range pair[1].([]any) {
			fl = append(fl, f.(string))
		}
		slices.Sort(fl)
		wantFlags = append(wantFlags, strings.Join(fl, "|"))
	}
	for _, k := range got {
		if k.Index < 0 || k.Index >= len(args) {
			return fmt.Sprintf("index %d out of range", k.Index)
		}
		gotNames = append(gotNames, strconv.Quote(string(args[k.Index])))
		fl := k.Flags.Names()
		slices.Sort(fl)
		gotFlags = append(gotFlags, strings.Join(fl, "|"))
	}
	if unordered {
		slices.Sort(wantNames)
		slices.Sort(gotNames)
		wantFlags, gotFlags = nil, nil
	}
	if !slices.Equal(wantNames, gotNames) {
		return fmt.Sprintf("keys: server %v, AppendKeys %v", wantNames, gotNames)
	}
	if !variant && !slices.Equal(wantFlags, gotFlags) {
		return fmt.Sprintf("flags of %v: server %v, AppendKeys %v", wantNames, wantFlags, gotFlags)
	}
	return ""
}

func fmtArgs(args [][]byte) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = strconv.Quote(string(a))
	}
	return "[" + strings.Join(s, " ") + "]"
}
