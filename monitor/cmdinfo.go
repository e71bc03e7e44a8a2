package monitor

import (
	"iter"
	"math/bits"
	"strconv"
	"strings"
)

//go:generate go run ./internal/cmdgen -o commands_gen.go

// CommandInfo describes one command or subcommand as the servers report it
// in COMMAND INFO and COMMAND DOCS. The values come from the generated
// table (commands_gen.go): they are shared and must not be modified.
type CommandInfo struct {
	// Name is the lower-case name; a subcommand's is "container|sub", as in
	// "config|set" or "xgroup|create".
	Name string
	// Arity is the number of arguments including the name (and the
	// subcommand): N means exactly N, -N at least N.
	Arity int
	Flags CommandFlags
	// FirstKey, LastKey and KeyStep are the legacy key positions of
	// COMMAND INFO (LastKey negative counts from the end); the key
	// specifications supersede them.
	FirstKey, LastKey, KeyStep int
	// KeySpecs are the key specifications, in the server's order.
	KeySpecs []KeySpec
	// Subcommands are the full names of a container's subcommands
	// ("config|get" ...), sorted; nil for other commands.
	Subcommands []string
	// Group and Since come from COMMAND DOCS ("string", "1.0.0").
	Group, Since string
	// KnownBy is the set of servers that know the command.
	KnownBy ServerSet
	// Variants is the set of servers whose description of the command
	// (arity, flags, doc flags, key positions or key specifications)
	// differs from this entry, which is the newest server's.
	Variants ServerSet

	proc       keysProc // the server's getkeys procedure, if any
	hasKeySpec bool     // a key spec not marked NOT_KEY
	varFlags   bool     // a key spec marked VARIABLE_FLAGS
}

// IsWrite reports whether the command may modify data (the write flag).
func (c *CommandInfo) IsWrite() bool { return c.Flags&FlagWrite != 0 }

// IsReadOnly reports whether the command carries the readonly flag.
func (c *CommandInfo) IsReadOnly() bool { return c.Flags&FlagReadonly != 0 }

// IsContainer reports whether the command only groups subcommands
// (CONFIG, XGROUP, OBJECT ...).
func (c *CommandInfo) IsContainer() bool { return c.Subcommands != nil }

// HasKeys reports whether the command can have key arguments: a key
// specification that is not NOT_KEY, or a getkeys procedure. COMMAND GETKEYS
// answers "The command has no key arguments" for the others.
func (c *CommandInfo) HasKeys() bool { return c.hasKeySpec || c.proc != procNone }

// HasKeysProc reports whether the server has a getkeys procedure for the
// command, which [AppendKeys] implements by hand: it runs when the key
// specifications are incomplete, have variable flags, or do not fit the
// arguments.
func (c *CommandInfo) HasKeysProc() bool { return c.proc != procNone }

// ArityOK reports whether n arguments (name and subcommand included) fit
// the arity.
func (c *CommandInfo) ArityOK(n int) bool {
	if c.Arity >= 0 {
		return n == c.Arity
	}
	return n >= -c.Arity
}

// keysProc names a server's getkeys procedure. The procedures are code in
// the server, not data COMMAND INFO reports: the generator assigns them by
// command name and the GETKEYS tests check them against each server.
type keysProc uint8

const (
	procNone         keysProc = iota
	procSet                   // SET: RW with GET, else OW
	procBitfield              // BITFIELD: RO for GET only, else RW
	procSort                  // SORT: the sort key, and STORE's key
	procSortRO                // SORT_RO: the sort key
	procMigrate               // MIGRATE: the key, or the keys after KEYS
	procGeoradius             // GEORADIUS[BYMEMBER]: the key, and STORE/STOREDIST's key
	procXread                 // XREAD, XREADGROUP: the keys after STREAMS
	procNumkeys1              // numkeys at 1, keys from 2: ZUNION, ZINTER, ZDIFF, ZINTERCARD, SINTERCARD, LMPOP, ZMPOP
	procNumkeys2              // numkeys at 2, keys from 3: EVAL*, FCALL*, BLMPOP, BZMPOP
	procNumkeysStore          // destination at 1, numkeys at 2, keys from 3: ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE
)

// CommandFlags are the command flags of COMMAND INFO, plus the doc flags
// of COMMAND DOCS (FlagDeprecated, FlagSysCmd).
type CommandFlags uint32

