package monitor

import (
	"math"

	"github.com/redtap/redtap/rdb"
)

// appendString is appendTyped for the string commands.
func appendString(dst []Event, id cmdID, db int, args [][]byte, off int64, tx bool) ([]Event, rdb.Type, bool) {
	argc := len(args)
	switch id {
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
		at, ok := parseInt(args[2])
		if !ok || at < 0 {
			return dst, rdb.TypeString, false
		}
		e := keyEvent(&dst, OpSetRange, db, args, 1, off, tx)
		e.N = at
		e.setValue(args, 3)
		return dst, rdb.TypeString, true
	case cmdSetBit:
		if argc != 4 {
			return dst, rdb.TypeString, false
		}
		at, ok := parseInt(args[2])
		if !ok || at < 0 || len(args[3]) != 1 || args[3][0] != '0' && args[3][0] != '1' {
			return dst, rdb.TypeString, false
		}
		e := keyEvent(&dst, OpSetBit, db, args, 1, off, tx)
		e.N, e.M = at, int64(args[3][0]-'0')
		return dst, rdb.TypeString, true
	}
	return dst, rdb.TypeString, false
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
