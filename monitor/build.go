package monitor

import (
	"fmt"
	"math"

	"github.com/redtap/redtap/rdb"
)

// AppendEvents appends the events of one command (args, name first, as in
// [replica.Command]) run in database db, and returns the extended slice:
// one KindChange event per key in argument order (two for MOVE), with the
// typed view of [Op]; one KindDBChange event for FLUSHDB, FLUSHALL, SWAPDB
// or a command whose keys cannot be told; none for a command without keys
// (PUBLISH, FUNCTION LOAD ...). Offset and Tx are left zero.
//
// The events alias args. Malformed arguments never panic: a command whose
// arguments do not parse is OpOther. AppendEvents does not allocate beyond
// growing dst.
func AppendEvents(dst []Event, db int, args [][]byte) []Event {
	var keys [16]KeyRef
	dst, _ = appendEvents(dst, keys[:0], db, args, 0, false)
	return dst
}

// appendEvents is AppendEvents with a scratch slice for AppendKeys, which
// it returns for reuse.
// off and tx are the events' Offset and Tx.
func appendEvents(dst []Event, keys []KeyRef, db int, args [][]byte, off int64, tx bool) ([]Event, []KeyRef) {
	if len(args) == 0 {
		return dst, keys
	}
	n := len(dst)
	dst, typ, ok := appendTyped(dst, db, args, off, tx)
	if ok {
		return dst, keys
	}
	dst = dst[:n]
	refs, err := AppendKeys(keys[:0], args)
	if err != nil {
		e := newEvent(&dst, KindDBChange, OpOther, db, args, off, tx)
		e.Type = typ
		e.Err = fmt.Errorf("monitor: keys of %.40q: %w", args[0], err)
		return dst, refs
	}
	for _, r := range refs {
		if r.Index <= 0 || r.Index >= len(args) {
			continue
		}
		e := keyEvent(&dst, OpOther, db, args, r.Index, off, tx)
		e.Type = typ
	}
	return dst, refs
}

// newEvent appends an event without a key.
func newEvent(dst *[]Event, kind Kind, op Op, db int, args [][]byte, off int64, tx bool) *Event {
	*dst = append(*dst, Event{})
	e := &(*dst)[len(*dst)-1]
	e.Kind, e.Op, e.Type, e.DB, e.Args, e.Offset, e.Tx = kind, op, op.Type(), db, args, off, tx
	return e
}

// keyEvent appends a KindChange event for args[i].
func keyEvent(dst *[]Event, op Op, db int, args [][]byte, i int, off int64, tx bool) *Event {
	e := newEvent(dst, KindChange, op, db, args, off, tx)
	e.Key, e.KeyIndex = args[i], i
	return e
}

func (e *Event) setValue(args [][]byte, i int) {
	e.Value, e.ix.value = args[i], int32(i)
}

func (e *Event) setField(args [][]byte, i int) {
	e.Field, e.ix.field = args[i], int32(i)
}

func (e *Event) setOther(args [][]byte, i int) {
	e.Other, e.ix.other = args[i], int32(i)
}

func (e *Event) setElems(args [][]byte, from, to int) {
	e.Elems, e.ix.e0, e.ix.e1 = args[from:to:to], int32(from), int32(to)
}

