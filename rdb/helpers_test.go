package rdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// key is one key of a decoded snapshot with its chunks merged and every
// slice copied out of the decoder's buffers.
type key struct {
	DB       int
	Key      string
	Type     Type
	Encoding Encoding
	Expire   int64
	Idle     int64
	Freq     int
	Offset   int64
	Len      int64 // as the Last chunk reports it
	Chunks   int

	Str     []byte
	Elems   [][]byte
	Fields  []Field
	Members []Member
	Entries []StreamEntry
	Meta    *StreamMeta
	Module  *Module
}

// snapshot is everything a decode produced.
type snapshot struct {
	Header    Header
	Aux       map[string]string
	Keys      []*key
	Functions []string
	ModuleAux []Module
	Selects   []int
	End       *End
	Records   int
}

func (s *snapshot) byName() map[string]*key {
	m := make(map[string]*key, len(s.Keys))
	for _, k := range s.Keys {
		m[fmt.Sprintf("%d/%s", k.DB, k.Key)] = k
	}
	return m
}

// onlyReader hides every method but Read (and so a *bufio.Reader).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func cloneBytes(p []byte) []byte { return append([]byte{}, p...) }

func cloneMeta(m *StreamMeta) *StreamMeta {
	c := *m
	c.Groups = nil
	for _, g := range m.Groups {
		g.Name = cloneBytes(g.Name)
		g.PEL = slices.Clone(g.PEL)
		cons := g.Consumers
		g.Consumers = nil
		for _, cs := range cons {
			cs.Name = cloneBytes(cs.Name)
			cs.PEL = slices.Clone(cs.PEL)
			g.Consumers = append(g.Consumers, cs)
		}
		c.Groups = append(c.Groups, g)
	}
	return &c
}

// decodeAll decodes a whole snapshot from r and checks the chunking
// invariants on the way (Chunk counts up from 0 for one key, Last exactly
// once, exactly chunk elements in every piece but the last, record offsets
// increase). It returns what it got so far together with the first error.
func decodeAll(r io.Reader, chunk int, opts ...Option) (*snapshot, error) {
	if chunk > 0 {
		opts = append([]Option{WithChunkSize(chunk)}, opts...)
	} else {
		chunk = defaultChunkSize
	}
	d, err := NewDecoder(r, opts...)
	if err != nil {
		return nil, err
	}
	s := &snapshot{Aux: map[string]string{}}
	var cur *key
	lastOff := int64(-1)
	ctx := context.Background()
	for {
		rec, err := d.Next(ctx)
		if err == io.EOF {
			if cur != nil {
				return s, fmt.Errorf("EOF inside key %q (chunk %d without Last)", cur.Key, cur.Chunks-1)
			}
			if s.End == nil {
				return s, errors.New("io.EOF before End")
			}
			return s, nil
		}
		if err != nil {
			return s, err
		}
		if rec == nil {
			return s, errors.New("nil record without error")
		}
		if s.End != nil {
			return s, fmt.Errorf("record %T after End", rec)
		}
		s.Records++
		// Offsets increase, except that a key's record starts at its
		// first opcode, which may precede an AUX field (KeyDB writes one
		// between EXPIRETIME_MS and the key).
		if rec.Offset() < 0 || rec.Offset() > d.BytesRead() {
			return s, fmt.Errorf("record %T at %d: decoder offset %d", rec, rec.Offset(), d.BytesRead())
		}
		if _, isEntry := rec.(*Entry); !isEntry && rec.Offset() < lastOff {
			return s, fmt.Errorf("record %T at %d: previous at %d", rec, rec.Offset(), lastOff)
		}
		lastOff = max(lastOff, rec.Offset())
		e, isEntry := rec.(*Entry)
		if cur != nil && !isEntry {
			return s, fmt.Errorf("%T while key %q is unfinished", rec, cur.Key)
		}
		switch r := rec.(type) {
		case *Header:
			s.Header = *r
		case *Aux:
			s.Aux[string(r.Key)] = string(r.Value)
		case *SelectDB:
			s.Selects = append(s.Selects, r.DB)
		case *Function:
			s.Functions = append(s.Functions, string(r.Code))
		case *ModuleAux:
			m := r.Module
			m.Raw = cloneBytes(m.Raw)
			s.ModuleAux = append(s.ModuleAux, m)
		case *End:
			c := *r
			s.End = &c
			if c.Size != d.BytesRead() {
				return s, fmt.Errorf("End.Size %d, decoder offset %d", c.Size, d.BytesRead())
			}
		case *Entry:
			if cur == nil {
				if e.Chunk != 0 {
					return s, fmt.Errorf("key %q starts with chunk %d", e.Key, e.Chunk)
				}
				cur = &key{
					DB: e.DB, Key: string(e.Key), Type: e.Type, Encoding: e.Encoding,
					Expire: e.Expire, Idle: e.Idle, Freq: e.Freq, Offset: e.off,
				}
				s.Keys = append(s.Keys, cur)
			} else {
				if e.Chunk != cur.Chunks {
					return s, fmt.Errorf("key %q: chunk %d after %d", e.Key, e.Chunk, cur.Chunks-1)
				}
				if string(e.Key) != cur.Key || e.DB != cur.DB || e.Type != cur.Type || e.off != cur.Offset ||
					e.Encoding != cur.Encoding || e.Expire != cur.Expire {
					return s, fmt.Errorf("key %q: chunk %d changed identity to %q", cur.Key, e.Chunk, e.Key)
				}
			}
			cur.Chunks++
			n := len(e.Elems) + len(e.Fields) + len(e.Members)
			if e.Stream != nil {
				n += len(e.Stream.Entries)
			}
			if n > chunk || !e.Last && n != chunk {
				return s, fmt.Errorf("key %q chunk %d (last %v) holds %d elements, chunk size %d", cur.Key, e.Chunk, e.Last, n, chunk)
			}
			if err := checkTypeFields(e); err != nil {
				return s, err
			}
			for _, x := range e.Elems {
				cur.Elems = append(cur.Elems, cloneBytes(x))
			}
			for _, f := range e.Fields {
				cur.Fields = append(cur.Fields, Field{Name: cloneBytes(f.Name), Value: cloneBytes(f.Value), Expire: f.Expire})
			}
			for _, m := range e.Members {
				cur.Members = append(cur.Members, Member{Name: cloneBytes(m.Name), Score: m.Score})
			}
			if e.Str != nil {
				cur.Str = cloneBytes(e.Str)
			}
			if e.Module != nil {
				m := *e.Module
				m.Raw = cloneBytes(m.Raw)
				cur.Module = &m
			}
			if e.Stream != nil {
				for _, se := range e.Stream.Entries {
					f := make([][]byte, len(se.Fields))
					for i, x := range se.Fields {
						f[i] = cloneBytes(x)
					}
					cur.Entries = append(cur.Entries, StreamEntry{ID: se.ID, Fields: f})
				}
				if e.Stream.Meta != nil {
					if !e.Last {
						return s, fmt.Errorf("stream %q: Meta on a chunk that is not Last", cur.Key)
					}
					cur.Meta = cloneMeta(e.Stream.Meta)
				}
			}
			if e.Last {
				cur.Len = e.Len
				if cur.Type == TypeStream && cur.Meta == nil {
					return s, fmt.Errorf("stream %q: Last chunk without Meta", cur.Key)
				}
				cur = nil
			}
		}
	}
}

