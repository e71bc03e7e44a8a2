package assembler

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/redtap/redtap/rdb"
)

// wentry is one entry of a window as shown: its id, its JSON and its time
// (Unix ms, for MaxAge; NaN for entries without one).
type wentry struct {
	id  string
	enc []byte
	t   float64
}

// window computes what key shows under spec at now (Unix ms), into w
// (reused); seen is scratch space. See the package documentation for each
// type.
func window(v *value, sp *spec, now int64, w []wentry, seen map[string]struct{}) []wentry {
	limit := sp.Limit
	cutoff := math.Inf(-1)
	if sp.MaxAge > 0 {
		cutoff = float64(now - sp.MaxAge.Milliseconds())
	}
	w = w[:0]
	switch v.typ {
	case rdb.TypeZSet:
		defer clear(seen)
		for i := len(v.z.sorted) - 1; i >= 0 && len(w) < limit; i-- {
			m := v.z.sorted[i]
			if m.score < cutoff {
				break
			}
			id := m.name
			if sp.DedupID {
				if !m.idOK {
					m.id, m.idOK = memberID(m.name), true
				}
				id = m.id
				if _, dup := seen[id]; dup {
					continue
				}
				seen[id] = struct{}{}
			}
			if m.enc == nil || m.encDedup != sp.DedupID {
				m.enc = appendZEntry(nil, id, m.score, m.name)
				m.encDedup = sp.DedupID
			}
			w = append(w, wentry{id: id, enc: m.enc, t: m.score})
		}
		slices.Reverse(w)
	case rdb.TypeStream:
		for i := len(v.s.entries) - 1; i >= 0 && len(w) < limit; i-- {
			e := v.s.entries[i]
			t := float64(e.id.Ms)
			if t < cutoff {
				break
			}
			if e.enc == nil {
				e.enc = appendStreamEntry(nil, e)
			}
			w = append(w, wentry{id: e.id.String(), enc: e.enc, t: t})
		}
		slices.Reverse(w)
	case rdb.TypeList:
		from, to := 0, min(limit, len(v.list))
		if !sp.FromHead {
			from, to = max(len(v.list)-limit, 0), len(v.list)
		}
		for i := from; i < to; i++ {
			id := strconv.Itoa(i)
			w = append(w, wentry{id: id, enc: appendEntry(nil, id, v.list[i]), t: math.NaN()})
		}
	case rdb.TypeHash:
		names := make([]string, 0, len(v.hash))
		for f := range v.hash {
			names = append(names, f)
		}
		slices.Sort(names)
		for _, f := range names[:min(limit, len(names))] {
			w = append(w, wentry{id: f, enc: appendEntry(nil, f, v.hash[f]), t: math.NaN()})
		}
	case rdb.TypeSet:
		names := make([]string, 0, len(v.set))
		for m := range v.set {
			names = append(names, m)
		}
		slices.Sort(names)
		for _, m := range names[:min(limit, len(names))] {
			w = append(w, wentry{id: m, enc: appendEntry(nil, m, m), t: math.NaN()})
		}
	case rdb.TypeString:
		if !v.cut {
			w = append(w, wentry{id: "", enc: appendEntry(nil, "", v.str), t: math.NaN()})
		}
	}
	return w
}

// memberID is the id of a sorted-set member: its JSON "id" when it is a
// JSON object carrying a string or a number there, else the member.
func memberID(m string) string {
	i := 0
	for i < len(m) && (m[i] == ' ' || m[i] == '\t' || m[i] == '\n' || m[i] == '\r') {
		i++
	}
	if i == len(m) || m[i] != '{' {
		return m
	}
	var rec struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal([]byte(m), &rec) != nil || len(rec.ID) == 0 {
		return m
	}
	switch c := rec.ID[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(rec.ID, &s) == nil {
			return s
		}
	case c == '-' || c >= '0' && c <= '9':
		return string(rec.ID)
	}
	return m
}

// typeName names a type in the JSON.
func typeName(t rdb.Type) string {
	if t == 0 {
		return "unknown"
	}
	return t.String()
}

// appendString appends s as a JSON string. Bytes that are not valid UTF-8
// become U+FFFD; U+2028 and U+2029 are escaped for JavaScript.
func appendString[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20:
				dst = append(dst, c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			continue
		}
		var r rune
		var n int
		switch x := any(s).(type) {
		case string:
			r, n = utf8.DecodeRuneInString(x[i:])
		case []byte:
			r, n = utf8.DecodeRune(x[i:])
		}
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, "\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&15])
		default:
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

// appendScore appends a score as a JSON number: integers without an
// exponent up to 2^53, infinities as ±1.7976931348623157e308.
func appendScore(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		f = math.MaxFloat64
	case math.IsInf(f, -1):
		f = -math.MaxFloat64
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

func appendZEntry(dst []byte, id string, score float64, member string) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"score":`...)
	dst = appendScore(dst, score)
	dst = append(dst, `,"value":`...)
	dst = appendString(dst, member)
	return append(dst, '}')
}

func appendEntry[S string | []byte](dst []byte, id string, val S) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"value":`...)
	dst = appendString(dst, val)
	return append(dst, '}')
}

func appendStreamEntry(dst []byte, e *sentry) []byte {
	dst = append(dst, `{"id":"`...)
	dst = strconv.AppendUint(dst, e.id.Ms, 10)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, e.id.Seq, 10)
	dst = append(dst, `","score":`...)
	dst = strconv.AppendUint(dst, e.id.Ms, 10)
	dst = append(dst, `,"value":{`...)
	for i := 0; i+1 < len(e.fields); i += 2 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, e.fields[i])
		dst = append(dst, ':')
		dst = appendString(dst, e.fields[i+1])
	}
	return append(dst, "}}"...)
}
