// Command cmdgen writes the monitor package's command table,
// commands_gen.go, from what real servers report. It starts every server of
// the test matrix (the redis-server on PATH and ../shared/servers/*/*-server
// next to the repository, or REDTAP_SERVERS instead of the shared ones) on
// a unix socket, reads COMMAND and COMMAND DOCS, and merges them: the
// union of all commands and subcommands, each with the newest server's
// description and the set of servers that know it; where an older server
// describes a command differently, a comment says how and the entry's
// Variants field names the server. The output is sorted and deterministic.
//
// It runs from monitor/ through go generate:
//
//	go generate ./monitor
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/monitor/internal/serverinfo"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("cmdgen: ")
	out := flag.String("o", "commands_gen.go", "file to write")
	flag.Parse()
	kinds, err := redistest.FindServers()
	if err != nil {
		log.Fatal(err)
	}
	var servers []server
	for _, k := range kinds {
		servers = append(servers, server{Name: k.Name, Binary: k.Path})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := generate(ctx, servers)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.Name
	}
	log.Printf("wrote %s from %s", *out, strings.Join(names, ", "))
}

// server is one server binary, named by flavour and version.
type server struct {
	Name   string // "redis-7.0.15"
	Binary string
}

// generate reads every server, oldest first, and renders the table.
func generate(ctx context.Context, servers []server) ([]byte, error) {
	if len(servers) > 32 {
		return nil, fmt.Errorf("%d servers: the table's ServerSet holds 32", len(servers))
	}
	dumps := make([]map[string]*serverinfo.Command, len(servers))
	for i, s := range servers {
		d, err := readServer(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", s.Name, s.Binary, err)
		}
		dumps[i] = d
	}
	return render(servers, dumps)
}

