// Package serverinfo reads what a running Redis or Valkey server says about
// its commands (COMMAND and COMMAND DOCS) into plain values. The monitor
// package's generator (monitor/internal/cmdgen) builds the command table
// from it, and the monitor tests use it to generate arguments and to check
// the table against each server.
package serverinfo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Command is one command or subcommand as COMMAND and COMMAND DOCS report
// it.
type Command struct {
	Name          string // lower case; "config|set" for a subcommand
	Arity         int
	Flags         []string // COMMAND INFO flags, as reported
	FirstKey      int
	LastKey       int
	KeyStep       int
	ACLCategories []string
	Tips          []string
	KeySpecs      []KeySpec
	Subcommands   []string // full names, sorted
	SubcommandOf  string   // the container's name, for a subcommand

	HasDocs  bool     // COMMAND DOCS has an entry
	Group    string   // COMMAND DOCS
	Since    string   // COMMAND DOCS
	DocFlags []string // COMMAND DOCS doc_flags ("deprecated", "syscmd")
	Args     []Arg    // COMMAND DOCS arguments
}

// KeySpec is one key specification.
type KeySpec struct {
	Flags     []string
	BeginType string // "index", "keyword", "unknown"
	Pos       int    // index
	Keyword   string // keyword
	StartFrom int    // keyword
	FindType  string // "range", "keynum", "unknown"
	LastKey   int    // range
	KeyStep   int    // range, keynum
	Limit     int    // range
	KeyNumIdx int    // keynum
	FirstKey  int    // keynum
}

// String renders the spec compactly: "RW|access index(1) range(0,1,0)".
func (k KeySpec) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(k.Flags, "|"))
	switch k.BeginType {
	case "index":
		fmt.Fprintf(&b, " index(%d)", k.Pos)
	case "keyword":
		fmt.Fprintf(&b, " keyword(%s,%d)", k.Keyword, k.StartFrom)
	default:
		fmt.Fprintf(&b, " %s", k.BeginType)
	}
	switch k.FindType {
	case "range":
		fmt.Fprintf(&b, " range(%d,%d,%d)", k.LastKey, k.KeyStep, k.Limit)
	case "keynum":
		fmt.Fprintf(&b, " keynum(%d,%d,%d)", k.KeyNumIdx, k.FirstKey, k.KeyStep)
	default:
		fmt.Fprintf(&b, " %s", k.FindType)
	}
	return b.String()
}

// Arg is one argument of COMMAND DOCS.
type Arg struct {
	Name          string
	Type          string // key, string, integer, double, pattern, unix-time, pure-token, oneof, block
	Token         string
	Optional      bool
	Multiple      bool
	MultipleToken bool
	KeySpecIndex  int // -1 when absent
	Args          []Arg
}

// Read asks the server for COMMAND and COMMAND DOCS and returns every
// command and subcommand by name. The client must speak RESP2.
func Read(ctx context.Context, c *redis.Client) (map[string]*Command, error) {
	infos, err := c.Do(ctx, "COMMAND").Slice()
	if err != nil {
		return nil, fmt.Errorf("COMMAND: %w", err)
	}
	out := map[string]*Command{}
	var add func(v any, container string) error
	add = func(v any, container string) error {
		cmd, subs, err := parseInfo(v)
		if err != nil {
			return err
		}
		cmd.SubcommandOf = container
		out[cmd.Name] = cmd
		for _, s := range subs {
			if err := add(s, cmd.Name); err != nil {
				return fmt.Errorf("%s: %w", cmd.Name, err)
			}
		}
		for _, s := range subs {
			if l, ok := s.([]any); ok && len(l) > 0 {
				if n, ok := l[0].(string); ok {
					cmd.Subcommands = append(cmd.Subcommands, strings.ToLower(n))
				}
			}
		}
		slices.Sort(cmd.Subcommands)
		return nil
	}
	for _, v := range infos {
		if err := add(v, ""); err != nil {
			return nil, fmt.Errorf("COMMAND: %w", err)
		}
	}
	docs, err := c.Do(ctx, "COMMAND", "DOCS").Slice()
	if err != nil {
		return nil, fmt.Errorf("COMMAND DOCS: %w", err)
	}
	if err := addDocs(out, docs); err != nil {
		return nil, fmt.Errorf("COMMAND DOCS: %w", err)
	}
	return out, nil
}