// appendTyped appends the events of a command with a typed view. ok is
// false for a command without one or with arguments that do not parse
// (the caller then drops what was appended); typ is the type the command
// implies in either case.
func appendTyped(dst []Event, db int, args [][]byte, off int64, tx bool) (_ []Event, typ rdb.Type, ok bool) {
	id, typ := lookupCommand(args[0])
	argc := len(args)
	switch id {
	// Keyspace.
	case cmdDel, cmdUnlink:
		if argc < 2 {
			return dst, 0, false
		}
		for i := 1; i < argc; i++ {
			keyEvent(&dst, OpDel, db, args, i, off, tx)
		}
		return dst, 0, true
	case cmdPExpireAt, cmdExpireAt:
		if argc != 3 && argc != 4 {
			return dst, 0, false
		}
		t, ok := parseInt(args[2])
		if !ok {
			return dst, 0, false
		}
		if id == cmdExpireAt {
			if t > math.MaxInt64/1000 || t < math.MinInt64/1000 {
				return dst, 0, false
			}
			t *= 1000
		}
		var o Opts
		if argc == 4 {
			var tb [24]byte
			switch string(lowerTok(&tb, args[3])) {
			case "nx":
				o = OptNX
			case "xx":
				o = OptXX
			case "gt":
				o = OptGT
			case "lt":
				o = OptLT
			default:
				return dst, 0, false
			}
		}
		e := keyEvent(&dst, OpExpireAt, db, args, 1, off, tx)
		e.N, e.Opts = t, o
		return dst, 0, true
	case cmdPersist:
		if argc != 2 {
			return dst, 0, false
		}
		keyEvent(&dst, OpPersist, db, args, 1, off, tx)
		return dst, 0, true
	case cmdRename, cmdRenameNX:
		if argc != 3 {
			return dst, 0, false
		}
		var o Opts
		if id == cmdRenameNX {
			o = OptNX
		}
		e := keyEvent(&dst, OpRenameFrom, db, args, 1, off, tx)
		e.setOther(args, 2)
		e.Opts = o
		e = keyEvent(&dst, OpRenameTo, db, args, 2, off, tx)
		e.setOther(args, 1)
		e.Opts = o
		return dst, 0, true
	case cmdMove:
		if argc != 3 {
			return dst, 0, false
		}
		to, ok := parseDB(args[2])
		if !ok {
			return dst, 0, false
		}
		e := keyEvent(&dst, OpMoveFrom, db, args, 1, off, tx)
		e.OtherDB = to
		e = keyEvent(&dst, OpMoveTo, to, args, 1, off, tx)
		e.OtherDB = db
		return dst, 0, true
	case cmdCopy:
		if argc < 3 {
			return dst, 0, false
		}
		to, o := db, Opts(0)
		for i := 3; i < argc; i++ {
			switch {
			case eqFold(args[i], "replace"):
				o |= OptReplace
			case eqFold(args[i], "db") && i+1 < argc:
				d, ok := parseDB(args[i+1])
				if !ok {
					return dst, 0, false
				}
				to = d
				i++
			default:
				return dst, 0, false
			}
		}
		e := keyEvent(&dst, OpCopyFrom, db, args, 1, off, tx)
		e.setOther(args, 2)
		e.OtherDB, e.Opts = to, o
		e = keyEvent(&dst, OpCopyTo, to, args, 2, off, tx)
		e.setOther(args, 1)
		e.OtherDB, e.Opts = db, o
		return dst, 0, true
	case cmdFlushDB, cmdFlushAll:
		if argc > 2 || argc == 2 && !eqFold(args[1], "async") && !eqFold(args[1], "sync") {
			return dst, 0, false
		}
		if id == cmdFlushDB {
			newEvent(&dst, KindDBChange, OpFlushDB, db, args, off, tx)
		} else {
			newEvent(&dst, KindDBChange, OpFlushAll, -1, args, off, tx)
		}
		return dst, 0, true
	case cmdSwapDB:
		if argc != 3 {
			return dst, 0, false
		}
		a, ok1 := parseDB(args[1])
		b, ok2 := parseDB(args[2])
		if !ok1 || !ok2 {
			return dst, 0, false
		}
		e := newEvent(&dst, KindDBChange, OpSwapDB, a, args, off, tx)
		e.OtherDB = b
		return dst, 0, true

	// Strings.
	case cmdSet:
		return appendSet(dst, db, args, off, tx)
	case cmdSetNX, cmdGetSet:
		if argc != 3 {
			return dst, rdb.TypeString, false
		}
		e := keyEvent(&dst, OpSet, db, args, 1, off, tx)
		e.setValue(args, 2)
		if id == cmdSetNX {
			e.Opts = OptNX
		}
		return dst, rdb.TypeString, true
	case cmdSetEX, cmdPSetEX:
		if argc != 4 {
			return dst, rdb.TypeString, false
		}
		t, ok := parseInt(args[2])
		if !ok || t <= 0 {
			return dst, rdb.TypeString, false
		}
		if id == cmdSetEX {
			if t > math.MaxInt64/1000 {
				return dst, rdb.TypeString, false
			}
			t *= 1000
		}
		e := keyEvent(&dst, OpSet, db, args, 1, off, tx)
		e.setValue(args, 3)
		e.M = t
		return dst, rdb.TypeString, true
	case cmdMSet, cmdMSetNX:
		if argc < 3 || argc%2 == 0 {
			return dst, rdb.TypeString, false
		}
		for i := 1; i < argc; i += 2 {
			e := keyEvent(&dst, OpSet, db, args, i, off, tx)
			e.setValue(args, i+1)
			if id == cmdMSetNX {
				e.Opts = OptNX
			}
		}
		return dst, rdb.TypeString, true
	case cmdAppend:
		if argc != 3 {
			return dst, rdb.TypeString, false
		}
		keyEvent(&dst, OpAppend, db, args, 1, off, tx).setValue(args, 2)
		return dst, rdb.TypeString, true
	case cmdIncr, cmdDecr:
		if argc != 2 {
			return dst, rdb.TypeString, false
		}
		e := keyEvent(&dst, OpIncrBy, db, args, 1, off, tx)
		e.N = 1
		if id == cmdDecr {
			e.N = -1
		}
		return dst, rdb.TypeString, true
	case cmdIncrBy, cmdDecrBy:
		if argc != 3 {
			return dst, rdb.TypeString, false
		}
		d, ok := parseInt(args[2])
		if !ok || id == cmdDecrBy && d == math.MinInt64 {
			return dst, rdb.TypeString, false
		}
		if id == cmdDecrBy {
			d = -d
		}
		keyEvent(&dst, OpIncrBy, db, args, 1, off, tx).N = d
		return dst, rdb.TypeString, true
	case cmdSetRange:
		if argc != 4 {
			return dst, rdb.TypeString, false
		}
		off, ok := parseInt(args[2])
		if !ok || off < 0 {
			return dst, rdb.TypeString, false
		}
		e := keyEvent(&dst, OpSetRange, db, args, 1, off, tx)
		e.N = off
		e.setValue(args, 3)
		return dst, rdb.TypeString, true
	case cmdSetBit:
		if argc != 4 {
			return dst, rdb.TypeString, false
		}
		off, ok := parseInt(args[2])
		if !ok || off < 0 || len(args[3]) != 1 || args[3][0] != '0' && args[3][0] != '1' {
			return dst, rdb.TypeString, false
		}
		e := keyEvent(&dst, OpSetBit, db, args, 1, off, tx)
		e.N, e.M = off, int64(args[3][0]-'0')
		return dst, rdb.TypeString, true

	// Hashes.
	case cmdHSet, cmdHMSet:
		if argc < 4 || argc%2 != 0 {
			return dst, rdb.TypeHash, false
		}
		keyEvent(&dst, OpHSet, db, args, 1, off, tx).setElems(args, 2, argc)
		return dst, rdb.TypeHash, true
	case cmdHSetNX:
		if argc != 4 {
			return dst, rdb.TypeHash, false
		}
		e := keyEvent(&dst, OpHSet, db, args, 1, off, tx)
		e.setElems(args, 2, 4)
		e.Opts = OptNX
		return dst, rdb.TypeHash, true
	case cmdHDel:
		if argc < 3 {
			return dst, rdb.TypeHash, false
		}
		keyEvent(&dst, OpHDel, db, args, 1, off, tx).setElems(args, 2, argc)
		return dst, rdb.TypeHash, true
	case cmdHIncrBy:
		if argc != 4 {
			return dst, rdb.TypeHash, false
		}
		d, ok := parseInt(args[3])
		if !ok {
			return dst, rdb.TypeHash, false
		}
		e := keyEvent(&dst, OpHIncrBy, db, args, 1, off, tx)
		e.setField(args, 2)
		e.N = d
		return dst, rdb.TypeHash, true

	// Sets.
	case cmdSAdd, cmdSRem:
		if argc < 3 {
			return dst, rdb.TypeSet, false
		}
		op := OpSAdd
		if id == cmdSRem {
			op = OpSRem
		}
		keyEvent(&dst, op, db, args, 1, off, tx).setElems(args, 2, argc)
		return dst, rdb.TypeSet, true
	case cmdSMove:
		if argc != 4 {
			return dst, rdb.TypeSet, false
		}
		e := keyEvent(&dst, OpSRem, db, args, 1, off, tx)
		e.setOther(args, 2)
		e.setElems(args, 3, 4)
		e = keyEvent(&dst, OpSAdd, db, args, 2, off, tx)
		e.setOther(args, 1)
		e.setElems(args, 3, 4)
		return dst, rdb.TypeSet, true

	// Sorted sets.
	case cmdZAdd:
		return appendZAdd(dst, db, args, off, tx)
	case cmdZIncrBy:
		if argc != 4 {
			return dst, rdb.TypeZSet, false
		}
		d, err := ParseScore(args[2])
		if err != nil {
			return dst, rdb.TypeZSet, false
		}
		e := keyEvent(&dst, OpZIncrBy, db, args, 1, off, tx)
		e.Float = d
		e.setValue(args, 3)
		return dst, rdb.TypeZSet, true
	case cmdZRem:
		if argc < 3 {
			return dst, rdb.TypeZSet, false
		}
		keyEvent(&dst, OpZRem, db, args, 1, off, tx).setElems(args, 2, argc)
		return dst, rdb.TypeZSet, true
	case cmdZPopMin, cmdZPopMax:
		n, ok := optCount(args)
		if !ok {
			return dst, rdb.TypeZSet, false
		}
		op := OpZPopMin
		if id == cmdZPopMax {
			op = OpZPopMax
		}
		keyEvent(&dst, op, db, args, 1, off, tx).N = n
		return dst, rdb.TypeZSet, true
	case cmdZRemRangeByRank:
		if argc != 4 {
			return dst, rdb.TypeZSet, false
		}
		a, ok1 := parseInt(args[2])
		b, ok2 := parseInt(args[3])
		if !ok1 || !ok2 {
			return dst, rdb.TypeZSet, false
		}
		e := keyEvent(&dst, OpZRemRangeByRank, db, args, 1, off, tx)
		e.N, e.M = a, b
		return dst, rdb.TypeZSet, true
	case cmdZRemRangeByScore:
		if argc != 4 || !scoreBound(args[2]) || !scoreBound(args[3]) {
			return dst, rdb.TypeZSet, false
		}
		keyEvent(&dst, OpZRemRangeByScore, db, args, 1, off, tx).setElems(args, 2, 4)
		return dst, rdb.TypeZSet, true
	case cmdZRemRangeByLex:
		if argc != 4 || !lexBound(args[2]) || !lexBound(args[3]) {
			return dst, rdb.TypeZSet, false
		}
		keyEvent(&dst, OpZRemRangeByLex, db, args, 1, off, tx).setElems(args, 2, 4)
		return dst, rdb.TypeZSet, true

	// Lists.
	case cmdLPush, cmdRPush, cmdLPushX, cmdRPushX:
		if argc < 3 {
			return dst, rdb.TypeList, false
		}
		op := OpLPush
		if id == cmdRPush || id == cmdRPushX {
			op = OpRPush
		}
		e := keyEvent(&dst, op, db, args, 1, off, tx)
		e.setElems(args, 2, argc)
		if id == cmdLPushX || id == cmdRPushX {
			e.Opts = OptXX
		}
		return dst, rdb.TypeList, true
	case cmdLPop, cmdRPop:
		n, ok := optCount(args)
		if !ok {
			return dst, rdb.TypeList, false
		}
		op := OpLPop
		if id == cmdRPop {
			op = OpRPop
		}
		keyEvent(&dst, op, db, args, 1, off, tx).N = n
		return dst, rdb.TypeList, true
	case cmdLSet:
		if argc != 4 {
			return dst, rdb.TypeList, false
		}
		i, ok := parseInt(args[2])
		if !ok {
			return dst, rdb.TypeList, false
		}
		e := keyEvent(&dst, OpLSet, db, args, 1, off, tx)
		e.N = i
		e.setValue(args, 3)
		return dst, rdb.TypeList, true
	case cmdLTrim:
		if argc != 4 {
			return dst, rdb.TypeList, false
		}
		a, ok1 := parseInt(args[2])
		b, ok2 := parseInt(args[3])
		if !ok1 || !ok2 {
			return dst, rdb.TypeList, false
		}
		e := keyEvent(&dst, OpLTrim, db, args, 1, off, tx)
		e.N, e.M = a, b
		return dst, rdb.TypeList, true
	case cmdLInsert:
		if argc != 5 {
			return dst, rdb.TypeList, false
		}
		var o Opts
		switch {
		case eqFold(args[2], "before"):
			o = OptBefore
		case eqFold(args[2], "after"):
		default:
			return dst, rdb.TypeList, false
		}
		e := keyEvent(&dst, OpLInsert, db, args, 1, off, tx)
		e.Opts = o
		e.setField(args, 3)
		e.setValue(args, 4)
		return dst, rdb.TypeList, true
	case cmdLRem:
		if argc != 4 {
			return dst, rdb.TypeList, false
		}
		n, ok := parseInt(args[2])
		if !ok {
			return dst, rdb.TypeList, false
		}
		e := keyEvent(&dst, OpLRem, db, args, 1, off, tx)
		e.N = n
		e.setValue(args, 3)
		return dst, rdb.TypeList, true
	case cmdLMove, cmdBLMove:
		want := 5
		if id == cmdBLMove {
			want = 6
		}
		if argc != want {
			return dst, rdb.TypeList, false
		}
		from, ok1 := listSide(args[3])
		to, ok2 := listSide(args[4])
		if !ok1 || !ok2 {
			return dst, rdb.TypeList, false
		}
		appendMove(&dst, db, args, from, to, off, tx)
		return dst, rdb.TypeList, true
	case cmdRPopLPush, cmdBRPopLPush:
		want := 3
		if id == cmdBRPopLPush {
			want = 4
		}
		if argc != want {
			return dst, rdb.TypeList, false
		}
		appendMove(&dst, db, args, false, true, off, tx)
		return dst, rdb.TypeList, true

	// Streams.
	case cmdXAdd:
		return appendXAdd(dst, db, args, off, tx)
	case cmdXTrim:
		if argc < 4 {
			return dst, rdb.TypeStream, false
		}
		var t streamTrim
		i, ok := t.parse(args, 2, false)
		if !ok || i != argc || t.opts&(OptMaxLen|OptMinID) == 0 {
			return dst, rdb.TypeStream, false
		}
		t.set(keyEvent(&dst, OpXTrim, db, args, 1, off, tx), args)
		return dst, rdb.TypeStream, true
	case cmdXDel:
		if argc < 3 {
			return dst, rdb.TypeStream, false
		}
		keyEvent(&dst, OpXDel, db, args, 1, off, tx).setElems(args, 2, argc)
		return dst, rdb.TypeStream, true
	case cmdXGroup:
		if argc < 4 {
			return dst, rdb.TypeStream, false
		}
		var sb [24]byte
		switch string(lowerTok(&sb, args[1])) {
		case "create", "setid", "destroy", "createconsumer", "delconsumer":
		default:
			return dst, rdb.TypeStream, false
		}
		e := keyEvent(&dst, OpXGroup, db, args, 2, off, tx)
		e.setValue(args, 1)
		e.setField(args, 3)
		e.setElems(args, 4, argc)
		return dst, rdb.TypeStream, true
	case cmdXAck, cmdXClaim, cmdXAutoClaim:
		if argc < 4 || id != cmdXAck && argc < 6 {
			return dst, rdb.TypeStream, false
		}
		e := keyEvent(&dst, OpXGroup, db, args, 1, off, tx)
		e.setField(args, 2)
		e.setElems(args, 3, argc)
		return dst, rdb.TypeStream, true
	}
	return dst, typ, false
}

