package jsonl

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/corpus"
)

func TestAppendScore(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1", 2.5: "2.5", 0.1: "0.1", -9.99999: "-9.99999", 1e21: "1e+21", 5e9: "5e+09",
		math.Inf(1): `"inf"`, math.Inf(-1): `"-inf"`, math.NaN(): `"nan"`, math.MaxFloat64: "1.7976931348623157e+308",
	} {
		got := string(appendScore(nil, f))
		require.Equal(t, want, got)
		var v any
		require.NoError(t, json.Unmarshal([]byte(got), &v), got)
	}
}

// FuzzJSONString: every byte string becomes valid JSON that decodes back
// to the same bytes (a string when it is UTF-8, base64 otherwise).
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\x7f", "é✓😀", "\xff\xfe", "\xed\xa0\x80", "\u2028"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		b := AppendBytes(nil, s)
		var v any
		require.NoError(t, json.Unmarshal(b, &v), "%q -> %s", s, b)
		got, err := corpus.String(v)
		require.NoError(t, err)
		require.Equal(t, string(s), got)
		_, isStr := v.(string)
		require.Equal(t, utf8.Valid(s), isStr)
	})
}