func addDocs(out map[string]*Command, docs []any) error {
	for i := 0; i+1 < len(docs); i += 2 {
		name, ok := docs[i].(string)
		if !ok {
			return fmt.Errorf("name %v is not a string", docs[i])
		}
		name = strings.ToLower(name)
		m, err := pairs(docs[i+1])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cmd := out[name]
		if cmd == nil {
			return fmt.Errorf("%s: documented but not in COMMAND", name)
		}
		cmd.HasDocs = true
		cmd.Group, _ = m["group"].(string)
		cmd.Since, _ = m["since"].(string)
		cmd.DocFlags = strs(m["doc_flags"])
		if cmd.Args, err = parseArgs(m["arguments"]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if subs, ok := m["subcommands"].([]any); ok {
			if err := addDocs(out, subs); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

func parseArgs(v any) ([]Arg, error) {
	l, _ := v.([]any)
	var out []Arg
	for _, e := range l {
		m, err := pairs(e)
		if err != nil {
			return nil, err
		}
		a := Arg{KeySpecIndex: -1}
		a.Name, _ = m["name"].(string)
		a.Type, _ = m["type"].(string)
		a.Token, _ = m["token"].(string)
		if n, ok := m["key_spec_index"].(int64); ok {
			a.KeySpecIndex = int(n)
		}
		for _, f := range strs(m["flags"]) {
			switch f {
			case "optional":
				a.Optional = true
			case "multiple":
				a.Multiple = true
			case "multiple_token":
				a.MultipleToken = true
			}
		}
		if a.Args, err = parseArgs(m["arguments"]); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// parseInfo reads one COMMAND entry: name, arity, flags, first key, last
// key, step, ACL categories, tips, key specs, subcommands.
func parseInfo(v any) (*Command, []any, error) {
	l, ok := v.([]any)
	if !ok || len(l) < 10 {
		return nil, nil, fmt.Errorf("entry %v: not a 10-element array", v)
	}
	name, ok := l[0].(string)
	if !ok {
		return nil, nil, fmt.Errorf("entry name %v is not a string", l[0])
	}
	c := &Command{Name: strings.ToLower(name)}
	var ints [4]int
	for i, j := range []int{1, 3, 4, 5} {
		n, ok := l[j].(int64)
		if !ok {
			return nil, nil, fmt.Errorf("%s: field %d is %T, want an integer", name, j, l[j])
		}
		ints[i] = int(n)
	}
	c.Arity, c.FirstKey, c.LastKey, c.KeyStep = ints[0], ints[1], ints[2], ints[3]
	c.Flags = strs(l[2])
	c.ACLCategories = strs(l[6])
	c.Tips = strs(l[7])
	specs, _ := l[8].([]any)
	for _, s := range specs {
		ks, err := parseKeySpec(s)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: key spec: %w", name, err)
		}
		c.KeySpecs = append(c.KeySpecs, ks)
	}
	subs, _ := l[9].([]any)
	return c, subs, nil
}

func parseKeySpec(v any) (KeySpec, error) {
	m, err := pairs(v)
	if err != nil {
		return KeySpec{}, err
	}
	ks := KeySpec{Flags: strs(m["flags"])}
	bs, err := pairs(m["begin_search"])
	if err != nil {
		return ks, fmt.Errorf("begin_search: %w", err)
	}
	bspec, err := pairs(bs["spec"])
	if err != nil {
		return ks, fmt.Errorf("begin_search spec: %w", err)
	}
	ks.BeginType, _ = bs["type"].(string)
	switch ks.BeginType {
	case "index":
		ks.Pos, err = intField(bspec, "index")
	case "keyword":
		ks.Keyword, _ = bspec["keyword"].(string)
		ks.StartFrom, err = intField(bspec, "startfrom")
	}
	if err != nil {
		return ks, err
	}
	fk, err := pairs(m["find_keys"])
	if err != nil {
		return ks, fmt.Errorf("find_keys: %w", err)
	}
	fspec, err := pairs(fk["spec"])
	if err != nil {
		return ks, fmt.Errorf("find_keys spec: %w", err)
	}
	ks.FindType, _ = fk["type"].(string)
	ints := func(names ...string) []int {
		var out []int
		for _, n := range names {
			var v int
			if err == nil {
				v, err = intField(fspec, n)
			}
			out = append(out, v)
		}
		return out
	}
	switch ks.FindType {
	case "range":
		v := ints("lastkey", "keystep", "limit")
		ks.LastKey, ks.KeyStep, ks.Limit = v[0], v[1], v[2]
	case "keynum":
		v := ints("keynumidx", "firstkey", "keystep")
		ks.KeyNumIdx, ks.FirstKey, ks.KeyStep = v[0], v[1], v[2]
	}
	return ks, err
}

func intField(m map[string]any, name string) (int, error) {
	n, ok := m[name].(int64)
	if !ok {
		return 0, fmt.Errorf("%s is %T, want an integer", name, m[name])
	}
	return int(n), nil
}

// pairs reads a RESP2 map (a flat array of keys and values).
func pairs(v any) (map[string]any, error) {
	l, ok := v.([]any)
	if !ok {
		if m, ok := v.(map[any]any); ok { // RESP3
			out := map[string]any{}
			for k, v := range m {
				out[fmt.Sprint(k)] = v
			}
			return out, nil
		}
		return nil, fmt.Errorf("%T is not a map", v)
	}
	if len(l)%2 != 0 {
		return nil, fmt.Errorf("map with an odd number of elements")
	}
	out := make(map[string]any, len(l)/2)
	for i := 0; i < len(l); i += 2 {
		k, ok := l[i].(string)
		if !ok {
			return nil, fmt.Errorf("map key %v is not a string", l[i])
		}
		out[k] = l[i+1]
	}
	return out, nil
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
