package rdb

import (
	"fmt"
	"strconv"
)

// Type is the logical Redis data type of a key.
type Type uint8

// The logical types. TypeModule covers values owned by a module (RedisJSON,
// RedisBloom ...), handed out opaque.
const (
	TypeString Type = iota + 1
	TypeList
	TypeSet
	TypeZSet
	TypeHash
	TypeStream
	TypeModule
)

var typeNames = [...]string{"", "string", "list", "set", "zset", "hash", "stream", "module"}

// String returns the name Redis's TYPE command uses ("string", "zset" ...).
func (t Type) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType parses a name as returned by [Type.String].
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("rdb: unknown type %q", s)
}

// Encoding is the RDB value-type byte, which fixes how a value is laid out.
type Encoding uint8

// The RDB value types (rdb.h). EncHashMetadataPreGA (22) is Redis 7.4's
// pre-GA hash with field TTLs in a "REDIS" file and Valkey 9's hash with
// field TTLs (hash2) in a "VALKEY" file; [Entry.Encoding] reports
// EncValkeyHash2 for the latter.
const (
	EncString              Encoding = 0
	EncList                Encoding = 1
	EncSet                 Encoding = 2
	EncZSet                Encoding = 3
	EncHash                Encoding = 4
	EncZSet2               Encoding = 5
	EncModulePreGA         Encoding = 6
	EncModule2             Encoding = 7
	EncHashZipmap          Encoding = 9
	EncListZiplist         Encoding = 10
	EncSetIntset           Encoding = 11
	EncZSetZiplist         Encoding = 12
	EncHashZiplist         Encoding = 13
	EncListQuicklist       Encoding = 14
	EncStreamListpacks     Encoding = 15
	EncHashListpack        Encoding = 16
	EncZSetListpack        Encoding = 17
	EncListQuicklist2      Encoding = 18
	EncStreamListpacks2    Encoding = 19
	EncSetListpack         Encoding = 20
	EncStreamListpacks3    Encoding = 21
	EncHashMetadataPreGA   Encoding = 22
	EncHashListpackExPreGA Encoding = 23
	EncHashMetadata        Encoding = 24
	EncHashListpackEx      Encoding = 25

	// EncValkeyHash2 is not a byte in the file: it is how Entry.Encoding
	// reports type byte 22 in a Valkey ("VALKEY") file.
	EncValkeyHash2 Encoding = 0x80 | 22
)

var encNames = map[Encoding]string{
	EncString: "string", EncList: "linkedlist", EncSet: "hashtable-set", EncZSet: "skiplist-v1",
	EncHash: "hashtable", EncZSet2: "skiplist", EncModulePreGA: "module-pre-ga", EncModule2: "module",
	EncHashZipmap: "zipmap", EncListZiplist: "ziplist-list", EncSetIntset: "intset",
	EncZSetZiplist: "ziplist-zset", EncHashZiplist: "ziplist-hash", EncListQuicklist: "quicklist",
	EncStreamListpacks: "stream", EncHashListpack: "listpack-hash", EncZSetListpack: "listpack-zset",
	EncListQuicklist2: "quicklist2", EncStreamListpacks2: "stream2", EncSetListpack: "listpack-set",
	EncStreamListpacks3: "stream3", EncHashMetadataPreGA: "hash-metadata-pre-ga",
	EncHashListpackExPreGA: "listpack-ex-pre-ga", EncHashMetadata: "hash-metadata",
	EncHashListpackEx: "listpack-ex", EncValkeyHash2: "valkey-hash2",
}

// String names the encoding.
func (e Encoding) String() string {
	if n, ok := encNames[e]; ok {
		return n
	}
	return "encoding(" + strconv.Itoa(int(e)) + ")"
}

// Record is one item of a snapshot: [*Header], [*Aux], [*SelectDB],
// [*ResizeDB], [*SlotInfo], [*SlotImport], [*Function], [*ModuleAux],
// [*Entry] or [*End]. The set is closed. Records and every slice inside them
// are reused by the decoder: they are valid until the next call to Next.
type Record interface {
	// Offset is the byte offset where the record starts.
	Offset() int64
	record()
}

// Header is the first record: the file's magic and version.
type Header struct {
	off     int64
	Magic   string // "REDIS" or "VALKEY"
	Version int
}

// Aux is an auxiliary field (redis-ver, ctime, repl-id, lua scripts ...).
type Aux struct {
	off        int64
	Key, Value []byte
}

// SelectDB switches the database of the entries that follow.
type SelectDB struct {
	off int64
	DB  int
}

// ResizeDB is the size hint for the current database.
type ResizeDB struct {
	off           int64
	Keys, Expires uint64
}

// SlotInfo is the per-slot size hint of cluster-mode snapshots (opcode 244).
type SlotInfo struct {
	off                 int64
	Slot, Keys, Expires uint64
}

// SlotImport is Valkey's slot-import state (opcode 243 in a VALKEY file).
type SlotImport struct {
	off    int64
	Job    []byte
	Ranges [][2]uint64 // inclusive slot ranges
}

// Function is a function library (opcode 245, or 246 for 7.0 release
// candidates, PreGA set).
type Function struct {
	off   int64
	Code  []byte
	PreGA bool
}

