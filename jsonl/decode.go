package jsonl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/redtap/redtap/rdb"
)

// Record is one decoded line: the fields of its Kind are set.
type Record struct {
	// Kind is "key", "cmd", "sync", "snapshot_done", "aux", "function" or
	// "module_aux".
	Kind string
	// DB: key and cmd records.
	DB int
	// Offset: cmd, sync and snapshot_done records.
	Offset int64
	// ReplID, Mode and Reason: sync records (ReplID also snapshot_done).
	ReplID, Mode, Reason string
	// Args and Keys: cmd records (Keys nil when the record has none).
	Args, Keys [][]byte
	// Entry: key records, as one chunk (Chunk and Last as AppendKey
	// wrote them; 0 and true for a key of one chunk). Its encoding is
	// not known: Encoding is zero. Module values cannot be rebuilt from
	// their raw bytes alone (the module id is not written): a module key
	// decodes with Module's Name, Version and Raw.
	Entry *rdb.Entry
}

// ErrSyntax reports a line that is not a record this package writes.
var ErrSyntax = errors.New("jsonl: malformed record")

// line is the union of the records' fields.
type line struct {
	Kind    string            `json:"kind"`
	DB      int               `json:"db"`
	Key     json.RawMessage   `json:"key"`
	Type    string            `json:"type"`
	Expire  *int64            `json:"expire_ms"`
	Chunk   int               `json:"chunk"`
	Last    *bool             `json:"last"`
	Value   json.RawMessage   `json:"value"`
	FieldEx json.RawMessage   `json:"field_expire_ms"`
	Meta    *streamMetaJSON   `json:"stream_meta"`
	Mode    string            `json:"mode"`
	ReplID  string            `json:"replid"`
	Offset  int64             `json:"offset"`
	Reason  string            `json:"reason"`
	Args    []json.RawMessage `json:"args"`
	Keys    []json.RawMessage `json:"keys"`
}

type streamMetaJSON struct {
	Length       uint64      `json:"length"`
	LastID       string      `json:"last-generated-id"`
	MaxDeletedID string      `json:"max-deleted-entry-id"`
	EntriesAdded uint64      `json:"entries-added"`
	FirstID      string      `json:"recorded-first-entry-id"`
	Groups       []groupJSON `json:"groups"`
}

type groupJSON struct {
	Name        json.RawMessage     `json:"name"`
	LastID      string              `json:"last-delivered-id"`
	EntriesRead *int64              `json:"entries-read"`
	Pending     [][]json.RawMessage `json:"pending"`
	Consumers   []consumerJSON      `json:"consumers"`
}

type consumerJSON struct {
	Name       json.RawMessage     `json:"name"`
	SeenTime   int64               `json:"seen-time"`
	ActiveTime *int64              `json:"active-time"`
	Pending    [][]json.RawMessage `json:"pending"`
}

