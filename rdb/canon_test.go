package rdb

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/redtap/redtap/internal/testkit/corpus"
)

// canon is a key in a form where the decoder's output, the corpus'
// expected files and what a live server returns can be compared with
// require.Equal: sets sorted, zsets in ZRANGE order, hashes as maps.
type canon struct {
	DB          int
	Key         string
	Type        string
	Expire      int64 // -1 for none
	Str         string
	List        []string
	Set         []string
	ZSet        []canonMember
	Hash        map[string]string
	FieldExpire map[string]int64
	Stream      []canonEntry
	Meta        *canonMeta
}

type canonMember struct {
	Member string
	Score  float64
}

type canonEntry struct {
	ID     string
	Fields []string
}

type canonMeta struct {
	Length       uint64
	LastID       string
	MaxDeletedID string // compared only for RDB types 19 and up
	EntriesAdded uint64 // idem
	FirstID      string // idem
	Groups       []canonGroup
}

type canonGroup struct {
	Name        string
	LastID      string
	EntriesRead int64 // -1 for null; compared only for RDB types 19 and up
	Pending     []canonPending
	Consumers   []canonConsumer
}

type canonPending struct {
	ID       string
	Consumer string
	Time     int64
	Count    uint64
}

type canonConsumer struct {
	Name       string
	SeenTime   int64
	ActiveTime int64          // compared only for RDB type 21
	Pending    []canonPending // Consumer left empty
}

func sortZSet(z []canonMember) {
	sort.SliceStable(z, func(i, j int) bool {
		if z[i].Score != z[j].Score {
			return z[i].Score < z[j].Score
		}
		return z[i].Member < z[j].Member
	})
}

// canonOf converts a decoded key.
func canonOf(k *key) canon {
	c := canon{DB: k.DB, Key: k.Key, Type: k.Type.String(), Expire: k.Expire}
	switch k.Type {
	case TypeString:
		c.Str = string(k.Str)
	case TypeList:
		c.List = []string{}
		for _, e := range k.Elems {
			c.List = append(c.List, string(e))
		}
	case TypeSet:
		c.Set = []string{}
		for _, e := range k.Elems {
			c.Set = append(c.Set, string(e))
		}
		sort.Strings(c.Set)
	case TypeZSet:
		c.ZSet = []canonMember{}
		for _, m := range k.Members {
			c.ZSet = append(c.ZSet, canonMember{string(m.Name), m.Score})
		}
		sortZSet(c.ZSet)
	case TypeHash:
		c.Hash = map[string]string{}
		for _, f := range k.Fields {
			c.Hash[string(f.Name)] = string(f.Value)
			if f.Expire != 0 {
				if c.FieldExpire == nil {
					c.FieldExpire = map[string]int64{}
				}
				c.FieldExpire[string(f.Name)] = f.Expire
			}
		}
	case TypeStream:
		c.Stream = []canonEntry{}
		for _, e := range k.Entries {
			ce := canonEntry{ID: e.ID.String(), Fields: []string{}}
			for _, f := range e.Fields {
				ce.Fields = append(ce.Fields, string(f))
			}
			c.Stream = append(c.Stream, ce)
		}
		if k.Meta != nil {
			c.Meta = canonMetaOf(k.Meta)
		}
	}
	return c
}

func canonMetaOf(m *StreamMeta) *canonMeta {
	cm := &canonMeta{Length: m.Length, LastID: m.LastID.String(), MaxDeletedID: m.MaxDeletedID.String(),
		EntriesAdded: m.EntriesAdded, FirstID: m.FirstID.String(), Groups: []canonGroup{}}
	for _, g := range m.Groups {
		owner := map[StreamID]string{}
		for _, cs := range g.Consumers {
			for _, id := range cs.PEL {
				owner[id] = string(cs.Name)
			}
		}
		byID := map[StreamID]StreamPending{}
		cg := canonGroup{Name: string(g.Name), LastID: g.LastID.String(), EntriesRead: g.EntriesRead,
			Pending: []canonPending{}, Consumers: []canonConsumer{}}
		for _, p := range g.PEL {
			byID[p.ID] = p
			cg.Pending = append(cg.Pending, canonPending{p.ID.String(), owner[p.ID], p.DeliveryTime, p.DeliveryCount})
		}
		for _, cs := range g.Consumers {
			cc := canonConsumer{Name: string(cs.Name), SeenTime: cs.SeenTime, ActiveTime: cs.ActiveTime, Pending: []canonPending{}}
			for _, id := range cs.PEL {
				p := byID[id]
				cc.Pending = append(cc.Pending, canonPending{ID: id.String(), Time: p.DeliveryTime, Count: p.DeliveryCount})
			}
			cg.Consumers = append(cg.Consumers, cc)
		}
		cm.Groups = append(cm.Groups, cg)
	}
	return cm
}

