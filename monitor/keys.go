package monitor

import (
	"strconv"
	"strings"
)

// KeyRef is one key of a command: its position in the arguments and how
// the command uses it.
type KeyRef struct {
	Index int      // position in args (args[0] is the command name)
	Flags KeyFlags // from the key specification, or from the getkeys procedure
}

// Keys returns the keys of the command args (name first, as in
// replica.Command.Args) in the server's order. See [AppendKeys].
func Keys(args [][]byte) ([]KeyRef, error) { return AppendKeys(nil, args) }

// AppendKeys appends the keys of the command args (name first) to dst and
// returns the extended slice, in the order and with the flags the server's
// COMMAND GETKEYSANDFLAGS reports. It does not allocate beyond growing dst.
//
// The command is looked up as [LookupArgs] does, ignoring case. Its keys
// are found the way the server does it (getKeysFromCommandWithSpecs): from
// the key specifications when they are complete and have fixed flags, else
// (or when they do not fit the arguments) with the command's getkeys
// procedure, reimplemented here (SORT, MIGRATE, EVAL, ZUNIONSTORE, XREAD,
// SET, BITFIELD ...). Keywords are compared like the server's strcasecmp:
// ASCII case is ignored and an argument ends at its first NUL byte. Key
// names SORT derives from its BY and GET patterns are not keys here, as for
// the server.
//
// On an error dst is returned unchanged. The errors, and what COMMAND
// GETKEYS answers in the same case:
//
//   - unknown command or subcommand: [ErrUnknownCommand] ("Invalid command
//     specified");
//   - arity not met: [ErrArity] ("Invalid number of arguments specified for
//     command"), checked for every command, also for those without keys;
//   - a command that needs keys but whose keys cannot be located:
//     [ErrInvalidArgs] ("Invalid arguments specified for command").
//
// A command without keys (PING, FLUSHALL) returns no keys and no error
// (GETKEYS: "The command has no key arguments"), and so does a command
// with the no_mandatory_keys flag whose arguments name no key (EVAL with
// numkeys 0; GETKEYS: an empty list).
//
// The keys a fallback procedure finds for a command whose specifications
// are complete carry no flags, as on the server. That happens only for
// arguments the command itself rejects, such as a numkeys that C's atoi
// reads but a strict parser does not ("02", "2abc"); the destination of
// ZUNIONSTORE and the like then comes last. Servers disagree on one such
// case, a numkeys of 2^31 or more: Redis 7.0, 7.2 and Valkey 8.0 truncate
// it to 32 bits in the key specification (4294967297 is 1) and report the
// specification's keys and flags, while Redis 7.4 rejects it there and
// falls back to the procedure, whose atoi truncates the same way, so the
// same keys come in the procedure's order without flags. AppendKeys
// follows Redis 7.4.
func AppendKeys(dst []KeyRef, args [][]byte) ([]KeyRef, error) {
	c, err := LookupArgs(args)
	if err != nil {
		return dst, err
	}
	return c.AppendKeys(dst, args)
}

// AppendKeys is [AppendKeys] for a command already looked up: args must be
// a command that [LookupArgs] resolves to c.
func (c *CommandInfo) AppendKeys(dst []KeyRef, args [][]byte) ([]KeyRef, error) {
	if !c.ArityOK(len(args)) {
		return dst, c.arityError(len(args))
	}
	if !c.HasKeys() {
		return dst, nil
	}
	base := len(dst)
	var f fault
	bySpecs := false // the specs were used and fit the arguments
	if c.hasKeySpec && !c.varFlags {
		if dst, bySpecs, f = appendBySpecs(dst, c.KeySpecs, args); !bySpecs {
			dst = dst[:base]
		}
	}
	if !bySpecs && c.proc != procNone {
		dst, f = c.proc.appendKeys(dst, args)
	}
	if len(dst) == base && c.Flags&FlagNoMandatoryKeys == 0 {
		return dst, c.invalid(f, args)
	}
	return dst, nil
}

func (c *CommandInfo) arityError(n int) error {
	want := "exactly " + strconv.Itoa(c.Arity)
	if c.Arity < 0 {
		want = "at least " + strconv.Itoa(-c.Arity)
	}
	return &Error{Command: c.Name, Arg: -1, Reason: "got " + strconv.Itoa(n) + ", want " + want, Err: ErrArity}
}

