package monitor

import (
	"strconv"

	"github.com/redtap/redtap/rdb"
)

// Op is what a command does to the key of an [Event]: the typed view of
// the command. It is decided from the command's name and arguments as a
// Redis 7 master propagates them (see the package documentation); each Op
// says which commands map to it and which [Event] fields it sets. Fields an
// Op does not mention are zero. Slices always alias [Event.Args].
//
// A command without a typed view, or whose arguments do not parse, is
// [OpOther]: Key and Args are still set.
type Op uint8

// The operations.
const (
	// OpNone: the event is not a command (Reset, SnapshotKey, SnapshotDone).
	OpNone Op = iota
	// OpOther: a command without a typed view (BITOP, PFADD, SUNIONSTORE,
	// RESTORE, SORT ... STORE, XSETID, an EVAL propagated verbatim ...), or
	// one whose arguments do not parse. One event per key the command names,
	// read or written, with Args and KeyIndex; Type is the command's type
	// when it implies one. With Kind KindDBChange and a nil Key it is a
	// command whose keys cannot be told (Err says why).
	OpOther

	// OpDel: DEL and UNLINK, one event per key; also how a master
	// propagates expirations, evictions, GETDEL, and SPOP/ZPOPMIN/LPOP ...
	// that empty a key.
	OpDel
	// OpExpireAt: PEXPIREAT key ms [NX|XX|GT|LT] (how a Redis 7 master
	// propagates EXPIRE, PEXPIRE, EXPIREAT, GETEX EX/PX/EXAT, SET ... with a
	// relative TTL becomes SET ... PXAT, see OpSet) and EXPIREAT key s. N
	// is the absolute expiry in Unix milliseconds; Opts the condition
	// given (it held on the master). A time in the past reaches a replica
	// as DEL instead.
	OpExpireAt
	// OpPersist: PERSIST key (also GETEX PERSIST). The key loses its TTL.
	OpPersist
	// OpRenameFrom and OpRenameTo: RENAME and RENAMENX src dst (Opts
	// OptNX) as two events, src (KeyIndex 1) then dst (KeyIndex 2), each
	// with Other the other key. The value and TTL of src move to dst; src
	// no longer exists (src == dst: nothing changes).
	OpRenameFrom
	OpRenameTo
	// OpMoveFrom and OpMoveTo: MOVE key db as two events for the same key
	// (KeyIndex 1): the key leaves DB (OpMoveFrom, OtherDB the target) and
	// appears in the target database with its value and TTL (OpMoveTo, DB
	// the target, OtherDB the source).
	OpMoveFrom
	OpMoveTo
	// OpCopyFrom and OpCopyTo: COPY src dst [DB db] [REPLACE] as two
	// events: src (OpCopyFrom, Other dst, OtherDB the destination database)
	// and dst (OpCopyTo, DB the destination database, Other src, OtherDB the
	// source database, Opts OptReplace). Only the destination changes: it
	// becomes a copy of src, value and TTL; OpCopyFrom just says src was
	// read.
	OpCopyFrom
	OpCopyTo

	// OpFlushDB: FLUSHDB [ASYNC|SYNC], Kind KindDBChange: DB is emptied.
	OpFlushDB
	// OpFlushAll: FLUSHALL [ASYNC|SYNC], Kind KindDBChange, DB -1: every
	// database is emptied.
	OpFlushAll
	// OpSwapDB: SWAPDB a b, Kind KindDBChange: DB is a, OtherDB is b; the
	// two databases exchange their contents.
	OpSwapDB

	// OpSet: SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL],
	// SETNX (OptNX), SETEX and PSETEX (older masters), GETSET, and one event
	// per key of MSET and MSETNX (OptNX). A Redis 7 master propagates SET
	// with EX/PX, SETEX, PSETEX as SET ... PXAT, INCRBYFLOAT as SET ...
	// KEEPTTL and GETSET as SET. Value is the new value. N is the absolute
	// expiry in Unix milliseconds (PXAT, EXAT), 0 for none; M is a relative
	// TTL in milliseconds (EX, PX, SETEX, PSETEX from masters before 7.0),
	// 0 for none. With neither and without OptKeepTTL the key loses its TTL.
	// Opts: OptNX, OptXX, OptKeepTTL, OptGet.
	OpSet
	// OpAppend: APPEND key value; Value is appended.
	OpAppend
	// OpIncrBy: INCR, DECR, INCRBY, DECRBY; N is the signed delta (DECRBY
	// key 5 has N -5).
	OpIncrBy
	// OpSetRange: SETRANGE key offset value; N is the offset, Value the
	// bytes written there (the string is zero-padded up to it).
	OpSetRange
	// OpSetBit: SETBIT key offset bit; N is the bit offset, M the bit (0 or
	// 1).
	OpSetBit

	// OpHSet: HSET and HMSET key field value [field value ...], HSETNX
	// (OptNX); also how a master propagates HINCRBYFLOAT. Elems alternates
	// fields and values.
	OpHSet
	// OpHDel: HDEL key field [field ...]; Elems are the fields. A hash left
	// empty is deleted.
	OpHDel
	// OpHIncrBy: HINCRBY key field delta; Field is the field, N the delta.
	OpHIncrBy

	// OpSAdd: SADD key member [member ...], Elems the members; and the
	// destination of SMOVE src dst member (KeyIndex 2, Other src, Elems the
	// member).
	OpSAdd
	// OpSRem: SREM key member [member ...] (also how a master propagates
	// SPOP), Elems the members; and the source of SMOVE (KeyIndex 1, Other
	// dst). A set left empty is deleted.
	OpSRem

	// OpZAdd: ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score
	// member ...]. Elems alternates scores (as sent, parse them with
	// [ParseScore]) and members; Opts the options, which apply per member
	// as on the master (OptIncr: a single pair whose score is an increment,
	// also in Float).
	OpZAdd
	// OpZIncrBy: ZINCRBY key delta member; Float is the delta, Value the
	// member.
	OpZIncrBy
	// OpZRem: ZREM key member [member ...]; Elems the members. A sorted set
	// left empty is deleted.
	OpZRem
	// OpZPopMin and OpZPopMax: ZPOPMIN and ZPOPMAX key [count] (how a Redis
	// 7 master propagates BZPOPMIN, ZMPOP ...); N is the count (1 when
	// absent): the N members of lowest (highest) score are removed.
	OpZPopMin
	OpZPopMax
	// OpZRemRangeByRank: ZREMRANGEBYRANK key start stop; N start, M stop
	// (negative counts from the end, both inclusive).
	OpZRemRangeByRank
	// OpZRemRangeByScore: ZREMRANGEBYSCORE key min max; Elems is [min, max]
	// as sent ("(1.5", "-inf").
	OpZRemRangeByScore
	// OpZRemRangeByLex: ZREMRANGEBYLEX key min max; Elems is [min, max] as
	// sent ("[a", "(b", "-", "+").
	OpZRemRangeByLex

	// OpLPush and OpRPush: LPUSH, RPUSH, LPUSHX, RPUSHX (OptXX) key element
	// [element ...]: Elems are pushed one by one at the head (tail). Also
	// the destination of LMOVE, BLMOVE, RPOPLPUSH, BRPOPLPUSH src dst
	// (KeyIndex 2, Other src, Elems nil): the element is the one popped
	// from src by the event before, which the arguments do not carry.
	OpLPush
	OpRPush
	// OpLPop and OpRPop: LPOP and RPOP key [count] (how a Redis 7 master
	// propagates BLPOP, BRPOP, LMPOP ...); N is the count (1 when absent).
	// Also the source of LMOVE ... (KeyIndex 1, Other dst, N 1). A list
	// left empty is deleted.
	OpLPop
	OpRPop
	// OpLSet: LSET key index element; N the index (negative from the end),
	// Value the element.
	OpLSet
	// OpLTrim: LTRIM key start stop; N start, M stop (inclusive, negative
	// from the end).
	OpLTrim
	// OpLInsert: LINSERT key BEFORE|AFTER pivot element; Field the pivot,
	// Value the element, OptBefore set for BEFORE.
	OpLInsert
	// OpLRem: LREM key count element; N the count (0 all, > 0 from the
	// head, < 0 from the tail), Value the element.
	OpLRem

	// OpXAdd: XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT
	// n]] id field value [field value ...]. Value is the entry id (a master
	// propagates the id it generated, and an exact trim threshold); Elems
	// alternates fields and values; the trim as for OpXTrim.
	OpXAdd
	// OpXDel: XDEL key id [id ...]; Elems the ids.
	OpXDel
	// OpXTrim: XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT n]. Opts has
	// OptMaxLen or OptMinID (and OptApprox for "~"); Field is the threshold
	// as sent; N the MAXLEN threshold; M the LIMIT, 0 when absent.
	OpXTrim
	// OpXGroup: consumer-group state: XGROUP CREATE|SETID|DESTROY|
	// CREATECONSUMER|DELCONSUMER key group ... (Value the subcommand), XACK,
	// XCLAIM and XAUTOCLAIM key group ... (how a master propagates
	// XREADGROUP: XCLAIM and XGROUP SETID). Field is the group, Elems the
	// arguments after it.
	OpXGroup

	numOps
)

