package publish

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/rdb"
	"github.com/redtap/redtap/replica"
)

const replid = "0123456789abcdef0123456789abcdef01234567"

// fakeSource delivers events, then io.EOF, and records commits.
type fakeSource struct {
	evs []replica.Event
	mu  sync.Mutex
	got []replica.Position
}

func (f *fakeSource) Next(context.Context) (replica.Event, error) {
	if len(f.evs) == 0 {
		return nil, io.EOF
	}
	ev := f.evs[0]
	f.evs = f.evs[1:]
	return ev, nil
}

func (f *fakeSource) Commit(p replica.Position) {
	f.mu.Lock()
	f.got = append(f.got, p)
	f.mu.Unlock()
}

func (f *fakeSource) commits() []replica.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]replica.Position(nil), f.got...)
}

// fakeSink keeps copies of the messages; the test says how far they are
// acknowledged.
type fakeSink struct {
	msgs  []Message
	acked atomic.Uint64
}

func (f *fakeSink) Send(_ context.Context, m *Message) error {
	c := *m
	c.Body = append([]byte(nil), m.Body...)
	c.Subject = append([]byte(nil), m.Subject...)
	c.Key = append([]byte(nil), m.Key...)
	f.msgs = append(f.msgs, c)
	return nil
}
func (f *fakeSink) Acked() uint64               { return f.acked.Load() }
func (f *fakeSink) Flush(context.Context) error { return nil }
func (f *fakeSink) Close() error                { return nil }
func args(s string) [][]byte                    { return bytesOf(strings.Fields(s)...) }
func bytesOf(ss ...string) [][]byte {
	b := make([][]byte, len(ss))
	for i, s := range ss {
		b[i] = []byte(s)
	}
	return b
}
func pos(off int64) replica.Position { return replica.Position{ReplID: replid, Offset: off} }

func events() []replica.Event {
	return []replica.Event{
		&replica.Sync{Mode: replica.SyncFull, ReplID: replid, Offset: 100},
		&replica.SnapshotRecord{Record: &rdb.Entry{DB: 0, Key: []byte("a.b c"), Type: rdb.TypeString, Expire: -1, Str: []byte("v"), Last: true}},
		&replica.SnapshotRecord{Record: &rdb.Entry{DB: 1, Key: []byte("big"), Type: rdb.TypeSet, Expire: -1, Elems: bytesOf("x", "y"), Chunk: 0}},
		&replica.SnapshotRecord{Record: &rdb.Entry{DB: 1, Key: []byte("big"), Type: rdb.TypeSet, Expire: -1, Elems: bytesOf("z"), Chunk: 1, Last: true}},
		&replica.SnapshotDone{Offset: 100, Keys: 2, Pos: pos(100)},
		&replica.Command{DB: 0, Args: args("SET k v"), Offset: 131, Pos: pos(131)},
		&replica.Command{DB: 2, Args: args("MSET a 1 b 2"), Offset: 170, Pos: pos(170)},
		&replica.Transaction{DB: 0, Start: 170, Offset: 260, Pos: pos(260), Commands: []replica.Command{
			{DB: 0, Args: args("INCR n"), Offset: 200},
			{DB: 0, Args: args("DEL k"), Offset: 245},
		}},
		&replica.Command{DB: 0, Args: args("FLUSHALL"), Offset: 280, Pos: pos(280)},
	}
}

