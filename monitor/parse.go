package monitor

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// parseInt parses a decimal int64 the way Redis's string2ll does: an
// optional '-', digits without leading zeros, nothing else.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// parseDB parses a database index (0 .. MaxInt32).
func parseDB(b []byte) (int, bool) {
	v, ok := parseInt(b)
	if !ok || v < 0 || v > math.MaxInt32 {
		return 0, false
	}
	return int(v), true
}

var errScore = errors.New("monitor: not a valid float score")

// ParseScore parses a sorted-set score as Redis does: a decimal or
// hexadecimal floating-point number, or "inf", "+inf", "-inf" (any case).
// NaN is refused. It does not allocate.
func ParseScore(b []byte) (float64, error) {
	if f, ok := parseSimpleFloat(b); ok {
		return f, nil
	}
	// strtod takes no spaces around and no digit separators.
	if len(b) == 0 || len(b) > 128 || bytes.IndexByte(b, '_') >= 0 || b[0] == ' ' || b[len(b)-1] == ' ' {
		return 0, errScore
	}
	// The string does not outlive the call: strconv copies it into its
	// errors.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil || math.IsNaN(f) { // overflow is an error for Redis too
		return 0, errScore
	}
	return f, nil
}

// lowerTok copies a short ASCII token into buf in lower case; nil when it
// does not fit.
func lowerTok(buf *[24]byte, b []byte) []byte {
	if len(b) > len(buf) {
		return nil
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(b)]
}

// eqFold reports whether b is lower, ignoring ASCII case (lower must be in
// lower case).
func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseSimpleFloat parses the common short forms exactly: an optional '-',
// up to 15 digits with an optional '.' among them (every such value is
// exact in a float64 mantissa, and one division by a power of ten rounds
// correctly). ok is false for anything else, which ParseScore then hands
// to strconv.
func parseSimpleFloat(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 || dot && frac == 0 {
		return 0, false
	}
	f := float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}
