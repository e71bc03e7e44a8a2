package publish

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"

	"github.com/redtap/redtap/rdb"
)

// ID identifies one message: the replication id and offset of the batch the
// event came from, and the event's index in it. It is the message id the
// brokers deduplicate on (JetStream's Nats-Msg-Id), so that a tail published
// again after a restart is dropped.
//
// For the events of a command or transaction, Offset is the batch's (after
// EXEC for a transaction) and Index the event's position in the batch, from
// 0. A full resynchronisation's reset marker has the snapshot's offset and
// Index 0; its snapshot keys the same offset and an Index derived from the
// key's database, name and chunk number (so that the id does not depend on
// the order in which a snapshot lists the keys); the end of the snapshot
// Index [IndexSnapshotDone]. The hash has 64 bits: two keys of one snapshot
// whose hashes collide (for n keys, a probability of about n²/2⁶⁵, 3·10⁻⁶
// for ten million keys) would share an id, and a broker deduplicating on it
// would keep only the first.
type ID struct {
	ReplID string
	Offset int64
	Index  uint64
}

// IndexSnapshotDone is the Index of the message that ends a snapshot.
const IndexSnapshotDone = math.MaxUint64

// String returns "replid:offset:index", the form of the message id.
func (id ID) String() string {
	b := make([]byte, 0, len(id.ReplID)+42)
	return string(id.Append(b))
}

// Append appends id's String form to b.
func (id ID) Append(b []byte) []byte {
	b = append(b, id.ReplID...)
	b = append(b, ':')
	b = strconv.AppendInt(b, id.Offset, 10)
	b = append(b, ':')
	return strconv.AppendUint(b, id.Index, 10)
}

// ErrBadID reports a message id that ParseID cannot read.
var ErrBadID = errors.New("publish: malformed message id")

// ParseID parses the String form of an ID.
func ParseID(s string) (ID, error) {
	j := strings.LastIndexByte(s, ':')
	if j < 0 {
		return ID{}, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	i := strings.LastIndexByte(s[:j], ':')
	if i < 0 {
		return ID{}, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	off, err := strconv.ParseInt(s[i+1:j], 10, 64)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %q: offset: %v", ErrBadID, s, err)
	}
	idx, err := strconv.ParseUint(s[j+1:], 10, 64)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %q: index: %v", ErrBadID, s, err)
	}
	return ID{ReplID: s[:i], Offset: off, Index: idx}, nil
}

// snapshotIndex is the Index of a snapshot key's chunk: a 64-bit FNV-1a
// hash of its database, name and chunk number, kept away from 0 (the reset
// marker) and IndexSnapshotDone.
func snapshotIndex(e *rdb.Entry) uint64 {
	h := fnv.New64a()
	var b [24]byte
	n := copy(b[:], strconv.AppendInt(b[:0], int64(e.DB), 10))
	b[n] = ':'
	h.Write(b[:n+1])
	h.Write(e.Key)
	h.Write(strconv.AppendInt(append(b[:0], ':'), int64(e.Chunk), 10))
	x := h.Sum64()
	switch x {
	case 0:
		x = 1
	case IndexSnapshotDone:
		x--
	}
	return x
}
