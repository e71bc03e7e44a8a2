package glob

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		// literals
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
		// *
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"a*", "ba", false},
		{"*a", "bca", true},
		{"*a", "ab", false},
		{"a*c", "ac", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a**c", "abc", true},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{"user:*:name", "user:42:name", true},
		{"user:*:name", "user:42:age", false},
		// ?
		{"?", "a", true},
		{"?", "", false},
		{"?", "ab", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"??*", "ab", true},
		{"??*", "a", false},
		// classes
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[abc]", "", false},
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"[a-c]", "a", true},
		{"[a-c]", "c", true},
		{"[a-c]", "d", false},
		{"[c-a]", "b", true}, // reversed bounds are swapped
		{"[0-9][0-9]", "42", true},
		{"[0-9][0-9]", "4x", false},
		{"[^x]", "y", true},
		{"[^x]", "x", false},
		{"[^a-c]", "b", false},
		{"[^a-c]", "z", true},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"[a-cx-z]", "y", true},
		{"[a-cx-z]", "m", false},
		{"[]", "a", false},
		{"[abc", "a", true}, // an unterminated class ends with the pattern
		{"[abc", "ab", false},
		{"[*]", "*", true},
		{"[*]", "a", false},
		{"[?]", "?", true},
		{"[?]", "a", false},
		// escapes
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`\?`, "?", true},
		{`\?`, "a", false},
		{`\[a]`, "[a]", true},
		{`\[a]`, "a", false},
		{`a\\b`, `a\b`, true},
		{`\a`, "a", true},
		{`a\`, `a\`, true}, // a trailing backslash is literal
		{`[\]]`, "]", true},
		{`[\^a]`, "^", true},
		{`[\-]`, "-", true},
		{`[\-]`, "a", false},
		{`*\*`, "abc*", true},
		{`*\*`, "abc", false},
		// bytes, not runes
		{"?", "\xff", true},
		{"??", "é", true}, // two bytes
		{"[\x00-\x7f]", "\x80", false},
		{"[\x80-\xff]", "\x80", true},
		{"a\x00b", "a\x00b", true},
		{"*\x00*", "zz\x00zz", true},
	} {
		require.Equal(t, tc.want, Match([]byte(tc.pattern), []byte(tc.s)), "Match(%q, %q)", tc.pattern, tc.s)
	}
}

func TestMatchFold(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"ABC", "abc", true},
		{"abc", "ABC", true},
		{"a*C", "AxxC", true},
		{"[A-C]", "b", true},
		{"[a-c]", "B", true},
		{"[^A-C]", "b", false},
		{"h?LLO", "HeLlo", true},
		{"abc", "abd", false},
		{"É", "é", false}, // ASCII folding only
	} {
		require.Equal(t, tc.want, MatchFold([]byte(tc.pattern), []byte(tc.s)), "MatchFold(%q, %q)", tc.pattern, tc.s)
		if tc.pattern == tc.s || strings.EqualFold(tc.pattern, tc.s) && !strings.ContainsAny(tc.pattern, "*?[") {
			require.Equal(t, tc.pattern == tc.s, Match([]byte(tc.pattern), []byte(tc.s)))
		}
	}
}

// Star-heavy patterns. Redis 7.0 stops backtracking as soon as the rest of
// the pattern fails to match at every position (skipLongerMatches, the fix
// of CVE-2022-36021); Match does not yet, so its time grows exponentially
// with the number of stars ("*a"x10 + "b" against 40 bytes takes ~25 s):
// this test stays at a size that is fast today.
func TestMatchPathological(t *testing.T) {
	p := []byte(strings.Repeat("*a", 4) + "b")
	s := []byte(strings.Repeat("a", 40))
	require.False(t, Match(p, s))
	require.True(t, Match([]byte(strings.Repeat("*", 5000)), s))
}

// globAlphabet is what random patterns and keys are made of: every
// metacharacter and a few plain bytes.
const globAlphabet = `ab-c^[]\*?`

func randomGlobString(rng *rand.Rand, maxLen int, alphabet string) string {
	n := rng.IntN(maxLen + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// TestMatchAgainstRedis compares Match with KEYS on a real redis-server for
// random patterns over random keys.
func TestMatchAgainstRedis(t *testing.T) {
	s := redistest.Start(t, redistest.Options{})
	c := s.Client()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	keys := map[string]bool{}
	for len(keys) < 300 {
		k := randomGlobString(rng, 5, "abc-^[]\\*?xA")
		if k == "" {
			continue // KEYS special-cases "*" so the empty key is not comparable
		}
		keys[k] = true
	}
	pipe := c.Pipeline()
	for k := range keys {
		pipe.Set(ctx, k, "1", 0)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)

	patterns := []string{"*", "a*", "[a-c]*", "[^a]*", `\**`, `*\?`, "[]*", "[", "]", `\`, "[a-", "[^]"}
	for len(patterns) < 3000 {
		patterns = append(patterns, randomGlobString(rng, 6, globAlphabet))
	}
	cmds := make([]*redis.StringSliceCmd, len(patterns))
	pipe = c.Pipeline()
	for i, p := range patterns {
		cmds[i] = pipe.Keys(ctx, p)
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	for i, p := range patterns {
		want := append([]string{}, cmds[i].Val()...)
		slices.Sort(want)
		got := []string{}
		for k := range keys {
			if Match([]byte(p), []byte(k)) {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		require.Equal(t, want, got, "pattern %q", p)
	}

	// Redis reads "[a-]" as the range ']'..'a', and so does Match.
	for _, k := range []string{"]", "^", "_", "`", "a", "b", "-"} {
		require.NoError(t, c.Set(ctx, k, "1", 0).Err())
	}
	redisGot, err := c.Keys(ctx, "[a-]").Result()
	require.NoError(t, err)
	slices.Sort(redisGot)
	require.Equal(t, []string{"]", "^", "_", "`", "a"}, redisGot)
	require.Equal(t, redisGot, matching("[a-]", "]^_`ab-"))
}

// matching returns the bytes of set that the one-byte-class pattern matches.
func matching(pattern, set string) []string {
	out := []string{}
	for i := 0; i < len(set); i++ {
		if Match([]byte(pattern), []byte{set[i]}) {
			out = append(out, set[i:i+1])
		}
	}
	slices.Sort(out)
	return out
}

// TestPathologicalPatterns: star-heavy patterns that fail stay polynomial
// (Redis gives up as soon as the rest after a star matches nowhere), and
// thousands of stars do not hang or overflow.
func TestPathologicalPatterns(t *testing.T) {
	s := []byte(strings.Repeat("a", 60))
	require.False(t, Match([]byte(strings.Repeat("*a", 30)+"b"), s))
	require.True(t, Match([]byte(strings.Repeat("*a", 30)), s))
	require.False(t, Match([]byte(strings.Repeat("a*", 5000)+"b"), s))
	require.True(t, Match([]byte(strings.Repeat("*", 5000)), nil))
}
