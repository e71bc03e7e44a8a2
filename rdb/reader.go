package rdb

import (
	"bufio"
	"encoding/binary"
	"io"
	"slices"
)

// reader is the decoder's byte source. It counts and checksums every byte it
// consumes and never consumes more than it is asked for.
type reader struct {
	br      *bufio.Reader // fast path: Peek/Discard on the caller's buffer
	raw     io.Reader     // otherwise exact-size reads
	off     int64
	crc     uint64
	one     [8]byte
	scratch []byte
	capture []byte // when capturing, every consumed byte is appended here
	capt    bool
}

func eofErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *reader) consumed(b []byte) {
	r.crc = crc64Update(r.crc, b)
	r.off += int64(len(b))
	if r.capt {
		r.capture = append(r.capture, b...)
	}
}

func (r *reader) readByte() (byte, error) {
	if r.br != nil {
		b, err := r.br.ReadByte()
		if err != nil {
			return 0, eofErr(err)
		}
		r.crc = crcTab[0][byte(r.crc)^b] ^ r.crc>>8
		r.off++
		if r.capt {
			r.capture = append(r.capture, b)
		}
		return b, nil
	}
	if _, err := io.ReadFull(r.raw, r.one[:1]); err != nil {
		return 0, eofErr(err)
	}
	r.consumed(r.one[:1])
	return r.one[0], nil
}

// next returns the next n bytes; the slice is valid until the next read.
func (r *reader) next(n int) ([]byte, error) {
	if r.br != nil && n <= r.br.Size() {
		b, err := r.br.Peek(n)
		if err != nil {
			return nil, eofErr(err)
		}
		r.br.Discard(n) //nolint:errcheck // cannot fail after a successful Peek
		r.consumed(b)
		return b, nil
	}
	if n <= len(r.one) {
		if m, err := io.ReadFull(r.raw, r.one[:n]); err != nil {
			r.off += int64(m) // taken from the reader, so counted
			return nil, eofErr(err)
		}
		r.consumed(r.one[:n])
		return r.one[:n], nil
	}
	var err error
	r.scratch, err = r.appendN(r.scratch[:0], n)
	return r.scratch, err
}

// appendN appends the next n bytes to dst. dst grows in steps of at most
// 1 MiB as the bytes arrive, so a lying length prefix costs no more memory
// than the input that backs it.
func (r *reader) appendN(dst []byte, n int) ([]byte, error) {
	for n > 0 {
		step := min(n, 1<<20)
		dst = slices.Grow(dst, step)
		start := len(dst)
		dst = dst[:start+step]
		var err error
		var m int
		if r.br != nil {
			m, err = io.ReadFull(r.br, dst[start:])
		} else {
			m, err = io.ReadFull(r.raw, dst[start:])
		}
		if err != nil {
			r.off += int64(m) // taken from the reader, so counted
			return dst[:start], eofErr(err)
		}
		r.consumed(dst[start:])
		n -= step
	}
	return dst, nil
}

// skip consumes n bytes without keeping them.
func (r *reader) skip(n int64) error {
	for n > 0 {
		step := int(min(n, 32<<10))
		if r.br != nil && step > r.br.Size() {
			step = r.br.Size()
		}
		if _, err := r.next(step); err != nil {
			return err
		}
		n -= int64(step)
	}
	return nil
}

func (r *reader) uint64LE() (uint64, error) {
	b, err := r.next(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}
