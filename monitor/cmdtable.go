package monitor

import "github.com/redtap/redtap/rdb"

// cmdID names the commands the event builder knows: those with a typed
// view, and cmdOther for those that only imply a type.
type cmdID uint8

const (
	cmdUnknown cmdID = iota
	cmdOther

	cmdDel
	cmdUnlink
	cmdPExpireAt
	cmdExpireAt
	cmdPersist
	cmdRename
	cmdRenameNX
	cmdMove
	cmdCopy
	cmdFlushDB
	cmdFlushAll
	cmdSwapDB

	cmdSet
	cmdSetNX
	cmdGetSet
	cmdSetEX
	cmdPSetEX
	cmdMSet
	cmdMSetNX
	cmdAppend
	cmdIncr
	cmdDecr
	cmdIncrBy
	cmdDecrBy
	cmdSetRange
	cmdSetBit

	cmdHSet
	cmdHMSet
	cmdHSetNX
	cmdHDel
	cmdHIncrBy

	cmdSAdd
	cmdSRem
	cmdSMove

	cmdZAdd
	cmdZIncrBy
	cmdZRem
	cmdZPopMin
	cmdZPopMax
	cmdZRemRangeByRank
	cmdZRemRangeByScore
	cmdZRemRangeByLex

	cmdLPush
	cmdRPush
	cmdLPushX
	cmdRPushX
	cmdLPop
	cmdRPop
	cmdLSet
	cmdLTrim
	cmdLInsert
	cmdLRem
	cmdLMove
	cmdBLMove
	cmdRPopLPush
	cmdBRPopLPush

	cmdXAdd
	cmdXTrim
	cmdXDel
	cmdXGroup
	cmdXAck
	cmdXClaim
	cmdXAutoClaim
)

// cmdNames lists the known commands with their id and the type of key
// they imply (0: any type). appendTyped hands a command to the builder of its
// family by that type: a command with a typed view has its family's type.
var cmdNames = []struct {
	name string
	id   cmdID
	typ  rdb.Type
}{
	{"del", cmdDel, 0}, {"unlink", cmdUnlink, 0}, {"pexpireat", cmdPExpireAt, 0},
	{"expireat", cmdExpireAt, 0}, {"persist", cmdPersist, 0}, {"rename", cmdRename, 0},
	{"renamenx", cmdRenameNX, 0}, {"move", cmdMove, 0}, {"copy", cmdCopy, 0},
	{"flushdb", cmdFlushDB, 0}, {"flushall", cmdFlushAll, 0}, {"swapdb", cmdSwapDB, 0},

	{"set", cmdSet, rdb.TypeString}, {"setnx", cmdSetNX, rdb.TypeString},
	{"getset", cmdGetSet, rdb.TypeString}, {"setex", cmdSetEX, rdb.TypeString},
	{"psetex", cmdPSetEX, rdb.TypeString}, {"mset", cmdMSet, rdb.TypeString},
	{"msetnx", cmdMSetNX, rdb.TypeString}, {"append", cmdAppend, rdb.TypeString},
	{"incr", cmdIncr, rdb.TypeString}, {"decr", cmdDecr, rdb.TypeString},
	{"incrby", cmdIncrBy, rdb.TypeString}, {"decrby", cmdDecrBy, rdb.TypeString},
	{"setrange", cmdSetRange, rdb.TypeString}, {"setbit", cmdSetBit, rdb.TypeString},

	{"hset", cmdHSet, rdb.TypeHash}, {"hmset", cmdHMSet, rdb.TypeHash}, {"hsetnx", cmdHSetNX, rdb.TypeHash},
	{"hdel", cmdHDel, rdb.TypeHash}, {"hincrby", cmdHIncrBy, rdb.TypeHash},

	{"sadd", cmdSAdd, rdb.TypeSet}, {"srem", cmdSRem, rdb.TypeSet}, {"smove", cmdSMove, rdb.TypeSet},

	{"zadd", cmdZAdd, rdb.TypeZSet}, {"zincrby", cmdZIncrBy, rdb.TypeZSet}, {"zrem", cmdZRem, rdb.TypeZSet},
	{"zpopmin", cmdZPopMin, rdb.TypeZSet}, {"zpopmax", cmdZPopMax, rdb.TypeZSet},
	{"zremrangebyrank", cmdZRemRangeByRank, rdb.TypeZSet},
	{"zremrangebyscore", cmdZRemRangeByScore, rdb.TypeZSet},
	{"zremrangebylex", cmdZRemRangeByLex, rdb.TypeZSet},

	{"lpush", cmdLPush, rdb.TypeList}, {"rpush", cmdRPush, rdb.TypeList},
	{"lpushx", cmdLPushX, rdb.TypeList}, {"rpushx", cmdRPushX, rdb.TypeList},
	{"lpop", cmdLPop, rdb.TypeList}, {"rpop", cmdRPop, rdb.TypeList}, {"lset", cmdLSet, rdb.TypeList},
	{"ltrim", cmdLTrim, rdb.TypeList}, {"linsert", cmdLInsert, rdb.TypeList}, {"lrem", cmdLRem, rdb.TypeList},
	{"lmove", cmdLMove, rdb.TypeList}, {"blmove", cmdBLMove, rdb.TypeList},
	{"rpoplpush", cmdRPopLPush, rdb.TypeList}, {"brpoplpush", cmdBRPopLPush, rdb.TypeList},

	{"xadd", cmdXAdd, rdb.TypeStream}, {"xtrim", cmdXTrim, rdb.TypeStream}, {"xdel", cmdXDel, rdb.TypeStream},
	{"xgroup", cmdXGroup, rdb.TypeStream}, {"xack", cmdXAck, rdb.TypeStream},
	{"xclaim", cmdXClaim, rdb.TypeStream}, {"xautoclaim", cmdXAutoClaim, rdb.TypeStream},

	// Without a typed view (OpOther), but implying a type. Commands that
	// a Redis 7 master does not propagate are here in case an older
	// master or another source sends them.
	{"bitfield", cmdOther, rdb.TypeString}, {"bitop", cmdOther, rdb.TypeString},
	{"pfadd", cmdOther, rdb.TypeString}, {"pfmerge", cmdOther, rdb.TypeString},
	{"pfcount", cmdOther, rdb.TypeString}, {"incrbyfloat", cmdOther, rdb.TypeString},
	{"getex", cmdOther, rdb.TypeString}, {"getdel", cmdOther, rdb.TypeString},
	{"blpop", cmdOther, rdb.TypeList}, {"brpop", cmdOther, rdb.TypeList},
	{"lmpop", cmdOther, rdb.TypeList}, {"blmpop", cmdOther, rdb.TypeList},
	{"sunionstore", cmdOther, rdb.TypeSet}, {"sinterstore", cmdOther, rdb.TypeSet},
	{"sdiffstore", cmdOther, rdb.TypeSet}, {"spop", cmdOther, rdb.TypeSet},
	{"zunionstore", cmdOther, rdb.TypeZSet}, {"zinterstore", cmdOther, rdb.TypeZSet},
	{"zdiffstore", cmdOther, rdb.TypeZSet}, {"zrangestore", cmdOther, rdb.TypeZSet},
	{"zmpop", cmdOther, rdb.TypeZSet}, {"bzmpop", cmdOther, rdb.TypeZSet},
	{"bzpopmin", cmdOther, rdb.TypeZSet}, {"bzpopmax", cmdOther, rdb.TypeZSet},
	{"geoadd", cmdOther, rdb.TypeZSet}, {"georadius", cmdOther, rdb.TypeZSet},
	{"georadiusbymember", cmdOther, rdb.TypeZSet}, {"geosearchstore", cmdOther, rdb.TypeZSet},
	{"hincrbyfloat", cmdOther, rdb.TypeHash}, {"hexpire", cmdOther, rdb.TypeHash},
	{"hpexpire", cmdOther, rdb.TypeHash}, {"hexpireat", cmdOther, rdb.TypeHash},
	{"hpexpireat", cmdOther, rdb.TypeHash}, {"hpersist", cmdOther, rdb.TypeHash},
	{"hgetdel", cmdOther, rdb.TypeHash}, {"hgetex", cmdOther, rdb.TypeHash},
	{"hsetex", cmdOther, rdb.TypeHash},
	{"xsetid", cmdOther, rdb.TypeStream}, {"xreadgroup", cmdOther, rdb.TypeStream},
}

