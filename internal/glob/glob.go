// Package glob matches keys against Redis glob-style patterns, with the
// semantics of KEYS, SCAN MATCH and PSUBSCRIBE: '*', '?', '[abc]', '[^a-z]'
// and '\' escapes, byte-wise.
package glob

// Match reports whether s matches pattern.
func Match(pattern, s []byte) bool {
	return match(pattern, s, false, 0)
}

// MatchFold is Match ignoring ASCII case.
func MatchFold(pattern, s []byte) bool {
	return match(pattern, s, true, 0)
}

func lower(b byte, fold bool) byte {
	if fold && b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// match is a backtracking matcher; nesting guards against pathological
// patterns such as "*a*a*a*a*...b" (Redis caps it the same way).
func match(p, s []byte, fold bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if match(p[1:], s[i:], fold, nesting+1) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			s = s[1:]
			p = p[1:]
		case '[':
			if len(s) == 0 {
				return false
			}
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			ok := false
			c := lower(s[0], fold)
			for len(p) > 0 && p[0] != ']' {
				switch {
				case p[0] == '\\' && len(p) >= 2:
					if lower(p[1], fold) == c {
						ok = true
					}
					p = p[2:]
				case len(p) >= 3 && p[1] == '-' && p[2] != ']':
					lo, hi := lower(p[0], fold), lower(p[2], fold)
					if lo > hi {
						lo, hi = hi, lo
					}
					if c >= lo && c <= hi {
						ok = true
					}
					p = p[3:]
				default:
					if lower(p[0], fold) == c {
						ok = true
					}
					p = p[1:]
				}
			}
			if len(p) > 0 {
				p = p[1:] // the closing ']'
			}
			if ok == not {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || lower(p[0], fold) != lower(s[0], fold) {
				return false
			}
			s = s[1:]
			p = p[1:]
		}
	}
	return len(s) == 0
}
