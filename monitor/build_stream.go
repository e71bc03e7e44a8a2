package monitor

import "github.com/redtap/redtap/rdb"

// appendStream is appendTyped for the stream commands.
func appendStream(dst []Event, id cmdID, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	switch id {
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
	return dst, rdb.TypeStream, false
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