// checkTypeFields checks that only the value field matching the type is
// set.
func checkTypeFields(e *Entry) error {
	bad := func(what string) error {
		return fmt.Errorf("key %q of type %v carries %s", e.Key, e.Type, what)
	}
	if e.Type != TypeString && e.Str != nil {
		return bad("Str")
	}
	if e.Type != TypeList && e.Type != TypeSet && len(e.Elems) > 0 {
		return bad("Elems")
	}
	if e.Type != TypeHash && len(e.Fields) > 0 {
		return bad("Fields")
	}
	if e.Type != TypeZSet && len(e.Members) > 0 {
		return bad("Members")
	}
	if e.Type != TypeStream && e.Stream != nil {
		return bad("Stream")
	}
	if e.Type != TypeModule && e.Module != nil {
		return bad("Module")
	}
	return nil
}

// count returns the number of elements a key holds (pairs for hashes).
func (k *key) count() int {
	return len(k.Elems) + len(k.Fields) + len(k.Members) + len(k.Entries)
}

func decodeBytes(t testing.TB, b []byte, chunk int, opts ...Option) *snapshot {
	t.Helper()
	s, err := decodeAll(bytes.NewReader(b), chunk, opts...)
	require.NoError(t, err)
	return s
}

// checkDecodeError asserts the error contract: a *Error with an offset
// inside the input whose cause is one of the documented sentinels.
func checkDecodeError(err error, size int) error {
	var re *Error
	if !errors.As(err, &re) {
		return fmt.Errorf("error %v (%T) is not an *rdb.Error", err, err)
	}
	if re.Offset < 0 || re.Offset > int64(size) {
		return fmt.Errorf("error offset %d outside the %d-byte input: %v", re.Offset, size, err)
	}
	for _, s := range []error{ErrCorrupt, ErrChecksum, ErrUnsupportedVersion, ErrUnsupportedType, ErrTooLarge, io.ErrUnexpectedEOF} {
		if errors.Is(err, s) {
			return nil
		}
	}
	return fmt.Errorf("error %v matches no documented sentinel", err)
}
