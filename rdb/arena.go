package rdb

import "strconv"

// arena hands out byte slices that stay valid until reset. Blocks are kept
// for reuse; oversized ones are dropped on reset.
type arena struct {
	blocks [][]byte
	cur    int
	pos    int
}

const arenaBlock = 64 << 10

func (a *arena) reset() {
	a.cur, a.pos = 0, 0
	for i, b := range a.blocks {
		if len(b) > arenaBlock {
			a.blocks = a.blocks[:i]
			break
		}
	}
}

func (a *arena) alloc(n int) []byte {
	for a.cur < len(a.blocks) {
		b := a.blocks[a.cur]
		if a.pos+n <= len(b) {
			s := b[a.pos : a.pos+n : a.pos+n]
			a.pos += n
			return s
		}
		if a.cur+1 == len(a.blocks) {
			break
		}
		a.cur++
		a.pos = 0
	}
	size := max(arenaBlock, n)
	a.blocks = append(a.blocks, make([]byte, size))
	a.cur = len(a.blocks) - 1
	a.pos = n
	return a.blocks[a.cur][:n:n]
}

func (a *arena) copy(p []byte) []byte {
	s := a.alloc(len(p))
	copy(s, p)
	return s
}

func (a *arena) appendInt(v int64) []byte {
	var tmp [20]byte
	return a.copy(strconv.AppendInt(tmp[:0], v, 10))
}