// readServer starts the server on a unix socket in a temporary directory,
// reads its commands and stops it.
func readServer(ctx context.Context, s server) (map[string]*serverinfo.Command, error) {
	dir, err := os.MkdirTemp("", "cmdgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	logf := filepath.Join(dir, "server.log")
	cmd := exec.Command(s.Binary, "--port", "0", "--unixsocket", sock, "--save", "",
		"--appendonly", "no", "--dir", dir, "--logfile", logf, "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill() //nolint:errcheck // it may have exited
		<-exited
	}()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err = c.Ping(pctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			exited <- werr
			b, _ := os.ReadFile(logf)
			return nil, fmt.Errorf("server exited (%v): %s", werr, tail(b))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("server did not answer PING: %w", errors.Join(err, ctx.Err()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return serverinfo.Read(ctx, c)
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return b
}

// procs assigns the servers' getkeys procedures (code, not something
// COMMAND reports) by command name; monitor implements each by hand. The
// same functions in Redis 7.0 to 7.4 and Valkey 8.0.
var procs = map[string]string{
	"set":               "procSet",
	"bitfield":          "procBitfield",
	"sort":              "procSort",
	"sort_ro":           "procSortRO",
	"migrate":           "procMigrate",
	"georadius":         "procGeoradius",
	"georadiusbymember": "procGeoradius",
	"xread":             "procXread",
	"xreadgroup":        "procXread",
	"zunion":            "procNumkeys1",
	"zinter":            "procNumkeys1",
	"zdiff":             "procNumkeys1",
	"zintercard":        "procNumkeys1",
	"sintercard":        "procNumkeys1",
	"lmpop":             "procNumkeys1",
	"zmpop":             "procNumkeys1",
	"eval":              "procNumkeys2",
	"eval_ro":           "procNumkeys2",
	"evalsha":           "procNumkeys2",
	"evalsha_ro":        "procNumkeys2",
	"fcall":             "procNumkeys2",
	"fcall_ro":          "procNumkeys2",
	"blmpop":            "procNumkeys2",
	"bzmpop":            "procNumkeys2",
	"zunionstore":       "procNumkeysStore",
	"zinterstore":       "procNumkeysStore",
	"zdiffstore":        "procNumkeysStore",
}

// commandFlags and keyFlags list the flag names in the order of monitor's
// constants, with their identifiers.
var commandFlags = []struct{ name, ident string }{
	{"write", "FlagWrite"}, {"readonly", "FlagReadonly"}, {"denyoom", "FlagDenyOOM"},
	{"module", "FlagModule"}, {"admin", "FlagAdmin"}, {"pubsub", "FlagPubSub"},
	{"noscript", "FlagNoScript"}, {"blocking", "FlagBlocking"}, {"loading", "FlagLoading"},
	{"stale", "FlagStale"}, {"skip_monitor", "FlagSkipMonitor"}, {"skip_slowlog", "FlagSkipSlowlog"},
	{"asking", "FlagAsking"}, {"fast", "FlagFast"}, {"no_auth", "FlagNoAuth"},
	{"may_replicate", "FlagMayReplicate"}, {"no_mandatory_keys", "FlagNoMandatoryKeys"},
	{"no_async_loading", "FlagNoAsyncLoading"}, {"no_multi", "FlagNoMulti"},
	{"movablekeys", "FlagMovableKeys"}, {"allow_busy", "FlagAllowBusy"},
	{"deprecated", "FlagDeprecated"}, {"syscmd", "FlagSysCmd"},
}

var keyFlags = []struct{ name, ident string }{
	{"RO", "KeyRO"}, {"RW", "KeyRW"}, {"OW", "KeyOW"}, {"RM", "KeyRM"},
	{"access", "KeyAccess"}, {"update", "KeyUpdate"}, {"insert", "KeyInsert"},
	{"delete", "KeyDelete"}, {"not_key", "KeyNotKey"}, {"incomplete", "KeyIncomplete"},
	{"variable_flags", "KeyVariableFlags"},
}

// flagExpr renders flag names as an OR of identifiers, in table order.
func flagExpr(names []string, table []struct{ name, ident string }) (string, error) {
	var idents []string
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for _, f := range table {
		if seen[f.name] {
			idents = append(idents, f.ident)
			delete(seen, f.name)
		}
	}
	if len(seen) > 0 {
		var unknown []string
		for n := range seen {
			unknown = append(unknown, n)
		}
		slices.Sort(unknown)
		return "", fmt.Errorf("unknown flags %q: add them to monitor and to cmdgen", unknown)
	}
	if len(idents) == 0 {
		return "0", nil
	}
	return strings.Join(idents, " | "), nil
}

// sortedFlags returns the names in table order (for comparisons and
// comments).
func sortedFlags(names []string, table []struct{ name, ident string }) []string {
	var out []string
	for _, f := range table {
		if slices.Contains(names, f.name) {
			out = append(out, f.name)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(table, func(f struct{ name, ident string }) bool { return f.name == n }) {
			out = append(out, n)
		}
	}
	return out
}

// infoKey is what must agree between servers for one entry to describe
// the command on both: COMMAND INFO's arity, flags, key positions and key
// specs, and the doc flags (not the ACL categories, tips or other docs).
func infoKey(c *serverinfo.Command) string {
	var specs []string
	for _, k := range c.KeySpecs {
		k.Flags = sortedFlags(k.Flags, keyFlags)
		specs = append(specs, k.String())
	}
	flags := sortedFlags(append(slices.Clone(c.Flags), c.DocFlags...), commandFlags)
	return fmt.Sprintf("%d %v %d %d %d %q", c.Arity, flags, c.FirstKey, c.LastKey, c.KeyStep, specs)
}

// describeDiff says how other differs from c.
func describeDiff(c, other *serverinfo.Command) string {
	var parts []string
	if c.Arity != other.Arity {
		parts = append(parts, fmt.Sprintf("arity %d", other.Arity))
	}
	cf := sortedFlags(append(slices.Clone(c.Flags), c.DocFlags...), commandFlags)
	if f := sortedFlags(append(slices.Clone(other.Flags), other.DocFlags...), commandFlags); !slices.Equal(cf, f) {
		parts = append(parts, "flags "+orNone(strings.Join(f, "|")))
	}
	if c.FirstKey != other.FirstKey || c.LastKey != other.LastKey || c.KeyStep != other.KeyStep {
		parts = append(parts, fmt.Sprintf("keys %d,%d,%d", other.FirstKey, other.LastKey, other.KeyStep))
	}
	var a, b []string
	for _, k := range c.KeySpecs {
		k.Flags = sortedFlags(k.Flags, keyFlags)
		a = append(a, k.String())
	}
	for _, k := range other.KeySpecs {
		k.Flags = sortedFlags(k.Flags, keyFlags)
		b = append(b, k.String())
	}
	if !slices.Equal(a, b) {
		parts = append(parts, "key specs ["+strings.Join(b, "; ")+"]")
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// render writes the Go source of the table.
func render(servers []server, dumps []map[string]*serverinfo.Command) ([]byte, error) {
	names := map[string]bool{}
	for _, d := range dumps {
		for n := range d {
			names[n] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)

	var b bytes.Buffer
	b.WriteString("// Code generated by monitor/internal/cmdgen from COMMAND and COMMAND DOCS; DO NOT EDIT.\n//\n")
	b.WriteString("// Servers: ")
	for i, s := range servers {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.Name)
	}
	b.WriteString("\n//\n")
	for i, s := range servers {
		top := 0
		for _, c := range dumps[i] {
			if c.SubcommandOf == "" {
				top++
			}
		}
		fmt.Fprintf(&b, "//\t%-14s %3d commands, %3d with subcommands\n", s.Name, top, len(dumps[i]))
	}
	fmt.Fprintf(&b, "//\t%-14s %3d entries\n", "table", len(sorted))
	b.WriteString("//\n// Each entry describes the command as the newest server that knows it does;\n")
	b.WriteString("// a \"differs on\" comment says what an older server reports instead.\n")
	b.WriteString("\npackage monitor\n\n")
	b.WriteString("var genServers = [...]string{")
	for i, s := range servers {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s.Name)
	}
	b.WriteString("}\n\n")
	all := uint32(1)<<len(servers) - 1
	b.WriteString("var genCommands = [...]CommandInfo{\n")
	for _, name := range sorted {
		var chosen *serverinfo.Command
		var known uint32
		for i, d := range dumps {
			if c := d[name]; c != nil {
				chosen = c
				known |= 1 << i
			}
		}
		var variants uint32
		var notes []string
		for i, d := range dumps {
			if c := d[name]; c != nil && infoKey(c) != infoKey(chosen) {
				variants |= 1 << i
				notes = append(notes, servers[i].Name+": "+describeDiff(chosen, c))
			}
		}
		// A container lists the subcommands any server knows.
		var subs []string
		for _, n := range sorted {
			if strings.HasPrefix(n, name+"|") {
				subs = append(subs, n)
			}
		}
		if err := renderEntry(&b, chosen, subs, known, all, variants, notes, servers); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gofmt: %w", err)
	}
	return src, nil
}

func renderEntry(b *bytes.Buffer, c *serverinfo.Command, subs []string, known, all, variants uint32, notes []string, servers []server) error {
	for _, n := range notes {
		fmt.Fprintf(b, "\t// differs on %s\n", n)
	}
	b.WriteString("\t{\n")
	fmt.Fprintf(b, "\t\tName: %q, Arity: %d,", c.Name, c.Arity)
	flags := append(slices.Clone(c.Flags), c.DocFlags...)
	if fe, err := flagExpr(flags, commandFlags); err != nil {
		return err
	} else if fe != "0" {
		fmt.Fprintf(b, " Flags: %s,", fe)
	}
	if c.FirstKey != 0 || c.LastKey != 0 || c.KeyStep != 0 {
		fmt.Fprintf(b, " FirstKey: %d, LastKey: %d, KeyStep: %d,", c.FirstKey, c.LastKey, c.KeyStep)
	}
	b.WriteString("\n")
	if c.Group != "" || c.Since != "" {
		fmt.Fprintf(b, "\t\tGroup: %q, Since: %q,\n", c.Group, c.Since)
	}
	needsProc := false
	if len(c.KeySpecs) > 0 {
		b.WriteString("\t\tKeySpecs: []KeySpec{\n")
		for _, k := range c.KeySpecs {
			s, err := renderSpec(k)
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "\t\t\t%s,\n", s)
			if k.BeginType == "unknown" || k.FindType == "unknown" ||
				slices.Contains(k.Flags, "incomplete") || slices.Contains(k.Flags, "variable_flags") {
				needsProc = true
			}
		}
		b.WriteString("\t\t},\n")
	}
	if len(c.Subcommands) > 0 {
		b.WriteString("\t\tSubcommands: []string{")
		for i, s := range subs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "%q", s)
		}
		b.WriteString("},\n")
	}
	fmt.Fprintf(b, "\t\tKnownBy: %#b,", known)
	if known != all {
		fmt.Fprintf(b, " // %s", setNames(known, servers))
	}
	b.WriteString("\n")
	if variants != 0 {
		fmt.Fprintf(b, "\t\tVariants: %#b, // %s\n", variants, setNames(variants, servers))
	}
	if p := procs[c.Name]; p != "" {
		fmt.Fprintf(b, "\t\tproc: %s,\n", p)
	} else if needsProc {
		return errors.New("incomplete key specs and no getkeys procedure: implement the server's in monitor/getkeys.go and list it in cmdgen's procs")
	}
	b.WriteString("\t},\n")
	return nil
}

func renderSpec(k serverinfo.KeySpec) (string, error) {
	fe, err := flagExpr(k.Flags, keyFlags)
	if err != nil {
		return "", err
	}
	var begin, find string
	switch k.BeginType {
	case "index":
		begin = fmt.Sprintf("BeginSearch{Type: BeginIndex, Pos: %d}", k.Pos)
	case "keyword":
		begin = fmt.Sprintf("BeginSearch{Type: BeginKeyword, Keyword: %q, StartFrom: %d}", k.Keyword, k.StartFrom)
	case "unknown":
		begin = "BeginSearch{Type: BeginUnknown}"
	default:
		return "", fmt.Errorf("begin_search type %q unknown to monitor", k.BeginType)
	}
	switch k.FindType {
	case "range":
		find = fmt.Sprintf("FindKeys{Type: FindRange, LastKey: %d, KeyStep: %d, Limit: %d}", k.LastKey, k.KeyStep, k.Limit)
	case "keynum":
		find = fmt.Sprintf("FindKeys{Type: FindKeynum, KeyNumIdx: %d, FirstKey: %d, KeyStep: %d}", k.KeyNumIdx, k.FirstKey, k.KeyStep)
	case "unknown":
		find = "FindKeys{Type: FindUnknown}"
	default:
		return "", fmt.Errorf("find_keys type %q unknown to monitor", k.FindType)
	}
	return fmt.Sprintf("{Flags: %s, Begin: %s, Find: %s}", fe, begin, find), nil
}

func setNames(s uint32, servers []server) string {
	var out []string
	for i, srv := range servers {
		if s&(1<<i) != 0 {
			out = append(out, srv.Name)
		}
	}
	return strings.Join(out, " ")
}
