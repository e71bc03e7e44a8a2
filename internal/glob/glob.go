// Package glob matches keys against Redis glob-style patterns, with the
// semantics of KEYS, SCAN MATCH and PSUBSCRIBE (Redis's stringmatchlen):
// '*', '?', '[abc]', '[^a-z]' and '\' escapes, byte-wise, quirks included
// (in "[a-]" the range runs from 'a' to ']'; an unclosed '[' takes the rest
// of the pattern as its set). A pattern made only of '*' matches every key,
// the empty one too, as KEYS * does.
package glob

// Match reports whether s matches pattern.
func Match(pattern, s []byte) bool {
	if allStars(pattern) {
		return true
	}
	var giveUp bool
	return match(pattern, s, false, &giveUp)
}

// MatchFold is Match ignoring ASCII case (outside '\' escapes inside a
// bracket, which Redis compares exactly).
func MatchFold(pattern, s []byte) bool {
	if allStars(pattern) {
		return true
	}
	var giveUp bool
	return match(pattern, s, true, &giveUp)
}

func allStars(p []byte) bool {
	for _, c := range p {
		if c != '*' {
			return false
		}
	}
	return len(p) > 0
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func eq(a, b byte, fold bool) bool {
	if fold {
		return lower(a) == lower(b)
	}
	return a == b
}

// match follows stringmatchlen. giveUp is set once the rest of the pattern
// after some '*' matched nowhere in the rest of the string: then no longer
// match of an earlier '*' can succeed either, which keeps patterns like
// "*a*a*a*...b" polynomial instead of exponential.
func match(p, s []byte, fold bool, giveUp *bool) bool {
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for ; len(s) > 0; s = s[1:] {
				if match(p[1:], s, fold, giveUp) {
					return true
				}
				if *giveUp {
					return false
				}
			}
			*giveUp = true
			return false
		case '?':
			s = s[1:]
		case '[':
			var ok bool
			p, ok = class(p[1:], s[0], fold)
			if !ok {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if !eq(p[0], s[0], fold) {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// class matches c against the set that starts at p (just after '['). It
// returns the pattern positioned on the set's closing ']' (or on its last
// byte when the set is not closed) and whether c is in the set.
func class(p []byte, c byte, fold bool) ([]byte, bool) {
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	in := false
	for {
		switch {
		case len(p) >= 2 && p[0] == '\\':
			p = p[1:]
			if p[0] == c {
				in = true
			}
		case len(p) > 0 && p[0] == ']':
			return p, in != not
		case len(p) == 0:
			// Unclosed: the caller steps past the last byte consumed.
			return []byte{0}, in != not
		case len(p) >= 3 && p[1] == '-':
			lo, hi, x := p[0], p[2], c
			if lo > hi {
				lo, hi = hi, lo
			}
			if fold {
				lo, hi, x = lower(lo), lower(hi), lower(x)
			}
			if x >= lo && x <= hi {
				in = true
			}
			p = p[2:]
		default:
			if eq(p[0], c, fold) {
				in = true
			}
		}
		p = p[1:]
	}
}