// The command flags, named as the servers name them.
const (
	FlagWrite           CommandFlags = 1 << iota // write: may modify data
	FlagReadonly                                 // readonly
	FlagDenyOOM                                  // denyoom
	FlagModule                                   // module
	FlagAdmin                                    // admin
	FlagPubSub                                   // pubsub
	FlagNoScript                                 // noscript
	FlagBlocking                                 // blocking
	FlagLoading                                  // loading
	FlagStale                                    // stale
	FlagSkipMonitor                              // skip_monitor
	FlagSkipSlowlog                              // skip_slowlog
	FlagAsking                                   // asking
	FlagFast                                     // fast
	FlagNoAuth                                   // no_auth
	FlagMayReplicate                             // may_replicate
	FlagNoMandatoryKeys                          // no_mandatory_keys: may have no keys at all
	FlagNoAsyncLoading                           // no_async_loading
	FlagNoMulti                                  // no_multi
	FlagMovableKeys                              // movablekeys: key positions depend on the arguments
	FlagAllowBusy                                // allow_busy
	FlagDeprecated                               // deprecated (COMMAND DOCS)
	FlagSysCmd                                   // syscmd (COMMAND DOCS)
)

var commandFlagNames = [...]string{
	"write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
	"blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
	"fast", "no_auth", "may_replicate", "no_mandatory_keys",
	"no_async_loading", "no_multi", "movablekeys", "allow_busy",
	"deprecated", "syscmd",
}

// String returns the flag names joined by '|' ("write|denyoom").
func (f CommandFlags) String() string { return flagString(uint64(f), commandFlagNames[:]) }

// KeyFlags are the flags of a key specification, and of a key found in a
// command's arguments: how the command uses the key.
type KeyFlags uint16

// The key flags, named as the servers name them.
const (
	KeyRO            KeyFlags = 1 << iota // RO: reads the value
	KeyRW                                 // RW: reads and modifies the value
	KeyOW                                 // OW: overwrites the value without reading it
	KeyRM                                 // RM: deletes the key
	KeyAccess                             // access: returns, copies or uses the user data
	KeyUpdate                             // update: updates the data
	KeyInsert                             // insert: only adds data
	KeyDelete                             // delete: only removes data
	KeyNotKey                             // not_key: not a key (a shard channel)
	KeyIncomplete                         // incomplete: the spec may miss keys
	KeyVariableFlags                      // variable_flags: flags depend on the arguments
)

var keyFlagNames = [...]string{
	"RO", "RW", "OW", "RM", "access", "update", "insert", "delete",
	"not_key", "incomplete", "variable_flags",
}

// String returns the flag names joined by '|' ("RW|access|update").
func (f KeyFlags) String() string { return flagString(uint64(f), keyFlagNames[:]) }

// Names returns the flag names in the order of the constants, as COMMAND
// GETKEYSANDFLAGS lists them.
func (f KeyFlags) Names() []string {
	var out []string
	for i, n := range keyFlagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func flagString(f uint64, names []string) string {
	if f == 0 {
		return ""
	}
	var b strings.Builder
	for i, n := range names {
		if f&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(n)
		f &^= 1 << i
	}
	if f != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(f, 16))
	}
	return b.String()
}

// KeySpec is one key specification: where the search for keys begins and
// how the keys are found from there.
type KeySpec struct {
	Flags KeyFlags
	Begin BeginSearch
	Find  FindKeys
}

// BeginSearchType says how a key specification finds its first key.
type BeginSearchType uint8

// The begin_search types.
const (
	// BeginUnknown: the spec cannot be used; the command's getkeys
	// procedure must find the keys.
	BeginUnknown BeginSearchType = iota
	// BeginIndex: the search begins at argument Pos.
	BeginIndex
	// BeginKeyword: the search begins after the first argument equal to
	// Keyword (ignoring case), looked for from argument StartFrom towards
	// the end, or, when StartFrom is negative, from argument
	// len(args)+StartFrom towards the start.
	BeginKeyword
)

// BeginSearch is the begin_search part of a key specification.
type BeginSearch struct {
	Type      BeginSearchType
	Pos       int    // BeginIndex
	Keyword   string // BeginKeyword, upper case as the server reports it
	StartFrom int    // BeginKeyword
}

// FindKeysType says how a key specification finds its keys from the first.
type FindKeysType uint8

// The find_keys types.
const (
	// FindUnknown: the spec cannot be used.
	FindUnknown FindKeysType = iota
	// FindRange: keys every KeyStep arguments up to LastKey: LastKey >= 0
	// counts from the first key, a negative LastKey from the end; with a
	// Limit, only 1/Limit of the remaining arguments are keys (LastKey is
	// -1 then).
	FindRange
	// FindKeynum: the argument KeyNumIdx after the first says how many
	// keys follow, starting FirstKey arguments after the first, every
	// KeyStep arguments.
	FindKeynum
)