// optCount parses "<cmd> key [count]": the count, 1 when absent.
func optCount(args [][]byte) (int64, bool) {
	switch len(args) {
	case 2:
		return 1, true
	case 3:
		n, ok := parseInt(args[2])
		return n, ok && n >= 0
	}
	return 0, false
}

// listSide parses LEFT or RIGHT: left reports LEFT.
func listSide(b []byte) (left, ok bool) {
	switch {
	case eqFold(b, "left"):
		return true, true
	case eqFold(b, "right"):
		return false, true
	}
	return false, false
}

// appendMove appends LMOVE's two events: a pop of one element from
// args[1], a push of it onto args[2].
func appendMove(dst *[]Event, db int, args [][]byte, fromLeft, toLeft bool, off int64, tx bool) {
	op := OpRPop
	if fromLeft {
		op = OpLPop
	}
	e := keyEvent(dst, op, db, args, 1, off, tx)
	e.N = 1
	e.setOther(args, 2)
	op = OpRPush
	if toLeft {
		op = OpLPush
	}
	keyEvent(dst, op, db, args, 2, off, tx).setOther(args, 1)
}

// scoreBound reports whether b is a ZRANGEBYSCORE bound: a score, or "("
// and a score.
func scoreBound(b []byte) bool {
	if len(b) > 0 && b[0] == '(' {
		b = b[1:]
	}
	_, err := ParseScore(b)
	return err == nil
}

