package fakemaster

import (
	"encoding/binary"
	"fmt"
)

// RDB builds small RDB snapshots for tests: strings and lists in any
// database, aux fields, expiries, with a correct CRC-64 trailer.
//
//	snap := fakemaster.NewRDB(10).Aux("redis-ver", "7.0.15").
//		Select(0).Set("k", "v").Select(3).List("l", "a", "b").Bytes()
type RDB struct{ b []byte }

// NewRDB starts a snapshot of the given RDB version ("REDIS%04d").
func NewRDB(version int) *RDB {
	return &RDB{b: fmt.Appendf(nil, "REDIS%04d", version)}
}

// EmptyRDB returns a version 10 snapshot (Redis 7.0) with no keys.
func EmptyRDB() []byte {
	return NewRDB(10).Aux("redis-ver", "7.0.15").Bytes()
}

// Aux adds an auxiliary field.
func (w *RDB) Aux(key, value string) *RDB {
	w.b = append(w.b, 0xfa)
	w.str(key)
	w.str(value)
	return w
}

// Select switches the database of the keys that follow.
func (w *RDB) Select(db int) *RDB {
	w.b = append(w.b, 0xfe)
	w.length(uint64(db))
	return w
}

// Set adds a string key.
func (w *RDB) Set(key, value string) *RDB {
	w.b = append(w.b, 0)
	w.str(key)
	w.str(value)
	return w
}

// SetExpire adds a string key expiring at unixMs (Unix milliseconds).
func (w *RDB) SetExpire(key, value string, unixMs int64) *RDB {
	w.b = append(w.b, 0xfc)
	w.b = binary.LittleEndian.AppendUint64(w.b, uint64(unixMs))
	return w.Set(key, value)
}

// List adds a list key in the plain (linked list) encoding.
func (w *RDB) List(key string, elems ...string) *RDB {
	w.b = append(w.b, 1)
	w.str(key)
	w.length(uint64(len(elems)))
	for _, e := range elems {
		w.str(e)
	}
	return w
}

// Raw appends bytes as they are.
func (w *RDB) Raw(b []byte) *RDB {
	w.b = append(w.b, b...)
	return w
}

// Bytes ends the snapshot (EOF opcode and, from version 5, the CRC-64) and
// returns it. The builder can be used again afterwards to build a longer
// snapshot from the same prefix.
func (w *RDB) Bytes() []byte {
	out := append(append([]byte(nil), w.b...), 0xff)
	var v int
	fmt.Sscanf(string(out[5:9]), "%d", &v) //nolint:errcheck // NewRDB wrote it
	if v >= 5 {
		out = binary.LittleEndian.AppendUint64(out, CRC64(0, out))
	}
	return out
}

func (w *RDB) str(s string) {
	w.length(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *RDB) length(n uint64) {
	switch {
	case n < 1<<6:
		w.b = append(w.b, byte(n))
	case n < 1<<14:
		w.b = append(w.b, 0x40|byte(n>>8), byte(n))
	case n < 1<<32:
		w.b = append(w.b, 0x80)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(n))
	default:
		w.b = append(w.b, 0x81)
		w.b = binary.BigEndian.AppendUint64(w.b, n)
	}
}

// crcTable is CRC-64/Jones in its reflected form (polynomial
// 0xad93d23594c935a9, reflected 0x95ac9329ac4bc9b5), Redis's RDB checksum.
var crcTable = func() (t [256]uint64) {
	for i := range t {
		c := uint64(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x95ac9329ac4bc9b5
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC64 continues the CRC-64/Jones checksum crc over b.
func CRC64(crc uint64, b []byte) uint64 {
	for _, x := range b {
		crc = crcTable[byte(crc)^x] ^ crc>>8
	}
	return crc
}
