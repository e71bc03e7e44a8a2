// Package rdb is a streaming decoder for Redis and Valkey RDB snapshots.
//
// It reads every format Redis has written since 1.0 (RDB versions 1 to 13,
// "REDIS00NN") and Valkey 9's "VALKEY080", all value types (0-25, module
// values included) and every opcode, and hands out the snapshot as a
// sequence of typed records through one pull call:
//
//	d, err := rdb.NewDecoder(bufio.NewReader(f))
//	for {
//		rec, err := d.Next(ctx)
//		if err == io.EOF {
//			break // the checksum, when present, was verified
//		}
//		...
//		switch r := rec.(type) {
//		case *rdb.Entry:
//			// r.Key, r.Type, r.Str, r.Elems, r.Fields, r.Members, r.Stream ...
//		}
//	}
//
// # The file
//
//	+-----------+--------------------------------------------+-----+----------+
//	| REDIS0011 | AUX* (SELECTDB RESIZEDB? (EXPIRE? IDLE|FREQ? | EOF | CRC64    |
//	| 9 bytes   |      TYPE KEY VALUE)*)*  FUNCTION* MODULE_AUX*| 0xFF| 8 bytes  |
//	+-----------+--------------------------------------------+-----+----------+
//
// Version 5 and later end with a little-endian CRC-64 (Jones polynomial) over
// every byte before it; a stored checksum of zero means "not computed". The
// decoder verifies the checksum whenever one is present and reports a
// mismatch as [ErrChecksum].
//
// # Streaming and memory
//
// Records are decoded one at a time. A large collection is handed out in
// chunks of at most [WithChunkSize] elements: each chunk is an [*Entry] with
// the same key, Chunk counting up from zero and Last set on the final one, so
// no key ever has to fit in memory whole. Every slice in a record (keys,
// values, elements) aliases buffers that the decoder reuses: it is valid only
// until the next call to Next. Copy what you keep.
//
// Keys rejected by a filter ([WithFilter], [WithDBs], [WithMatch],
// [WithTypes]) are skipped without decompressing or allocating their values;
// the bytes still pass through the checksum.
//
// # Exact stop
//
// The decoder never consumes a byte past the snapshot's last byte. Handed a
// [*bufio.Reader], it reads through Peek and Discard, so whatever follows the
// snapshot (the replication command stream, an EOF mark, an AOF tail) is
// still in that reader afterwards. Handed any other [io.Reader], it issues
// reads of exactly the sizes it needs, which is correct but slower: wrap files
// and sockets in a bufio.Reader that you keep.
//
// # Errors
//
// Malformed input yields an [*Error] carrying the byte offset, the operation
// and a cause that matches [ErrCorrupt], [ErrChecksum], [ErrUnsupportedVersion],
// [ErrUnsupportedType], [ErrTooLarge] or [io.ErrUnexpectedEOF] with
// [errors.Is]. The decoder never panics on bad input and checks every length
// against the bytes actually present before allocating.
package rdb