// lexBound reports whether b is a ZRANGEBYLEX bound: "-", "+", or "[" or
// "(" and a member.
func lexBound(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '[', '(':
		return true
	case '-', '+':
		return len(b) == 1
	}
	return false
}

func appendSet(dst []Event, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	if argc < 3 {
		return dst, rdb.TypeString, false
	}
	var o Opts
	var at, ttl int64
	expiries := 0
	for i := 3; i < argc; i++ {
		var tb [24]byte
		switch t := string(lowerTok(&tb, args[i])); t {
		case "nx":
			o |= OptNX
		case "xx":
			o |= OptXX
		case "get":
			o |= OptGet
		case "keepttl":
			o |= OptKeepTTL
		case "ex", "px", "exat", "pxat":
			if i+1 >= argc {
				return dst, rdb.TypeString, false
			}
			v, ok := parseInt(args[i+1])
			if !ok || v <= 0 || t[0] == 'e' && v > math.MaxInt64/1000 {
				return dst, rdb.TypeString, false
			}
			if t[0] == 'e' {
				v *= 1000
			}
			if len(t) == 4 {
				at = v
			} else {
				ttl = v
			}
			expiries++
			i++
		default:
			return dst, rdb.TypeString, false
		}
	}
	if o&(OptNX|OptXX) == OptNX|OptXX || expiries > 1 || expiries == 1 && o&OptKeepTTL != 0 {
		return dst, rdb.TypeString, false
	}
	e := keyEvent(&dst, OpSet, db, args, 1, off, tx)
	e.setValue(args, 2)
	e.N, e.M, e.Opts = at, ttl, o
	return dst, rdb.TypeString, true
}

