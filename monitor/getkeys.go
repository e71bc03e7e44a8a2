package monitor

import "bytes"

// appendKeys runs the procedure. Like the server's, the procedures of
// commands whose key specifications are complete (numkeys, GEORADIUS,
// XREAD) report no flags.
func (p keysProc) appendKeys(dst []KeyRef, args [][]byte) ([]KeyRef, fault) {
	switch p {
	case procSet:
		return getkeysSet(dst, args)
	case procBitfield:
		return getkeysBitfield(dst, args)
	case procSort:
		return getkeysSort(dst, args)
	case procSortRO:
		if len(args) < 2 {
			return dst, fault{msg: "no key"}
		}
		return append(dst, KeyRef{Index: 1, Flags: KeyRO | KeyAccess}), fault{}
	case procMigrate:
		return getkeysMigrate(dst, args)
	case procGeoradius:
		return getkeysGeoradius(dst, args)
	case procXread:
		return getkeysXread(dst, args)
	case procNumkeys1:
		return getkeysNumkeys(dst, args, 0, 1, 2)
	case procNumkeys2:
		return getkeysNumkeys(dst, args, 0, 2, 3)
	case procNumkeysStore:
		return getkeysNumkeys(dst, args, 1, 2, 3)
	}
	return dst, fault{}
}

// getkeysNumkeys is the server's genericGetKeys: numkeys (read with C's
// atoi, leniently) keys from first, then the destination if any.
func getkeysNumkeys(dst []KeyRef, args [][]byte, store, count, first int) ([]KeyRef, fault) {
	if count >= len(args) || store >= len(args) {
		return dst, fault{msg: "no numkeys argument"}
	}
	num := int(atoi(args[count]))
	if num < 1 || num > len(args)-first {
		return dst, fault{msg: "numkeys out of range:", arg: count}
	}
	for i := 0; i < num; i++ {
		dst = append(dst, KeyRef{Index: first + i})
	}
	if store > 0 {
		dst = append(dst, KeyRef{Index: store})
	}
	return dst, fault{}
}

func getkeysSet(dst []KeyRef, args [][]byte) ([]KeyRef, fault) {
	if len(args) < 2 {
		return dst, fault{msg: "no key"}
	}
	for _, a := range args[min(3, len(args)):] {
		if cEqualFold(a, "GET") {
			return append(dst, KeyRef{Index: 1, Flags: KeyRW | KeyAccess | KeyUpdate}), fault{}
		}
	}
	return append(dst, KeyRef{Index: 1, Flags: KeyOW | KeyUpdate}), fault{}
}

func getkeysBitfield(dst []KeyRef, args [][]byte) ([]KeyRef, fault) {
	if len(args) < 2 {
		return dst, fault{msg: "no key"}
	}
	readonly := true
	for i := 2; i < len(args); i++ {
		rem := len(args) - i - 1
		a := args[i]
		switch {
		case cEqualFold(a, "GET") && rem >= 2:
			i += 2
			continue
		case (cEqualFold(a, "SET") || cEqualFold(a, "INCRBY")) && rem >= 3:
			readonly = false
		case cEqualFold(a, "OVERFLOW") && rem >= 1:
			i++
			continue
		default:
			readonly = false // a syntax error: assume a write, like the server
		}
		break
	}
	if readonly {
		return append(dst, KeyRef{Index: 1, Flags: KeyRO | KeyAccess}), fault{}
	}
	return append(dst, KeyRef{Index: 1, Flags: KeyRW | KeyAccess | KeyUpdate}), fault{}
}

// getkeysSort: the sort key, and the last STORE's key. LIMIT skips two
// arguments, GET and BY one; STORE does not skip its key.
func getkeysSort(dst []KeyRef, args [][]byte) ([]KeyRef, fault) {
	if len(args) < 2 {
		return dst, fault{msg: "no key"}
	}
	dst = append(dst, KeyRef{Index: 1, Flags: KeyRO | KeyAccess})
	store := 0
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case cEqualFold(a, "LIMIT"):
			i += 2
		case cEqualFold(a, "STORE") && i+1 < len(args):
			store = i + 1
		case cEqualFold(a, "GET"), cEqualFold(a, "BY"):
			i++
		}
	}
	if store > 0 {
		dst = append(dst, KeyRef{Index: store, Flags: KeyOW | KeyUpdate})
	}
	return dst, fault{}
}