func (c *CommandInfo) invalid(f fault, args [][]byte) error {
	reason := f.msg
	if reason == "" {
		reason = "no keys found"
	}
	if f.kw != "" {
		reason = strings.Replace(reason, "%s", f.kw, 1)
	}
	arg := -1
	if f.arg > 0 && f.arg < len(args) {
		arg = f.arg
		reason += " " + quote(args[arg])
	}
	return &Error{Command: c.Name, Arg: arg, Reason: reason, Err: ErrInvalidArgs}
}

// fault records why no keys were found, for the error message; building
// it does not allocate.
type fault struct {
	msg string // a constant; "%s" stands for kw
	kw  string
	arg int // the offending argument, 0 for none
}

// appendBySpecs appends the keys the key specifications locate, as the
// server's getKeysUsingKeySpecs does. ok is false where the server returns
// -1 (a spec of unknown type, one that does not fit the arguments, or an
// incomplete one), and the caller then drops what was appended.
func appendBySpecs(dst []KeyRef, specs []KeySpec, args [][]byte) (_ []KeyRef, ok bool, f fault) {
	argc := len(args)
	for i := range specs {
		ks := &specs[i]
		if ks.Flags&KeyNotKey != 0 {
			continue
		}
		var first int
		switch ks.Begin.Type {
		case BeginIndex:
			first = ks.Begin.Pos
		case BeginKeyword:
			first = findKeyword(args, ks.Begin.Keyword, ks.Begin.StartFrom)
			if first == 0 {
				f = fault{msg: "no %s argument", kw: ks.Begin.Keyword}
				continue
			}
		default:
			return dst, false, fault{msg: "key specification of unknown type"}
		}
		var last, step int
		switch ks.Find.Type {
		case FindRange:
			step = ks.Find.KeyStep
			switch {
			case ks.Find.LastKey >= 0:
				last = first + ks.Find.LastKey
			case ks.Find.Limit == 0:
				last = argc + ks.Find.LastKey
			case ks.Find.Limit > 0:
				last = first + ((argc-first)/ks.Find.Limit + ks.Find.LastKey)
			default:
				return dst, false, fault{msg: "key specification with a negative limit"}
			}
		case FindKeynum:
			step = ks.Find.KeyStep
			idx := first + ks.Find.KeyNumIdx
			if ks.Find.KeyNumIdx >= argc || idx < 1 || idx >= argc {
				return dst, false, fault{msg: "no numkeys argument"}
			}
			n, ok := string2ll(args[idx])
			if !ok || n < 0 {
				return dst, false, fault{msg: "numkeys is not a non-negative integer:", arg: idx}
			}
			first += ks.Find.FirstKey
			if n > int64(argc) {
				return dst, false, fault{msg: "numkeys is more than the arguments after it:", arg: idx}
			}
			last = first + int(n) - 1
		default:
			return dst, false, fault{msg: "key specification of unknown type"}
		}
		if last >= argc || last < first || first >= argc || first < 1 {
			return dst, false, fault{msg: "keys out of the arguments' range"}
		}
		if step < 1 {
			return dst, false, fault{msg: "key specification with a step below 1"}
		}
		for j := first; j <= last; j += step {
			dst = append(dst, KeyRef{Index: j, Flags: ks.Flags})
		}
		if ks.Flags&KeyIncomplete != 0 {
			return dst, false, fault{msg: "incomplete key specification"}
		}
	}
	return dst, true, f
}

// findKeyword returns the position after the keyword, searching from
// startfrom towards the last argument but one, or for a negative startfrom
// from len(args)+startfrom back to argument 2; 0 when it is not there.
func findKeyword(args [][]byte, kw string, startfrom int) int {
	argc := len(args)
	start, end := argc+startfrom, 1
	if startfrom > 0 {
		start, end = startfrom, argc-1
	}
	for i := start; i != end; {
		if i >= argc || i < 1 {
			break
		}
		if cEqualFold(args[i], kw) {
			return i + 1
		}
		if start <= end {
			i++
		} else {
			i--
		}
	}
	return 0
}