func appendZAdd(dst []Event, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	var o Opts
	i := 2
options:
	for ; i < argc; i++ {
		var tb [24]byte
		switch string(lowerTok(&tb, args[i])) {
		case "nx":
			o |= OptNX
		case "xx":
			o |= OptXX
		case "gt":
			o |= OptGT
		case "lt":
			o |= OptLT
		case "ch":
			o |= OptCH
		case "incr":
			o |= OptIncr
		default:
			break options
		}
	}
	pairs := argc - i
	if pairs < 2 || pairs%2 != 0 || o&(OptNX|OptXX) == OptNX|OptXX || o&(OptGT|OptLT) == OptGT|OptLT ||
		o&OptNX != 0 && o&(OptGT|OptLT) != 0 || o&OptIncr != 0 && pairs != 2 {
		return dst, rdb.TypeZSet, false
	}
	var first float64
	for j := i; j < argc; j += 2 {
		f, err := ParseScore(args[j])
		if err != nil {
			return dst, rdb.TypeZSet, false
		}
		if j == i {
			first = f
		}
	}
	e := keyEvent(&dst, OpZAdd, db, args, 1, off, tx)
	e.setElems(args, i, argc)
	e.Opts = o
	if o&OptIncr != 0 {
		e.Float = first
	}
	return dst, rdb.TypeZSet, true
}

