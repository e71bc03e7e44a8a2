package rdb

import "errors"

var (
	errLZFLiteral = errors.New("lzf literal run past the end of input or output")
	errLZFBackref = errors.New("lzf back reference out of range")
	errLZFShort   = errors.New("lzf input ended before the declared length")
	errLZFLong    = errors.New("lzf output longer than the declared length")
)

// lzfDecompress expands the LZF stream in into out, which must have exactly
// the declared uncompressed length. It fails unless in decodes to exactly
// len(out) bytes.
func lzfDecompress(in, out []byte) error {
	ip, op := 0, 0
	for ip < len(in) {
		ctrl := int(in[ip])
		ip++
		if ctrl < 32 { // literal run of ctrl+1 bytes
			n := ctrl + 1
			if ip+n > len(in) || op+n > len(out) {
				if op+n > len(out) {
					return errLZFLong
				}
				return errLZFLiteral
			}
			copy(out[op:op+n], in[ip:ip+n])
			ip += n
			op += n
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if ip >= len(in) {
				return errLZFBackref
			}
			n += int(in[ip])
			ip++
		}
		if ip >= len(in) {
			return errLZFBackref
		}
		ref := op - (ctrl&0x1f)<<8 - int(in[ip]) - 1
		ip++
		n += 2
		if ref < 0 {
			return errLZFBackref
		}
		if op+n > len(out) {
			return errLZFLong
		}
		if ref+n <= op { // no overlap
			copy(out[op:op+n], out[ref:ref+n])
			op += n
			continue
		}
		for ; n > 0; n-- {
			out[op] = out[ref]
			op++
			ref++
		}
	}
	if op != len(out) {
		return errLZFShort
	}
	return nil
}
