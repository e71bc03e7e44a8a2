package monitor

import "github.com/redtap/redtap/rdb"

// appendHash is appendTyped for the hash commands.
func appendHash(dst []Event, id cmdID, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	switch id {
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
	}
	return dst, rdb.TypeHash, false
}

// appendSetType is appendTyped for the set commands.
func appendSetType(dst []Event, id cmdID, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	switch id {
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
	}
	return dst, rdb.TypeSet, false
}