// ModuleAux is a module's auxiliary data (opcode 247), handed out opaque.
type ModuleAux struct {
	off    int64
	Module Module
}

// Module describes a module value: the module type's 9-character name and
// encoding version, decoded from its 64-bit id, and the raw bytes of the
// value after the id (the module opcodes up to and including the EOF
// opcode).
type Module struct {
	ID      uint64
	Name    string
	Version uint64
	When    uint64 // ModuleAux only: REDISMODULE_AUX_BEFORE_RDB or AFTER_RDB
	Raw     []byte
}

// End is the last record: the EOF opcode and the checksum.
type End struct {
	off      int64
	Checksum uint64 // as stored; 0 when absent or not computed
	Verified bool   // a non-zero checksum was present and matched
	Size     int64  // the snapshot's total length in bytes
}

// Entry is one key, or one chunk of a key's elements when the key is large
// (see [WithChunkSize]). Exactly one of the value fields is set, according
// to Type.
type Entry struct {
	off      int64 // where the key's record starts (its first opcode)
	DB       int
	Key      []byte
	Type     Type
	Encoding Encoding
	Expire   int64 // absolute expiry in Unix milliseconds, or -1 for none
	Idle     int64 // LRU idle time in seconds, or -1 when not stored
	Freq     int   // LFU frequency, or -1 when not stored

	// Chunk numbers the pieces of one key, from 0; Last is set on the final
	// piece. A key that fits in one chunk has Chunk 0 and Last set.
	Chunk int
	Last  bool
	// Len is the element count the file declares for the whole value
	// (pairs for hashes, members for zsets, entries for streams), or -1
	// when the encoding does not say it up front.
	Len int64

	Str     []byte   // TypeString
	Elems   [][]byte // TypeList (in order) and TypeSet (in file order)
	Fields  []Field  // TypeHash, in file order
	Members []Member // TypeZSet, in file order
	Stream  *Stream  // TypeStream: entries of this chunk; Meta on the Last chunk
	Module  *Module  // TypeModule
}

// Field is one hash field. Expire is the field's absolute expiry in Unix
// milliseconds (Redis 7.4 / Valkey 9 field TTLs), or 0 for none.
type Field struct {
	Name, Value []byte
	Expire      int64
}

// Member is one sorted-set member.
type Member struct {
	Name  []byte
	Score float64
}

// StreamID is a stream entry id.
type StreamID struct{ Ms, Seq uint64 }

// Compare returns -1, 0 or +1 as id sorts before, equal to or after other,
// in Redis's order (milliseconds, then sequence).
func (id StreamID) Compare(other StreamID) int {
	switch {
	case id.Ms < other.Ms || id.Ms == other.Ms && id.Seq < other.Seq:
		return -1
	case id == other:
		return 0
	}
	return 1
}

// String formats the id as Redis does ("1526919030474-55").
func (id StreamID) String() string {
	return strconv.FormatUint(id.Ms, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}

// Stream carries stream entries and, on the key's Last chunk, its metadata.
type Stream struct {
	Entries []StreamEntry
	Meta    *StreamMeta
}

// StreamEntry is one live stream entry; Fields alternates field and value.
type StreamEntry struct {
	ID     StreamID
	Fields [][]byte
}

// StreamMeta is a stream's metadata and consumer groups.
type StreamMeta struct {
	Length       uint64
	LastID       StreamID
	FirstID      StreamID // RDB type 19 and later
	MaxDeletedID StreamID // RDB type 19 and later
	EntriesAdded uint64   // RDB type 19 and later
	Groups       []StreamGroup
}

// StreamGroup is a consumer group with its pending-entries list.
type StreamGroup struct {
	Name        []byte
	LastID      StreamID
	EntriesRead int64 // -1 when not stored (before type 19) or unknown
	PEL         []StreamPending
	Consumers   []StreamConsumer
}

// StreamPending is one entry of a group's pending-entries list.
type StreamPending struct {
	ID            StreamID
	DeliveryTime  int64 // Unix ms
	DeliveryCount uint64
}

// StreamConsumer is a consumer of a group; PEL lists the ids it owns.
type StreamConsumer struct {
	Name       []byte
	SeenTime   int64 // Unix ms
	ActiveTime int64 // Unix ms, -1 before type 21
	PEL        []StreamID
}

// Offset returns the byte offset where the record starts (for an [*Entry],
// every chunk of a key carries the offset of the key's first opcode).
func (r *Header) Offset() int64     { return r.off }
func (r *Aux) Offset() int64        { return r.off }
func (r *SelectDB) Offset() int64   { return r.off }
func (r *ResizeDB) Offset() int64   { return r.off }
func (r *SlotInfo) Offset() int64   { return r.off }
func (r *SlotImport) Offset() int64 { return r.off }
func (r *Function) Offset() int64   { return r.off }
func (r *ModuleAux) Offset() int64  { return r.off }
func (r *Entry) Offset() int64      { return r.off }
func (r *End) Offset() int64        { return r.off }

func (*Header) record()     {}
func (*Aux) record()        {}
func (*SelectDB) record()   {}
func (*ResizeDB) record()   {}
func (*SlotInfo) record()   {}
func (*SlotImport) record() {}
func (*Function) record()   {}
func (*ModuleAux) record()  {}
func (*Entry) record()      {}
func (*End) record()        {}