// getkeysMigrate: argument 3, or with KEYS (looked for from argument 6 on,
// skipping AUTH's and AUTH2's values) the arguments after it, which
// requires an empty argument 3 (no keys otherwise).
func getkeysMigrate(dst []KeyRef, args [][]byte) ([]KeyRef, fault) {
	first, num := 3, 1
	if len(args) > 6 {
		for i := 6; i < len(args); i++ {
			a := args[i]
			if cEqualFold(a, "KEYS") {
				if len(args[3]) > 0 { // the server checks the length, not the C string
					return dst, fault{msg: "KEYS with a non-empty key argument:", arg: 3}
				}
				first, num = i+1, len(args)-i-1
				break
			}
			switch {
			case cEqualFold(a, "AUTH"):
				i++
			case cEqualFold(a, "AUTH2"):
				i += 2
			}
		}
	}
	if first+num > len(args) {
		return dst, fault{msg: "no key"}
	}
	for i := 0; i < num; i++ {
		dst = append(dst, KeyRef{Index: first + i, Flags: KeyRW | KeyAccess | KeyDelete})
	}
	if num == 0 {
		return dst, fault{msg: "no keys after KEYS"}
	}
	return dst, fault{}
}

// getkeysGeoradius: the key, and the last STORE or STOREDIST's key, looked
// for from argument 5 on.
func getkeysGeoradius(dst []KeyRef, args [][]byte) ([]KeyRef, fault) {
	if len(args) < 2 {
		return dst, fault{msg: "no key"}
	}
	stored := -1
	for i := 5; i < len(args); i++ {
		if (cEqualFold(args[i], "STORE") || cEqualFold(args[i], "STOREDIST")) && i+1 < len(args) {
			stored = i + 1
			i++
		}
	}
	dst = append(dst, KeyRef{Index: 1})
	if stored > 0 {
		dst = append(dst, KeyRef{Index: stored})
	}
	return dst, fault{}
}

// getkeysXread: the first half of the arguments after STREAMS, which is
// looked for past BLOCK, COUNT, GROUP and NOACK.
func getkeysXread(dst []KeyRef, args [][]byte) ([]KeyRef, fault) {
	streams := -1
scan:
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case cEqualFold(a, "BLOCK"), cEqualFold(a, "COUNT"):
			i++
		case cEqualFold(a, "GROUP"):
			i += 2
		case cEqualFold(a, "NOACK"):
		case cEqualFold(a, "STREAMS"):
			streams = i
			break scan
		default:
			break scan
		}
	}
	if streams < 0 {
		return dst, fault{msg: "no STREAMS argument"}
	}
	num := len(args) - streams - 1
	if num == 0 || num%2 != 0 {
		return dst, fault{msg: "no even number of arguments after STREAMS"}
	}
	num /= 2
	for i := streams + 1; i < len(args)-num; i++ {
		dst = append(dst, KeyRef{Index: i})
	}
	return dst, fault{}
}

// cLen is the length of a as a C string: up to its first NUL byte.
func cLen(a []byte) int {
	if i := bytes.IndexByte(a, 0); i >= 0 {
		return i
	}
	return len(a)
}

// cEqualFold reports whether a, read as a C string, equals kw ignoring
// ASCII case, like strcasecmp(a, kw) == 0.
func cEqualFold(a []byte, kw string) bool {
	n := cLen(a)
	if n != len(kw) {
		return false
	}
	for i := 0; i < n; i++ {
		if lower(a[i]) != lower(kw[i]) {
			return false
		}
	}
	return true
}

// string2ll parses a like the server's string2ll: a decimal int64 with an
// optional '-', no '+', no leading zeros, no spaces, at most 20 bytes.
func string2ll(a []byte) (int64, bool) {
	if len(a) == 0 || len(a) >= 21 {
		return 0, false
	}
	if len(a) == 1 && a[0] == '0' {
		return 0, true
	}
	p := a
	neg := false
	if p[0] == '-' {
		neg = true
		p = p[1:]
		if len(p) == 0 {
			return 0, false
		}
	}
	if p[0] < '1' || p[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v *= 10
		if v > 1<<64-1-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// atoi is C's atoi as glibc has it, (int)strtol(a, NULL, 10): leading
// white space, an optional sign, digits up to the first other byte (a NUL
// ends the string), saturating at the int64 limits, then truncated to 32
// bits.
func atoi(a []byte) int32 {
	i := 0
	for i < len(a) && (a[i] == ' ' || (a[i] >= '\t' && a[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(a) && (a[i] == '+' || a[i] == '-') {
		neg = a[i] == '-'
		i++
	}
	var v uint64
	over := false
	for ; i < len(a) && a[i] >= '0' && a[i] <= '9'; i++ {
		if v >= 1<<60 {
			over = true
			continue
		}
		v = v*10 + uint64(a[i]-'0')
	}
	var l int64
	switch {
	case neg && (over || v > 1<<63):
		l = -1 << 63
	case neg:
		l = int64(-v)
	case over || v > 1<<63-1:
		l = 1<<63 - 1
	default:
		l = int64(v)
	}
	return int32(l)
}
