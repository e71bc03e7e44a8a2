package monitor_test

import (
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/redtap/redtap/monitor/internal/serverinfo"
)

// argGen makes random, mostly valid arguments for a command from its
// COMMAND DOCS grammar, biased towards what drives the key-finding
// procedures: keywords (STORE, STREAMS, KEYS, GET, BY, LIMIT ...) in odd
// places, numkeys that match or miss the keys after them, keys named like
// keywords, mixed case, NUL bytes; and, for some lists, a mutation that
// breaks the grammar (a dropped, repeated, swapped or inserted argument).
type argGen struct {
	rng  *rand.Rand
	nkey int
}

// keywords are the words the server's key procedures and key specs look
// for, some in odd spellings.
var keywords = []string{
	"STORE", "STOREDIST", "STREAMS", "KEYS", "GET", "BY", "LIMIT", "COUNT",
	"BLOCK", "GROUP", "NOACK", "AUTH", "AUTH2", "COPY", "REPLACE", "SET",
	"INCRBY", "OVERFLOW", "store", "streams", "keys", "get", "Limit",
	"STORE\x00x", "get\x00", "", "0", "1", "2", "-1", "x", "*", "$",
}

func newArgGen(seed1, seed2 uint64) *argGen {
	return &argGen{rng: rand.New(rand.NewPCG(seed1, seed2))}
}

// command returns the name (and subcommand) followed by random arguments.
func (g *argGen) command(c *serverinfo.Command) [][]byte {
	g.nkey = 0
	var out [][]byte
	if c.SubcommandOf != "" {
		_, sub, _ := strings.Cut(c.Name, "|")
		out = append(out, g.mixCase(c.SubcommandOf), g.mixCase(sub))
	} else {
		out = append(out, g.mixCase(c.Name))
	}
	prefix := len(out)
	out = g.seq(out, c.Args)
	if g.rng.IntN(4) == 0 {
		out = g.mutate(out, prefix)
	}
	return out
}

func (g *argGen) seq(out [][]byte, args []serverinfo.Arg) [][]byte {
	countAt := -1 // a numkeys-like argument waiting for the count of what follows
	for _, a := range args {
		if a.Optional && g.rng.IntN(2) == 0 {
			continue
		}
		if a.Type == "integer" && strings.HasPrefix(a.Name, "num") {
			if a.Token != "" {
				out = append(out, g.mixCase(a.Token))
			}
			countAt = len(out)
			out = append(out, nil)
			continue
		}
		start := len(out)
		out = g.arg(out, a)
		if countAt >= 0 && a.Multiple {
			out[countAt] = g.count(len(out) - start)
			countAt = -1
		}
	}
	if countAt >= 0 {
		out[countAt] = g.count(0)
	}
	return out
}

// count renders n, or now and then something a lenient or a strict parser
// reads differently (leading zero, sign, spaces, trailing junk).
func (g *argGen) count(n int) []byte {
	if g.rng.IntN(5) != 0 {
		return []byte(strconv.Itoa(n))
	}
	s := strconv.Itoa(n)
	variants := []string{
		strconv.Itoa(n + 1), strconv.Itoa(n - 1), "0", "-1", "x", "0" + s, "+" + s,
		" " + s, s + "abc", s + "\x00", "99999999999999999999", "-99999999999999999999", "",
	}
	return []byte(variants[g.rng.IntN(len(variants))])
}

func (g *argGen) arg(out [][]byte, a serverinfo.Arg) [][]byte {
	reps := 1
	if a.Multiple {
		reps = 1 + g.rng.IntN(4)
	}
	for r := 0; r < reps; r++ {
		if a.Token != "" && a.Type != "pure-token" && (r == 0 || a.MultipleToken) {
			out = append(out, g.token(a.Token))
		}
		switch a.Type {
		case "pure-token":
			out = append(out, g.token(a.Token))
		case "key":
			out = append(out, g.key())
		case "integer":
			out = append(out, []byte([]string{"0", "1", "2", "3", "-1", "10"}[g.rng.IntN(6)]))
		case "double":
			out = append(out, []byte([]string{"1.5", "0", "-2"}[g.rng.IntN(3)]))
		case "unix-time":
			out = append(out, []byte("1700000000"))
		case "pattern":
			out = append(out, []byte("p*"))
		case "oneof":
			if len(a.Args) > 0 {
				out = g.arg(out, a.Args[g.rng.IntN(len(a.Args))])
			}
		case "block":
			out = g.seq(out, a.Args)
		default: // string and anything new
			out = append(out, g.word())
		}
	}
	return out
}

// token renders a token in mixed case; the documented empty-string token
// (MIGRATE's) is the empty argument.
func (g *argGen) token(t string) []byte {
	if t == `""` || t == "" {
		return []byte{}
	}
	return g.mixCase(t)
}

func (g *argGen) key() []byte {
	if g.rng.IntN(10) == 0 {
		return []byte(keywords[g.rng.IntN(len(keywords))])
	}
	g.nkey++
	return []byte("k" + strconv.Itoa(g.nkey))
}

func (g *argGen) word() []byte {
	if g.rng.IntN(3) == 0 {
		return []byte(keywords[g.rng.IntN(len(keywords))])
	}
	return []byte("w" + strconv.Itoa(g.rng.IntN(100)))
}

func (g *argGen) mixCase(s string) []byte {
	b := []byte(s)
	switch g.rng.IntN(10) {
	case 0, 1, 2:
		return []byte(strings.ToLower(s))
	case 3:
		for i := range b {
			if g.rng.IntN(2) == 0 {
				b[i] = strings.ToLower(string(b[i]))[0]
			} else {
				b[i] = strings.ToUpper(string(b[i]))[0]
			}
		}
		return b
	}
	return []byte(strings.ToUpper(s))
}

// mutate breaks the grammar after the name (and subcommand).
func (g *argGen) mutate(out [][]byte, prefix int) [][]byte {
	n := len(out) - prefix
	switch g.rng.IntN(5) {
	case 0: // drop one
		if n > 0 {
			i := prefix + g.rng.IntN(n)
			out = append(out[:i], out[i+1:]...)
		}
	case 1: // repeat one
		if n > 0 {
			i := prefix + g.rng.IntN(n)
			out = append(out[:i+1], out[i:]...)
		}
	case 2: // swap two
		if n > 1 {
			i, j := prefix+g.rng.IntN(n), prefix+g.rng.IntN(n)
			out[i], out[j] = out[j], out[i]
		}
	case 3: // insert a keyword
		i := prefix + g.rng.IntN(n+1)
		out = append(out[:i], append([][]byte{[]byte(keywords[g.rng.IntN(len(keywords))])}, out[i:]...)...)
	case 4: // append keys and words
		for k := g.rng.IntN(4); k >= 0; k-- {
			if g.rng.IntN(2) == 0 {
				out = append(out, g.key())
			} else {
				out = append(out, g.word())
			}
		}
	}
	return out
}
