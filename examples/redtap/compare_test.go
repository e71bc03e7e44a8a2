package main

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/redtap/redtap/internal/testkit/corpus"
	"github.com/stretchr/testify/require"
)

// dumpT runs `redtap dump args...` in-process.
func dumpT(t testing.TB, stdin io.Reader, args ...string) (stdout []byte, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = run(context.Background(), append([]string{"dump"}, args...), stdin, &out, &errb)
	return out.Bytes(), errb.String(), code
}

// keyID identifies a key record: its database and raw key bytes.
type keyID struct {
	DB  int
	Key string
}

func (k keyID) String() string { return fmt.Sprintf("db%d/%q", k.DB, k.Key) }

type zmember struct {
	Member string
	Score  float64
}

// normKey is a key record reduced to what the comparison looks at: raw
// bytes instead of the JSON string or base64 forms, sets sorted, zsets in
// ZRANGE order with numeric scores, hashes as maps whatever form they had.
type normKey struct {
	Type        string
	Expire      string // "" for none
	Value       any
	FieldExpire map[string]string
	StreamMeta  any
	Extra       []string // unknown top-level fields
}

// decodeLines parses JSON lines keeping numbers exact.
func decodeLines(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var m map[string]any
		require.NoError(t, d.Decode(&m), "line %.200s", line)
		recs = append(recs, m)
	}
	require.NoError(t, sc.Err())
	return recs
}

// readExpected reads an .expected.jsonl or .expected.jsonl.gz file.
func readExpected(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		b, err = io.ReadAll(zr)
		require.NoError(t, err)
	}
	return b
}

// normalizeKeys reduces every key record of a dump (records without
// "kind", or with kind "key") to a map by key.
func normalizeKeys(t testing.TB, recs []map[string]any) map[keyID]normKey {
	t.Helper()
	out := make(map[keyID]normKey)
	for _, r := range recs {
		if k, ok := r["kind"]; ok && k != "key" {
			continue
		}
		id, n, err := normalize(r)
		require.NoError(t, err, "record %v", r)
		_, dup := out[id]
		require.False(t, dup, "key %v twice", id)
		out[id] = n
	}
	return out
}

func normalize(r map[string]any) (keyID, normKey, error) {
	var id keyID
	var n normKey
	db, ok := r["db"].(json.Number)
	if !ok {
		return id, n, fmt.Errorf("db %#v", r["db"])
	}
	d, err := db.Int64()
	if err != nil {
		return id, n, err
	}
	id.DB = int(d)
	if id.Key, err = corpus.String(r["key"]); err != nil {
		return id, n, fmt.Errorf("key: %w", err)
	}
	n.Type, _ = r["type"].(string)
	switch e := r["expire_ms"].(type) {
	case nil:
	case json.Number:
		n.Expire = string(e)
	default:
		return id, n, fmt.Errorf("expire_ms %#v", e)
	}
	for f := range r {
		switch f {
		case "kind", "db", "key", "type", "expire_ms", "value", "field_expire_ms", "stream_meta":
		default:
			n.Extra = append(n.Extra, f)
		}
	}
	slices.Sort(n.Extra)
	v := r["value"]
	switch n.Type {
	case "string":
		n.Value, err = corpus.String(v)
	case "list", "set":
		var l []string
		l, err = corpus.Strings(v)
		if n.Type == "set" {
			slices.Sort(l)
		}
		n.Value = l
	case "zset":
		n.Value, err = zsetValue(v)
	case "hash":
		n.Value, n.FieldExpire, err = hashValue(v)
		if err == nil && r["field_expire_ms"] != nil {
			err = fieldExpires(r["field_expire_ms"], n.FieldExpire)
		}
		if len(n.FieldExpire) == 0 {
			n.FieldExpire = nil
		}
	case "stream":
		n.Value, n.StreamMeta = v, r["stream_meta"]
	default:
		n.Value = v
	}
	return id, n, err
}

func zsetValue(v any) ([]zmember, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("zset not a list: %#v", v)
	}
	z := make([]zmember, 0, len(a))
	for _, e := range a {
		p, ok := e.([]any)
		if !ok || len(p) != 2 {
			return nil, fmt.Errorf("zset member %#v", e)
		}
		m, err := corpus.String(p[0])
		if err != nil {
			return nil, err
		}
		sc, err := corpus.Score(p[1])
		if err != nil {
			return nil, err
		}
		z = append(z, zmember{m, sc})
	}
	slices.SortFunc(z, func(a, b zmember) int {
		if c := cmp.Compare(a.Score, b.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Member, b.Member)
	})
	return z, nil
}