// Decode decodes one record written by an Encoder (a trailing newline is
// allowed). The slices of the result are its own.
func Decode(data []byte) (*Record, error) {
	var l line
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	r := &Record{Kind: l.Kind, DB: l.DB, Offset: l.Offset, ReplID: l.ReplID, Mode: l.Mode, Reason: l.Reason}
	var err error
	switch l.Kind {
	case "cmd":
		if r.Args, err = bytesList(l.Args); err == nil && l.Keys != nil {
			r.Keys, err = bytesList(l.Keys)
		}
		if err == nil && len(r.Args) == 0 {
			err = errors.New("cmd without args")
		}
	case "key":
		r.Entry, err = decodeKey(&l)
	case "sync", "snapshot_done", "aux", "function", "module_aux":
	default:
		err = fmt.Errorf("unknown kind %q", l.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return r, nil
}

func decodeKey(l *line) (*rdb.Entry, error) {
	e := &rdb.Entry{DB: l.DB, Expire: -1, Idle: -1, Freq: -1, Chunk: l.Chunk, Last: true}
	if l.Last != nil {
		e.Last = *l.Last
	}
	if l.Expire != nil {
		e.Expire = *l.Expire
	}
	var err error
	if e.Key, err = bytesOf(l.Key); err != nil {
		return nil, fmt.Errorf("key: %v", err)
	}
	switch l.Type {
	case "string":
		e.Type = rdb.TypeString
		e.Str, err = bytesOf(l.Value)
	case "list", "set":
		e.Type = rdb.TypeList
		if l.Type == "set" {
			e.Type = rdb.TypeSet
		}
		var raw []json.RawMessage
		if err = json.Unmarshal(l.Value, &raw); err == nil {
			e.Elems, err = bytesList(raw)
		}
	case "zset":
		e.Type = rdb.TypeZSet
		e.Members, err = decodeZSet(l.Value)
	case "hash":
		e.Type = rdb.TypeHash
		e.Fields, err = decodeHash(l.Value, l.FieldEx)
	case "stream":
		e.Type = rdb.TypeStream
		e.Stream, err = decodeStream(l.Value, l.Meta)
	case "module":
		e.Type = rdb.TypeModule
		var m struct {
			Module  string          `json:"module"`
			Version uint64          `json:"version"`
			Raw     json.RawMessage `json:"raw"`
		}
		if err = json.Unmarshal(l.Value, &m); err == nil {
			e.Module = &rdb.Module{Name: m.Module, Version: m.Version}
			e.Module.Raw, err = bytesOf(m.Raw)
		}
	default:
		return nil, fmt.Errorf("unknown type %q", l.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s value: %v", l.Type, err)
	}
	return e, nil
}

// bytesOf decodes a JSON string or {"base64":"..."}.
func bytesOf(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var b struct {
			B64 *string `json:"base64"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		if b.B64 == nil {
			return nil, errors.New(`object without "base64"`)
		}
		return base64.StdEncoding.DecodeString(*b.B64)
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("null string")
	}
	return []byte(*s), nil
}

func bytesList(raw []json.RawMessage) ([][]byte, error) {
	out := make([][]byte, len(raw))
	for i, r := range raw {
		b, err := bytesOf(r)
		if err != nil {
			return nil, fmt.Errorf("element %d: %v", i, err)
		}
		out[i] = b
	}
	return out, nil
}

func decodeScore(raw json.RawMessage) (float64, error) {
	switch string(bytes.TrimSpace(raw)) {
	case `"inf"`:
		return math.Inf(1), nil
	case `"-inf"`:
		return math.Inf(-1), nil
	case `"nan"`:
		return math.NaN(), nil
	}
	var f float64
	err := json.Unmarshal(raw, &f)
	return f, err
}

func decodeZSet(v json.RawMessage) ([]rdb.Member, error) {
	var pairs [][]json.RawMessage
	if err := json.Unmarshal(v, &pairs); err != nil {
		return nil, err
	}
	out := make([]rdb.Member, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("member %d: want [member, score]", i)
		}
		name, err := bytesOf(p[0])
		if err != nil {
			return nil, err
		}
		score, err := decodeScore(p[1])
		if err != nil {
			return nil, err
		}
		out[i] = rdb.Member{Name: name, Score: score}
	}
	return out, nil
}

// decodeHash decodes {f: v} or {"pairs":[[f, v(, ms)]...]}, and the field
// TTLs ({f: ms} or [[f, ms]...]).
func decodeHash(v, ttl json.RawMessage) ([]rdb.Field, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(v, &obj); err != nil {
		return nil, err
	}
	var fields []rdb.Field
	index := map[string]int{}
	if p, ok := obj["pairs"]; ok && len(obj) == 1 && len(p) > 0 && bytes.TrimSpace(p)[0] == '[' {
		var pairs [][]json.RawMessage
		if err := json.Unmarshal(p, &pairs); err != nil {
			return nil, err
		}
		for i, pr := range pairs {
			if len(pr) != 2 && len(pr) != 3 {
				return nil, fmt.Errorf("pair %d: want [field, value] or [field, value, ms]", i)
			}
			name, err := bytesOf(pr[0])
			if err != nil {
				return nil, err
			}
			val, err := bytesOf(pr[1])
			if err != nil {
				return nil, err
			}
			f := rdb.Field{Name: name, Value: val}
			if len(pr) == 3 {
				if err := json.Unmarshal(pr[2], &f.Expire); err != nil {
					return nil, err
				}
			}
			index[string(name)] = len(fields)
			fields = append(fields, f)
		}
	} else {
		for name, raw := range obj {
			val, err := bytesOf(raw)
			if err != nil {
				return nil, err
			}
			index[name] = len(fields)
			fields = append(fields, rdb.Field{Name: []byte(name), Value: val})
		}
	}
	ttl = bytes.TrimSpace(ttl)
	if len(ttl) == 0 || string(ttl) == "null" {
		return fields, nil
	}
	set := func(name []byte, ms int64) error {
		i, ok := index[string(name)]
		if !ok {
			return fmt.Errorf("field_expire_ms: unknown field %q", name)
		}
		fields[i].Expire = ms
		return nil
	}
	if ttl[0] == '{' {
		var m map[string]int64
		if err := json.Unmarshal(ttl, &m); err != nil {
			return nil, err
		}
		for name, ms := range m {
			if err := set([]byte(name), ms); err != nil {
				return nil, err
			}
		}
		return fields, nil
	}
	var pairs [][]json.RawMessage
	if err := json.Unmarshal(ttl, &pairs); err != nil {
		return nil, err
	}
	for _, pr := range pairs {
		if len(pr) != 2 {
			return nil, errors.New("field_expire_ms: want [field, ms]")
		}
		name, err := bytesOf(pr[0])
		if err != nil {
			return nil, err
		}
		var ms int64
		if err := json.Unmarshal(pr[1], &ms); err != nil {
			return nil, err
		}
		if err := set(name, ms); err != nil {
			return nil, err
		}
	}
	return fields, nil
}

func parseID(s string) (rdb.StreamID, error) {
	i := bytes.IndexByte([]byte(s), '-')
	if i < 0 {
		return rdb.StreamID{}, fmt.Errorf("stream id %q", s)
	}
	ms, err1 := strconv.ParseUint(s[:i], 10, 64)
	seq, err2 := strconv.ParseUint(s[i+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return rdb.StreamID{}, fmt.Errorf("stream id %q", s)
	}
	return rdb.StreamID{Ms: ms, Seq: seq}, nil
}

func rawID(raw json.RawMessage) (rdb.StreamID, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return rdb.StreamID{}, err
	}
	return parseID(s)
}

func decodeStream(v json.RawMessage, meta *streamMetaJSON) (*rdb.Stream, error) {
	var ents [][]json.RawMessage
	if err := json.Unmarshal(v, &ents); err != nil {
		return nil, err
	}
	st := &rdb.Stream{Entries: make([]rdb.StreamEntry, len(ents))}
	for i, en := range ents {
		if len(en) != 2 {
			return nil, fmt.Errorf("entry %d: want [id, [field, value ...]]", i)
		}
		id, err := rawID(en[0])
		if err != nil {
			return nil, err
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(en[1], &raw); err != nil {
			return nil, err
		}
		fs, err := bytesList(raw)
		if err != nil {
			return nil, err
		}
		st.Entries[i] = rdb.StreamEntry{ID: id, Fields: fs}
	}
	if meta == nil {
		return st, nil
	}
	m := &rdb.StreamMeta{Length: meta.Length, EntriesAdded: meta.EntriesAdded}
	var err error
	for _, x := range []struct {
		dst *rdb.StreamID
		s   string
	}{{&m.LastID, meta.LastID}, {&m.MaxDeletedID, meta.MaxDeletedID}, {&m.FirstID, meta.FirstID}} {
		if *x.dst, err = parseID(x.s); err != nil {
			return nil, err
		}
	}
	for _, g := range meta.Groups {
		sg := rdb.StreamGroup{EntriesRead: -1}
		if sg.Name, err = bytesOf(g.Name); err != nil {
			return nil, err
		}
		if sg.LastID, err = parseID(g.LastID); err != nil {
			return nil, err
		}
		if g.EntriesRead != nil {
			sg.EntriesRead = *g.EntriesRead
		}
		for _, p := range g.Pending {
			if len(p) != 4 {
				return nil, errors.New("group pending: want [id, consumer, time, count]")
			}
			var pe rdb.StreamPending
			if pe.ID, err = rawID(p[0]); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(p[2], &pe.DeliveryTime); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(p[3], &pe.DeliveryCount); err != nil {
				return nil, err
			}
			sg.PEL = append(sg.PEL, pe)
		}
		for _, c := range g.Consumers {
			sc := rdb.StreamConsumer{SeenTime: c.SeenTime, ActiveTime: -1}
			if sc.Name, err = bytesOf(c.Name); err != nil {
				return nil, err
			}
			if c.ActiveTime != nil {
				sc.ActiveTime = *c.ActiveTime
			}
			for _, p := range c.Pending {
				if len(p) == 0 {
					return nil, errors.New("consumer pending: empty")
				}
				id, err := rawID(p[0])
				if err != nil {
					return nil, err
				}
				sc.PEL = append(sc.PEL, id)
			}
			sg.Consumers = append(sg.Consumers, sc)
		}
		m.Groups = append(m.Groups, sg)
	}
	st.Meta = m
	return st, nil
}