// maskMeta copies into got the stream metadata fields that a server derives
// rather than reads for an older encoding, so that only stored fields are
// compared.
func maskMeta(got, want *canonMeta, enc Encoding) {
	if got == nil || want == nil {
		return
	}
	if enc < EncStreamListpacks2 {
		got.MaxDeletedID, got.EntriesAdded, got.FirstID = want.MaxDeletedID, want.EntriesAdded, want.FirstID
	}
	for i := range got.Groups {
		if i >= len(want.Groups) {
			break
		}
		if enc < EncStreamListpacks2 {
			got.Groups[i].EntriesRead = want.Groups[i].EntriesRead
		}
		for j := range got.Groups[i].Consumers {
			if j >= len(want.Groups[i].Consumers) {
				break
			}
			if enc < EncStreamListpacks3 {
				got.Groups[i].Consumers[j].ActiveTime = want.Groups[i].Consumers[j].ActiveTime
			}
		}
	}
}

// expected files (MANIFEST "Layout and formats").

type expLine struct {
	DB            int             `json:"db"`
	Key           json.RawMessage `json:"key"`
	Type          string          `json:"type"`
	ExpireMs      *int64          `json:"expire_ms"`
	Value         json.RawMessage `json:"value"`
	FieldExpireMs json.RawMessage `json:"field_expire_ms"`
	StreamMeta    *expMeta        `json:"stream_meta"`
}

type expMeta struct {
	Length       uint64     `json:"length"`
	LastID       string     `json:"last-generated-id"`
	MaxDeletedID string     `json:"max-deleted-entry-id"`
	EntriesAdded uint64     `json:"entries-added"`
	FirstID      string     `json:"recorded-first-entry-id"`
	Groups       []expGroup `json:"groups"`
}

type expGroup struct {
	Name        json.RawMessage   `json:"name"`
	LastID      string            `json:"last-delivered-id"`
	EntriesRead *int64            `json:"entries-read"`
	PELCount    int               `json:"pel-count"`
	Pending     []json.RawMessage `json:"pending"`
	Consumers   []struct {
		Name       json.RawMessage   `json:"name"`
		SeenTime   int64             `json:"seen-time"`
		ActiveTime *int64            `json:"active-time"`
		PELCount   int               `json:"pel-count"`
		Pending    []json.RawMessage `json:"pending"`
	} `json:"consumers"`
}

// expStr decodes a string of an expected file (corpus.String).
func expStr(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return corpus.String(v)
}

// expStrs decodes a list of strings of an expected file (corpus.Strings).
func expStrs(raw json.RawMessage) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return corpus.Strings(v)
}

func canonOfExpected(l *expLine) (canon, error) {
	k, err := expStr(l.Key)
	if err != nil {
		return canon{}, err
	}
	c := canon{DB: l.DB, Key: k, Type: l.Type, Expire: -1}
	if l.ExpireMs != nil {
		c.Expire = *l.ExpireMs
	}
	switch l.Type {
	case "string":
		c.Str, err = expStr(l.Value)
	case "list":
		c.List, err = expStrs(l.Value)
	case "set":
		c.Set, err = expStrs(l.Value)
		sort.Strings(c.Set)
	case "zset":
		var pairs [][2]json.RawMessage
		if err = json.Unmarshal(l.Value, &pairs); err != nil {
			break
		}
		c.ZSet = []canonMember{}
		for _, p := range pairs {
			m, err := expStr(p[0])
			if err != nil {
				return c, err
			}
			var ss string
			if err := json.Unmarshal(p[1], &ss); err != nil {
				return c, err
			}
			sc, err := corpus.Score(ss)
			if err != nil {
				return c, err
			}
			c.ZSet = append(c.ZSet, canonMember{m, sc})
		}
		sortZSet(c.ZSet)
	case "hash":
		c.Hash = map[string]string{}
		var obj map[string]json.RawMessage
		if err = json.Unmarshal(l.Value, &obj); err != nil {
			break
		}
		if p, ok := obj["pairs"]; ok && len(obj) == 1 && bytes.HasPrefix(bytes.TrimSpace(p), []byte("[")) {
			var pairs [][2]json.RawMessage
			if err = json.Unmarshal(p, &pairs); err != nil {
				break
			}
			for _, pr := range pairs {
				f, err := expStr(pr[0])
				if err != nil {
					return c, err
				}
				v, err := expStr(pr[1])
				if err != nil {
					return c, err
				}
				c.Hash[f] = v
			}
		} else {
			for f, raw := range obj {
				v, err := expStr(raw)
				if err != nil {
					return c, err
				}
				c.Hash[f] = v
			}
		}
		if len(l.FieldExpireMs) > 0 && string(l.FieldExpireMs) != "null" {
			if err = json.Unmarshal(l.FieldExpireMs, &c.FieldExpire); err != nil {
				break
			}
			if len(c.FieldExpire) == 0 {
				c.FieldExpire = nil
			}
		}
	case "stream":
		var entries [][2]json.RawMessage
		if err = json.Unmarshal(l.Value, &entries); err != nil {
			break
		}
		c.Stream = []canonEntry{}
		for _, e := range entries {
			var id string
			if err := json.Unmarshal(e[0], &id); err != nil {
				return c, err
			}
			f, err := expStrs(e[1])
			if err != nil {
				return c, err
			}
			c.Stream = append(c.Stream, canonEntry{id, f})
		}
		if l.StreamMeta != nil {
			c.Meta, err = canonOfExpMeta(l.StreamMeta)
		}
	default:
		err = fmt.Errorf("unknown type %q", l.Type)
	}
	return c, err
}