// streamTrim is a stream trim specification (XADD, XTRIM).
type streamTrim struct {
	opts      Opts
	threshold int // argument index
	maxLen    int64
	limit     int64
}

// parse reads trim options from args[i:] and returns the index of the
// first argument that is not one.
func (t *streamTrim) parse(args [][]byte, i int, xadd bool) (int, bool) {
	for i < len(args) {
		a := args[i]
		switch {
		case xadd && eqFold(a, "nomkstream"):
			t.opts |= OptNoMkStream
			i++
		case eqFold(a, "maxlen"), eqFold(a, "minid"):
			if t.opts&(OptMaxLen|OptMinID) != 0 {
				return i, false
			}
			if a[1] == 'a' || a[1] == 'A' {
				t.opts |= OptMaxLen
			} else {
				t.opts |= OptMinID
			}
			i++
			if i < len(args) && len(args[i]) == 1 && (args[i][0] == '~' || args[i][0] == '=') {
				if args[i][0] == '~' {
					t.opts |= OptApprox
				}
				i++
			}
			if i >= len(args) {
				return i, false
			}
			t.threshold = i
			if t.opts&OptMaxLen != 0 {
				n, ok := parseInt(args[i])
				if !ok || n < 0 {
					return i, false
				}
				t.maxLen = n
			}
			i++
		case eqFold(a, "limit"):
			if i+1 >= len(args) {
				return i, false
			}
			n, ok := parseInt(args[i+1])
			if !ok || n < 0 {
				return i, false
			}
			t.limit = n
			i += 2
		default:
			return i, true
		}
	}
	return i, true
}

func (t *streamTrim) set(e *Event, args [][]byte) {
	e.Opts |= t.opts
	if t.threshold > 0 {
		e.setField(args, t.threshold)
	}
	e.N, e.M = t.maxLen, t.limit
}

func appendXAdd(dst []Event, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	var t streamTrim
	i, ok := t.parse(args, 2, true)
	if !ok || t.limit != 0 && t.opts&(OptMaxLen|OptMinID) == 0 {
		return dst, rdb.TypeStream, false
	}
	// args[i] is the id, field-value pairs follow.
	if fields := argc - i - 1; fields < 2 || fields%2 != 0 {
		return dst, rdb.TypeStream, false
	}
	e := keyEvent(&dst, OpXAdd, db, args, 1, off, tx)
	e.setValue(args, i)
	e.setElems(args, i+1, argc)
	t.set(e, args)
	return dst, rdb.TypeStream, true
}