var opNames = [numOps]string{
	"none", "other",
	"del", "expireat", "persist", "rename-from", "rename-to", "move-from", "move-to", "copy-from", "copy-to",
	"flushdb", "flushall", "swapdb",
	"set", "append", "incrby", "setrange", "setbit",
	"hset", "hdel", "hincrby",
	"sadd", "srem",
	"zadd", "zincrby", "zrem", "zpopmin", "zpopmax", "zremrangebyrank", "zremrangebyscore", "zremrangebylex",
	"lpush", "rpush", "lpop", "rpop", "lset", "ltrim", "linsert", "lrem",
	"xadd", "xdel", "xtrim", "xgroup",
}

// String returns the operation's name in lower case ("set", "rename-from").
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Type returns the type of key the operation works on, or 0 for those that
// work on keys of any type (OpDel, OpExpireAt, rename, move, copy, the
// db-wide ones, OpOther, OpNone).
func (o Op) Type() rdb.Type {
	switch {
	case o >= OpSet && o <= OpSetBit:
		return rdb.TypeString
	case o >= OpHSet && o <= OpHIncrBy:
		return rdb.TypeHash
	case o == OpSAdd || o == OpSRem:
		return rdb.TypeSet
	case o >= OpZAdd && o <= OpZRemRangeByLex:
		return rdb.TypeZSet
	case o >= OpLPush && o <= OpLRem:
		return rdb.TypeList
	case o >= OpXAdd && o <= OpXGroup:
		return rdb.TypeStream
	}
	return 0
}

// Opts are the options of a command's typed view, as [Event.Opts].
type Opts uint16

// The options.
const (
	OptNX         Opts = 1 << iota // NX, SETNX, MSETNX, HSETNX, RENAMENX
	OptXX                          // XX, LPUSHX, RPUSHX
	OptGT                          // GT
	OptLT                          // LT
	OptCH                          // ZADD CH
	OptIncr                        // ZADD INCR
	OptKeepTTL                     // SET KEEPTTL
	OptGet                         // SET GET
	OptBefore                      // LINSERT BEFORE (else AFTER)
	OptReplace                     // COPY REPLACE
	OptMaxLen                      // XADD, XTRIM MAXLEN
	OptMinID                       // XADD, XTRIM MINID
	OptApprox                      // XADD, XTRIM "~"
	OptNoMkStream                  // XADD NOMKSTREAM
)

var optNames = [...]string{"nx", "xx", "gt", "lt", "ch", "incr", "keepttl", "get", "before", "replace", "maxlen", "minid", "approx", "nomkstream"}

// String lists the options, as "nx|keepttl"; "" for none.
func (o Opts) String() string {
	s := ""
	for i, n := range optNames {
		if o&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	return s
}
