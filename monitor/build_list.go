package monitor

import "github.com/redtap/redtap/rdb"

// appendList is appendTyped for the list commands.
func appendList(dst []Event, id cmdID, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	switch id {
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
		op := OpLPop
		if id == cmdRPop {
			op = OpRPop
		}
		dst, ok := appendPop(dst, op, db, args, off, tx)
		return dst, rdb.TypeList, ok
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
	}
	return dst, rdb.TypeList, false
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
