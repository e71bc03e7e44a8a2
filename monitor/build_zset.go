package monitor

import "github.com/redtap/redtap/rdb"

// appendZSet is appendTyped for the sorted-set commands.
func appendZSet(dst []Event, id cmdID, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	switch id {
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
		op := OpZPopMin
		if id == cmdZPopMax {
			op = OpZPopMax
		}
		dst, ok := appendPop(dst, op, db, args, off, tx)
		return dst, rdb.TypeZSet, ok
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
	}
	return dst, rdb.TypeZSet, false
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
