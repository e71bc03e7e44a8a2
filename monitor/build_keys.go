package monitor

import (
	"math"

	"github.com/redtap/redtap/rdb"
)

// appendKeyspace is appendTyped for the keyspace commands (DEL,
// EXPIREAT, RENAME, MOVE, COPY, FLUSHDB, SWAPDB ...).
func appendKeyspace(dst []Event, id cmdID, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	switch id {
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
	}
	return dst, 0, false
}