// unmarshalTuple decodes a JSON array item by item into dst.
func unmarshalTuple(raw json.RawMessage, dst ...any) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return err
	}
	if len(items) != len(dst) {
		return fmt.Errorf("%s: %d items, want %d", raw, len(items), len(dst))
	}
	for i, d := range dst {
		if err := json.Unmarshal(items[i], d); err != nil {
			return err
		}
	}
	return nil
}

func canonOfExpMeta(m *expMeta) (*canonMeta, error) {
	cm := &canonMeta{Length: m.Length, LastID: m.LastID, MaxDeletedID: m.MaxDeletedID,
		EntriesAdded: m.EntriesAdded, FirstID: m.FirstID, Groups: []canonGroup{}}
	for _, g := range m.Groups {
		name, err := expStr(g.Name)
		if err != nil {
			return nil, err
		}
		cg := canonGroup{Name: name, LastID: g.LastID, EntriesRead: -1, Pending: []canonPending{}, Consumers: []canonConsumer{}}
		if g.EntriesRead != nil {
			cg.EntriesRead = *g.EntriesRead
		}
		for _, raw := range g.Pending {
			var cp canonPending
			var consumer json.RawMessage
			if err := unmarshalTuple(raw, &cp.ID, &consumer, &cp.Time, &cp.Count); err != nil {
				return nil, err
			}
			if cp.Consumer, err = expStr(consumer); err != nil {
				return nil, err
			}
			cg.Pending = append(cg.Pending, cp)
		}
		for _, c := range g.Consumers {
			cname, err := expStr(c.Name)
			if err != nil {
				return nil, err
			}
			cc := canonConsumer{Name: cname, SeenTime: c.SeenTime, ActiveTime: -1, Pending: []canonPending{}}
			if c.ActiveTime != nil {
				cc.ActiveTime = *c.ActiveTime
			}
			for _, raw := range c.Pending {
				var cp canonPending
				if err := unmarshalTuple(raw, &cp.ID, &cp.Time, &cp.Count); err != nil {
					return nil, err
				}
				cc.Pending = append(cc.Pending, cp)
			}
			cg.Consumers = append(cg.Consumers, cc)
		}
		cm.Groups = append(cm.Groups, cg)
	}
	return cm, nil
}

// readExpected reads <file>.expected.jsonl(.gz); ok is false when there is
// none.
func readExpected(path string) (keys []canon, ok bool, err error) {
	var r io.Reader
	f, err := os.Open(path + ".expected.jsonl")
	if os.IsNotExist(err) {
		f, err = os.Open(path + ".expected.jsonl.gz")
		if os.IsNotExist(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, false, err
		}
		r = zr
	} else if err != nil {
		return nil, false, err
	} else {
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l expLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, true, err
		}
		c, err := canonOfExpected(&l)
		if err != nil {
			return nil, true, fmt.Errorf("%s: %w", sc.Bytes()[:min(len(sc.Bytes()), 200)], err)
		}
		keys = append(keys, c)
	}
	return keys, true, sc.Err()
}

// sortCanon orders keys as the expected files do: by db, then raw key.
func sortCanon(keys []canon) {
	slices.SortStableFunc(keys, func(a, b canon) int {
		if a.DB != b.DB {
			return cmp.Compare(a.DB, b.DB)
		}
		return strings.Compare(a.Key, b.Key)
	})
}
