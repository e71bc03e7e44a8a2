package corpus

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The values of a file's <file>.expected.jsonl, as encoding/json decodes
// them into an any (with or without UseNumber).

// String decodes a string of an expected file: a JSON string, or
// {"base64": "..."} for bytes that are not valid UTF-8.
func String(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		if s, ok := x["base64"].(string); ok && len(x) == 1 {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err
		}
	}
	return "", fmt.Errorf("corpus: not a string: %#v", v)
}

// Strings decodes a list of strings (see String).
func Strings(v any) ([]string, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("corpus: not a list: %#v", v)
	}
	l := make([]string, 0, len(a))
	for _, e := range a {
		s, err := String(e)
		if err != nil {
			return nil, err
		}
		l = append(l, s)
	}
	return l, nil
}

// Score decodes a sorted-set score: a JSON number, or a string as a server
// prints it ("inf", "+inf", "-inf", "nan" in any case, or a number).
func Score(v any) (float64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case float64:
		return x, nil
	case string:
		s = x
	default:
		return 0, fmt.Errorf("corpus: score %#v", v)
	}
	switch strings.ToLower(s) {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}
