package replica

import (
	"bufio"
	"fmt"
)

// The command stream is RESP: every command an array of bulk strings,
//
//	*<argc>\r\n  ( $<len>\r\n <len bytes>\r\n ){argc}
//
// and every byte of it counts in the replication offset. The parser below
// works on byte slices (feed) so that it can be tested and fuzzed without a
// socket; streamReader drives it over a *bufio.Reader with Peek and Discard.
//
// The parser is incremental: each call to feed consumes whatever complete
// tokens the slice holds and keeps its state, so a read that fails half-way
// through a command (a cancelled context, a deadline) loses nothing and
// parsing resumes where it stopped. Header lines are consumed only whole;
// bulk data is copied into an arena as it arrives, so a command larger than
// the read buffer needs no more memory than its own bytes.

// Parser states.
const (
	stCmd  uint8 = iota // expecting '*' (or a stray '\n')
	stArg               // expecting '$'
	stData              // inside bulk data
	stCR                // expecting the '\r' after bulk data
	stLF                // expecting the '\n' after bulk data
)

// respParser parses RESP commands incrementally.
type respParser struct {
	maxBulk int64
	maxArgs int

	st    uint8
	nargs int   // declared argument count of the current command
	rem   int64 // bulk bytes still to come
	size  int64 // wire bytes of the current command so far
	start int   // arena offset where the current command starts

	// skipped counts stray '\n' bytes between commands. Masters send bare
	// newlines as keepalives only before the stream starts (and Redis 7.0
	// may send one after a diskless payload's EOF mark); they are not part
	// of the replication stream and do not count in offsets.
	skipped int64

	arena []byte
	spans []int // start and end offsets in arena of every argument
	args  [][]byte
}

func newRespParser(maxBulk int64, maxArgs int) *respParser {
	return &respParser{maxBulk: maxBulk, maxArgs: maxArgs}
}

// reset forgets any partial command (a new connection).
func (p *respParser) reset() {
	p.st, p.nargs, p.rem, p.size = stCmd, 0, 0, 0
	p.spans = p.spans[:0]
	p.release()
}

// release lets the arena be overwritten: every slice handed out before is
// invalid afterwards. It does nothing half-way through a command.
func (p *respParser) release() {
	if p.st != stCmd {
		return
	}
	if cap(p.arena) > 64<<20 {
		p.arena = nil // do not keep the memory of one huge value forever
	} else {
		p.arena = p.arena[:0]
	}
	p.start = 0
}

// arenaLen is the number of arena bytes in use (commands kept since the
// last release).
func (p *respParser) arenaLen() int { return len(p.arena) }

// feed consumes bytes of b. It returns how many it consumed and whether a
// command is complete; then args() returns it and p.size is its length on
// the wire. A protocol error is final for the connection.
func (p *respParser) feed(b []byte) (n int, done bool, err error) {
	for n < len(b) {
		switch p.st {
		case stCmd:
			if b[n] == '\n' {
				n++
				p.skipped++
				continue
			}
			v, l, err := parseHeader(b[n:], '*')
			if err != nil || l == 0 {
				return n, false, err
			}
			if v < 1 {
				return n, false, protoErr("empty command array")
			}
			if v > int64(p.maxArgs) {
				return n, false, fmt.Errorf("%w: command with %d arguments (limit %d)", ErrTooLarge, v, p.maxArgs)
			}
			n += l
			p.nargs, p.size, p.st = int(v), int64(l), stArg
			p.spans = p.spans[:0]
			p.start = len(p.arena)
		case stArg:
			v, l, err := parseHeader(b[n:], '$')
			if err != nil || l == 0 {
				return n, false, err
			}
			if v > p.maxBulk {
				return n, false, fmt.Errorf("%w: bulk string of %d bytes (limit %d)", ErrTooLarge, v, p.maxBulk)
			}
			n += l
			p.size += int64(l)
			p.rem = v
			p.spans = append(p.spans, len(p.arena))
			p.st = stData
		case stData:
			k := len(b) - n
			if int64(k) > p.rem {
				k = int(p.rem)
			}
			p.arena = append(p.arena, b[n:n+k]...)
			n += k
			p.rem -= int64(k)
			p.size += int64(k)
			if p.rem == 0 {
				p.spans = append(p.spans, len(p.arena))
				p.st = stCR
			}
		case stCR:
			if b[n] != '\r' {
				return n, false, protoErr("bulk string not followed by CRLF (got %q)", b[n])
			}
			n++
			p.size++
			p.st = stLF
		case stLF:
			if b[n] != '\n' {
				return n, false, protoErr("bulk string not followed by CRLF (got %q)", b[n])
			}
			n++
			p.size++
			if len(p.spans) == 2*p.nargs {
				p.st = stCmd
				p.buildArgs()
				return n, true, nil
			}
			p.st = stArg
		}
	}
	return n, false, nil
}

func (p *respParser) buildArgs() {
	p.args = p.args[:0]
	for i := 0; i < len(p.spans); i += 2 {
		s, e := p.spans[i], p.spans[i+1]
		p.args = append(p.args, p.arena[s:e:e])
	}
}

// cmdArgs returns the last complete command. The slices are valid until
// the next release.
func (p *respParser) cmdArgs() [][]byte { return p.args }

// parseHeader parses "<prefix><digits>\r\n" at the start of b. It returns
// the value and the line's length, or l == 0 and no error when b holds only
// a prefix of a valid line. Lengths are canonical: no sign, no leading
// zeros, at most 18 digits.
func parseHeader(b []byte, prefix byte) (v int64, l int, err error) {
	if b[0] != prefix {
		return 0, 0, protoErr("expected %q, got %q", prefix, b[0])
	}
	i := 1
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			break
		}
		if i > 18 || (i == 2 && b[1] == '0') {
			return 0, 0, protoErr("bad length in %q header", prefix)
		}
		v = v*10 + int64(c-'0')
	}
	if i == len(b) {
		return 0, 0, nil // need more
	}
	if i == 1 || b[i] != '\r' {
		return 0, 0, protoErr("bad %q header: unexpected %q", prefix, b[i])
	}
	if i+1 == len(b) {
		return 0, 0, nil
	}
	if b[i+1] != '\n' {
		return 0, 0, protoErr("bad %q header: CR not followed by LF", prefix)
	}
	return v, i + 2, nil
}

// streamReader reads commands from a *bufio.Reader, whose buffer must hold
// at least 32 bytes (a header line is at most 21).
type streamReader struct {
	br *bufio.Reader
	p  *respParser
}

// next returns the next command's arguments (valid until p.release) and its
// length on the wire. Errors from the reader are returned as they are and
// leave the parser ready to continue; protocol errors (matching ErrProtocol
// or ErrTooLarge) are final.
func (s *streamReader) next() ([][]byte, int64, error) {
	for {
		buf, _ := s.br.Peek(s.br.Buffered())
		n, done, err := s.p.feed(buf)
		s.br.Discard(n) //nolint:errcheck // n <= Buffered
		if err != nil {
			return nil, 0, err
		}
		if done {
			return s.p.cmdArgs(), s.p.size, nil
		}
		// Everything buffered is consumed but for a partial header line:
		// read more. Peek blocks until at least one more byte is there.
		if _, err := s.br.Peek(s.br.Buffered() + 1); err != nil {
			if err == bufio.ErrBufferFull {
				err = protoErr("header line longer than the read buffer")
			}
			return nil, 0, err
		}
	}
}