// cmdSlot is an entry of the lookup table.
type cmdSlot struct {
	name string
	id   cmdID
	typ  rdb.Type
}

// cmdTable is an open-addressing hash table of cmdNames, keyed by
// cmdHash of the lower-case name; its size keeps probes short.
var cmdTable [1024]cmdSlot

const maxCmdName = 24

func init() {
	for _, c := range cmdNames {
		h := cmdHash([]byte(c.name)) & (len(cmdTable) - 1)
		for cmdTable[h].id != cmdUnknown {
			h = (h + 1) & (len(cmdTable) - 1)
		}
		cmdTable[h] = cmdSlot{c.name, c.id, c.typ}
	}
}

// cmdHash hashes a non-empty name ignoring ASCII case, from its length and
// three of its bytes: cheap, and distinct enough for the table (a probe
// compares the whole name anyway).
func cmdHash(name []byte) int {
	n := len(name)
	h := uint32(n)*0x9e3779b1 ^ uint32(name[0]|0x20)*0x85ebca6b ^
		uint32(name[n-1]|0x20)*0xc2b2ae35 ^ uint32(name[n/2]|0x20)*0x27d4eb2f
	return int(h ^ h>>16)
}

// lookupCommand returns the id of a command name in any case, and the
// type it implies; cmdUnknown for a name the table does not know.
func lookupCommand(name []byte) (cmdID, rdb.Type) {
	if len(name) == 0 || len(name) > maxCmdName {
		return cmdUnknown, 0
	}
	h := cmdHash(name) & (len(cmdTable) - 1)
	for {
		s := &cmdTable[h]
		if s.id == cmdUnknown {
			return cmdUnknown, 0
		}
		if eqFold(name, s.name) {
			return s.id, s.typ
		}
		h = (h + 1) & (len(cmdTable) - 1)
	}
}