// FindKeys is the find_keys part of a key specification.
type FindKeys struct {
	Type      FindKeysType
	LastKey   int // FindRange
	KeyStep   int // FindRange and FindKeynum
	Limit     int // FindRange
	KeyNumIdx int // FindKeynum
	FirstKey  int // FindKeynum
}

// ServerSet is a set of the servers the command table was generated from:
// bit i stands for Servers()[i].
type ServerSet uint32

// Has reports whether the set holds the server named name ("redis-7.2.6").
func (s ServerSet) Has(name string) bool {
	for i, n := range genServers {
		if n == name {
			return s&(1<<i) != 0
		}
	}
	return false
}

// Names returns the names of the servers in the set, oldest first.
func (s ServerSet) Names() []string {
	var out []string
	for i, n := range genServers {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Len returns the number of servers in the set.
func (s ServerSet) Len() int { return bits.OnesCount32(uint32(s)) }

// String returns the names joined by ','.
func (s ServerSet) String() string { return strings.Join(s.Names(), ",") }

// Servers returns the servers the command table was generated from, named
// by flavour and version ("redis-7.0.15", "valkey-8.0.1"), oldest first.
func Servers() []string { return append([]string(nil), genServers[:]...) }

// Commands iterates over every command and subcommand of the table, sorted
// by name (a subcommand's being "container|sub").
func Commands() iter.Seq[*CommandInfo] {
	return func(yield func(*CommandInfo) bool) {
		for i := range genCommands {
			if !yield(&genCommands[i]) {
				return
			}
		}
	}
}

// Lookup returns the command name, or its subcommand sub when name is a
// container (CONFIG, XGROUP ...), ignoring ASCII case; nil when the table
// does not know it. For a command without subcommands sub is ignored; for
// a container an empty sub returns the container itself. The result is
// shared and must not be modified.
func Lookup(name, sub string) *CommandInfo {
	c := lookupTop([]byte(name))
	if c == nil || !c.IsContainer() || sub == "" {
		return c
	}
	return lookupSub(c, []byte(sub))
}

// LookupArgs returns the command that args (name first, as in
// replica.Command.Args) invoke, like the server's lookup: for a container
// with at least two arguments, the subcommand args[1]. It fails with an
// error matching [ErrUnknownCommand] when the table does not know it. It
// does not check the arity (see [CommandInfo.ArityOK]) and does not
// allocate.
func LookupArgs(args [][]byte) (*CommandInfo, error) {
	if len(args) == 0 {
		return nil, &Error{Arg: -1, Reason: "no arguments", Err: ErrUnknownCommand}
	}
	c := lookupTop(args[0])
	if c == nil {
		return nil, &Error{Command: quote(args[0]), Arg: 0, Err: ErrUnknownCommand}
	}
	if !c.IsContainer() || len(args) < 2 {
		return c, nil
	}
	s := lookupSub(c, args[1])
	if s == nil {
		return nil, &Error{Command: c.Name, Arg: 1, Reason: "subcommand " + quote(args[1]), Err: ErrUnknownCommand}
	}
	return s, nil
}

// maxNameLen bounds the names looked up (longer ones are unknown); the
// longest full name is far shorter.
const maxNameLen = 64

var (
	topByName = map[string]*CommandInfo{}
	subByName = map[string]*CommandInfo{} // "container|sub"
)

func init() {
	for i := range genCommands {
		c := &genCommands[i]
		for _, ks := range c.KeySpecs {
			if ks.Flags&KeyNotKey == 0 {
				c.hasKeySpec = true
			}
			if ks.Flags&KeyVariableFlags != 0 {
				c.varFlags = true
			}
		}
		if strings.Contains(c.Name, "|") {
			subByName[c.Name] = c
		} else {
			topByName[c.Name] = c
		}
	}
}

func lookupTop(name []byte) *CommandInfo {
	var buf [maxNameLen]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, b := range name {
		buf[i] = lower(b)
	}
	return topByName[string(buf[:len(name)])]
}

func lookupSub(container *CommandInfo, sub []byte) *CommandInfo {
	var buf [2*maxNameLen + 1]byte
	if len(sub) > maxNameLen || len(container.Name) > maxNameLen {
		return nil
	}
	n := copy(buf[:], container.Name)
	buf[n] = '|'
	n++
	for _, b := range sub {
		buf[n] = lower(b)
		n++
	}
	return subByName[string(buf[:n])]
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