func TestPublisherMessages(t *testing.T) {
	src := &fakeSource{evs: events()}
	sink := &fakeSink{}
	p, err := New(src, sink, Config{Prefix: "rt"})
	require.NoError(t, err)
	defer p.Close()
	require.ErrorIs(t, p.Run(context.Background()), io.EOF)

	type want struct {
		subject string
		id      ID
		kind    monitor.Kind
		batch   string
		tx      bool
		body    string // prefix
	}
	var got []want
	for _, m := range sink.msgs {
		got = append(got, want{string(m.Subject), m.ID, m.Kind, string(rune('0'+m.Batch)) + "/" + string(rune('0'+m.BatchLen)), m.Tx, string(m.Body)})
	}
	ws := []want{
		{"rt.sync", ID{replid, 100, 0}, monitor.KindReset, "0/1", false, `{"kind":"sync","mode":"full","replid":"` + replid + `","offset":100}`},
		{"rt.0.a%2Eb%20c", ID{replid, 100, 0}, monitor.KindSnapshotKey, "0/1", false, `{"kind":"key","db":0,"key":"a.b c","type":"string","expire_ms":null,"value":"v"}`},
		{"rt.1.big", ID{replid, 100, 0}, monitor.KindSnapshotKey, "0/1", false, `{"kind":"key","db":1,"key":"big","type":"set","expire_ms":null,"chunk":0,"last":false,"value":["x","y"]}`},
		{"rt.1.big", ID{replid, 100, 0}, monitor.KindSnapshotKey, "0/1", false, `{"kind":"key","db":1,"key":"big","type":"set","expire_ms":null,"chunk":1,"last":true,"value":["z"]}`},
		{"rt.sync", ID{replid, 100, IndexSnapshotDone}, monitor.KindSnapshotDone, "0/1", false, `{"kind":"snapshot_done","replid":"` + replid + `","offset":100}`},
		{"rt.0.k", ID{replid, 131, 0}, monitor.KindChange, "0/1", false, `{"kind":"cmd","db":0,"offset":131,"args":["SET","k","v"],"keys":["k"]}`},
		{"rt.2.a", ID{replid, 170, 0}, monitor.KindChange, "0/2", false, `{"kind":"cmd","db":2,"offset":170,"args":["MSET","a","1","b","2"],"keys":["a","b"]}`},
		{"rt.2.b", ID{replid, 170, 1}, monitor.KindChange, "1/2", false, `{"kind":"cmd","db":2,"offset":170,"args":["MSET","a","1","b","2"],"keys":["a","b"]}`},
		{"rt.0.n", ID{replid, 260, 0}, monitor.KindChange, "0/2", true, `{"kind":"cmd","db":0,"offset":200,"args":["INCR","n"],"keys":["n"]}`},
		{"rt.0.k", ID{replid, 260, 1}, monitor.KindChange, "1/2", true, `{"kind":"cmd","db":0,"offset":245,"args":["DEL","k"],"keys":["k"]}`},
		{"rt.all", ID{replid, 280, 0}, monitor.KindDBChange, "0/1", false, `{"kind":"cmd","db":0,"offset":280,"args":["FLUSHALL"],"keys":[]}`},
	}
	require.Len(t, got, len(ws))
	for i := range ws {
		if ws[i].kind == monitor.KindSnapshotKey {
			ws[i].id.Index = got[i].id.Index // a hash: checked below
		}
		ws[i].body += "\n"
		require.Equal(t, ws[i], got[i], "message %d", i)
		require.EqualValues(t, i+1, sink.msgs[i].Seq)
		_, err := jsonl.Decode(sink.msgs[i].Body)
		require.NoError(t, err)
	}
	// snapshot ids: distinct per chunk, stable, never 0 or the end's
	require.NotEqual(t, got[2].id.Index, got[3].id.Index)
	require.Equal(t, snapshotIndex(&rdb.Entry{DB: 1, Key: []byte("big"), Chunk: 1}), got[3].id.Index)

	// nothing acknowledged: nothing committed
	p.commitAcked()
	require.Empty(t, src.commits())
	// the snapshot end and SET acknowledged: the position after SET
	sink.acked.Store(6)
	p.commitAcked()
	require.Equal(t, pos(131), src.commits()[len(src.commits())-1])
	// half of MSET: still SET's
	sink.acked.Store(7)
	p.commitAcked()
	require.Equal(t, pos(131), src.commits()[len(src.commits())-1])
	sink.acked.Store(11)
	p.commitAcked()
	require.Equal(t, pos(280), src.commits()[len(src.commits())-1])
	require.Equal(t, pos(280), p.Stats().Committed)
}

func TestPublisherPerDB(t *testing.T) {
	sink := &fakeSink{}
	p, err := New(&fakeSource{evs: events()}, sink, Config{Subjects: PerDB})
	require.NoError(t, err)
	defer p.Close()
	require.ErrorIs(t, p.Run(context.Background()), io.EOF)
	var subjects []string
	for _, m := range sink.msgs {
		subjects = append(subjects, string(m.Subject))
	}
	require.Equal(t, []string{"redtap.sync", "redtap.0", "redtap.1", "redtap.1", "redtap.sync", "redtap.0", "redtap.2", "redtap.2", "redtap.0", "redtap.0", "redtap.all"}, subjects)
}

func TestNewErrors(t *testing.T) {
	_, err := New(nil, &fakeSink{}, Config{})
	require.Error(t, err)
	_, err = New(&fakeSource{}, nil, Config{})
	require.Error(t, err)
	_, err = New(&fakeSource{}, &fakeSink{}, Config{Subjects: 9})
	require.Error(t, err)
}

func TestID(t *testing.T) {
	for _, id := range []ID{{replid, 0, 0}, {replid, 1 << 40, IndexSnapshotDone}, {"", 5, 7}, {"a:b", 1, 2}} {
		got, err := ParseID(id.String())
		require.NoError(t, err)
		require.Equal(t, id, got)
	}
	for _, bad := range []string{"", "x", "a:1", "a:x:1", "a:1:-1", "a:1:x"} {
		_, err := ParseID(bad)
		require.ErrorIs(t, err, ErrBadID, bad)
	}
}

func TestToken(t *testing.T) {
	for key, tok := range map[string]string{
		"":             "%",
		"plain:key-1_": "plain:key-1_",
		"a.b":          "a%2Eb",
		"*>%":          "%2A%3E%25",
		"sp ace\ttab":  "sp%20ace%09tab",
		"é":            "%C3%A9",
		"\x00\x7f":     "%00%7F",
	} {
		require.Equal(t, tok, string(AppendToken(nil, []byte(key))), "%q", key)
		got, err := ParseToken(tok)
		require.NoError(t, err)
		require.Equal(t, key, string(got))
	}
	for _, bad := range []string{"", "a.b", "%", "%2", "%2e", "%41", "a b", "%zz", "*", ">"} {
		if bad == "%" {
			continue // the empty key
		}
		_, err := ParseToken(bad)
		require.ErrorIs(t, err, ErrBadToken, "%q", bad)
	}
}

// FuzzToken: every key becomes one valid subject token that gives the key
// back, and ParseToken never panics; nor does ParseID, whose result prints
// back as its input.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "k", "a.b", "*", ">", "%", "%41", "é", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		tok := string(AppendToken(nil, key))
		require.NotEmpty(t, tok)
		require.False(t, strings.ContainsAny(tok, ". \t\r\n*>"), "%q", tok)
		got, err := ParseToken(tok)
		require.NoError(t, err)
		require.Equal(t, key, got)
		if k, err := ParseToken(string(key)); err == nil {
			require.Equal(t, string(key), string(AppendToken(nil, k)))
		}
		if id, err := ParseID(string(key)); err == nil {
			back, err := ParseID(id.String())
			require.NoError(t, err)
			require.Equal(t, id, back)
		}
	})
}