// hashValue reads {field: value}, {"pairs": [[f, v], ...]} or pairs with a
// field TTL as third element.
func hashValue(v any) (map[string]string, map[string]string, error) {
	h := map[string]string{}
	exp := map[string]string{}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("hash %#v", v)
	}
	if pairs, ok := m["pairs"].([]any); ok && len(m) == 1 {
		for _, p := range pairs {
			a, ok := p.([]any)
			if !ok || len(a) < 2 || len(a) > 3 {
				return nil, nil, fmt.Errorf("hash pair %#v", p)
			}
			f, err := corpus.String(a[0])
			if err != nil {
				return nil, nil, err
			}
			val, err := corpus.String(a[1])
			if err != nil {
				return nil, nil, err
			}
			if _, dup := h[f]; dup {
				return nil, nil, fmt.Errorf("hash field %q twice", f)
			}
			h[f] = val
			if len(a) == 3 {
				ms, ok := a[2].(json.Number)
				if !ok {
					return nil, nil, fmt.Errorf("hash field ttl %#v", a[2])
				}
				exp[f] = string(ms)
			}
		}
		return h, exp, nil
	}
	for f, e := range m {
		val, err := corpus.String(e)
		if err != nil {
			return nil, nil, err
		}
		h[f] = val
	}
	return h, exp, nil
}

func fieldExpires(v any, exp map[string]string) error {
	switch x := v.(type) {
	case map[string]any:
		for f, ms := range x {
			n, ok := ms.(json.Number)
			if !ok {
				return fmt.Errorf("field ttl %#v", ms)
			}
			exp[f] = string(n)
		}
	case []any:
		for _, p := range x {
			a, ok := p.([]any)
			if !ok || len(a) != 2 {
				return fmt.Errorf("field ttl pair %#v", p)
			}
			f, err := corpus.String(a[0])
			if err != nil {
				return err
			}
			n, ok := a[1].(json.Number)
			if !ok {
				return fmt.Errorf("field ttl %#v", a[1])
			}
			exp[f] = string(n)
		}
	default:
		return fmt.Errorf("field_expire_ms %#v", v)
	}
	return nil
}

// zsetEqual compares scores numerically (NaN equals NaN).
func zsetEqual(a, b []zmember) bool {
	return slices.EqualFunc(a, b, func(x, y zmember) bool {
		return x.Member == y.Member && (x.Score == y.Score || math.IsNaN(x.Score) && math.IsNaN(y.Score))
	})
}

// diffKeys compares two normalized dumps and describes the differences
// (at most max of them).
func diffKeys(got, want map[keyID]normKey, max int) []string {
	var diffs []string
	add := func(format string, args ...any) {
		if len(diffs) < max {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	ids := make([]keyID, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b keyID) int {
		return cmp.Or(cmp.Compare(a.DB, b.DB), strings.Compare(a.Key, b.Key))
	})
	for _, id := range ids {
		w := want[id]
		g, ok := got[id]
		if !ok {
			add("missing key %v (%s)", id, w.Type)
			continue
		}
		if g.Type != w.Type {
			add("%v: type %s, want %s", id, g.Type, w.Type)
			continue
		}
		if g.Expire != w.Expire {
			add("%v: expire_ms %q, want %q", id, g.Expire, w.Expire)
		}
		if len(g.Extra) > 0 {
			add("%v: unexpected fields %v", id, g.Extra)
		}
		if gz, ok := g.Value.([]zmember); ok {
			if wz, _ := w.Value.([]zmember); !zsetEqual(gz, wz) {
				add("%v: zset differs:\n got  %.400v\n want %.400v", id, gz, wz)
			}
		} else if !jsonEqual(g.Value, w.Value) {
			add("%v: value differs:\n got  %.600s\n want %.600s", id, jsonText(g.Value), jsonText(w.Value))
		}
		if !jsonEqual(g.FieldExpire, w.FieldExpire) {
			add("%v: field_expire_ms %v, want %v", id, g.FieldExpire, w.FieldExpire)
		}
		if !jsonEqual(g.StreamMeta, w.StreamMeta) {
			add("%v: stream_meta differs:\n got  %s\n want %s", id, jsonText(g.StreamMeta), jsonText(w.StreamMeta))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			add("unexpected key %v (%s)", id, got[id].Type)
		}
	}
	return diffs
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func jsonEqual(a, b any) bool {
	return jsonText(a) == jsonText(b)
}
