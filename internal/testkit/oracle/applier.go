// Package oracle holds test-only helpers that check a tap against the truth:
// a mixed write workload for a master (Workload), a sequence writer whose
// numbered writes let a test check exactly-once delivery (SeqWriter,
// CheckSeq), an Applier that rebuilds a dataset on an empty redis-server
// from snapshot records and replicated commands, and Compare, which diffs
// two servers key by key (type, value, absolute expiry) and by DEBUG
// DIGEST.
//
// The target of an Applier is an ordinary master: it expires keys on its
// own clock, possibly before the tapped master sends the DEL. The workload
// keeps short-lived keys in their own keyspace ("ttl:*") and touches them
// only with commands whose replay cannot diverge when the target expires a
// key first; keys of every other keyspace get expiries of an hour or more.
package oracle

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redtap/redtap/internal/testkit/fakemaster"
	"github.com/redtap/redtap/rdb"
)

// Cmd is one replicated command and the database it ran in.
type Cmd struct {
	DB   int
	Args [][]byte
}

// Applier replays snapshot records and commands on a target server through
// one pipelined connection. It is not safe for concurrent use, except for
// Errors and Applied.
type Applier struct {
	conn net.Conn
	w    *bufio.Writer
	buf  []byte
	db   int
	sent int64

	mu      sync.Mutex
	cond    *sync.Cond
	pending []string // descriptions of commands whose replies are due
	got     int64
	errs    []string
	readErr error
	done    chan struct{}

	applied int64 // commands written, snapshot rebuild commands included
	stream  *streamState
}

// streamState accumulates a chunked stream key's metadata.
type streamState struct {
	key []byte
	ids map[rdb.StreamID]bool
}

// ApplierOptions configure the connection to the target.
type ApplierOptions struct {
	Password string
	TLS      *tls.Config
}

// NewApplier connects to the target at addr, which should be empty.
func NewApplier(ctx context.Context, addr string, o ApplierOptions) (*Applier, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if o.TLS != nil {
		tc := tls.Client(conn, o.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	a := &Applier{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), done: make(chan struct{})}
	a.cond = sync.NewCond(&a.mu)
	go a.readLoop(bufio.NewReaderSize(conn, 64<<10))
	if o.Password != "" {
		a.send("AUTH", []byte("AUTH"), []byte(o.Password))
	}
	return a, nil
}

func (a *Applier) readLoop(r *bufio.Reader) {
	defer close(a.done)
	for {
		e, err := readReply(r)
		a.mu.Lock()
		if err != nil {
			if a.readErr == nil {
				a.readErr = err
			}
			a.cond.Broadcast()
			a.mu.Unlock()
			return
		}
		desc := ""
		if len(a.pending) > 0 {
			desc = a.pending[0]
			a.pending = a.pending[1:]
		}
		if e != "" && len(a.errs) < 100 {
			a.errs = append(a.errs, desc+": "+e)
		}
		a.got++
		a.cond.Broadcast()
		a.mu.Unlock()
	}
}

func describe(args [][]byte) string {
	var sb strings.Builder
	for i, a := range args {
		if i == 4 {
			sb.WriteString(" ...")
			break
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		if len(a) > 40 {
			a = a[:40]
		}
		sb.WriteString(strconv.Quote(string(a)))
	}
	return sb.String()
}

// send writes one command; desc names it in error reports.
func (a *Applier) send(desc string, args ...[]byte) {
	a.mu.Lock()
	a.pending = append(a.pending, desc)
	a.mu.Unlock()
	a.buf = fakemaster.AppendCommand(a.buf[:0], args...)
	a.w.Write(a.buf) //nolint:errcheck // sticky in the bufio.Writer, reported by Flush
	a.sent++
	a.applied++
}

func (a *Applier) sendArgs(args ...[]byte) { a.send(describe(args), args...) }

func (a *Applier) selectDB(db int) {
	if db != a.db {
		a.sendArgs([]byte("SELECT"), []byte(strconv.Itoa(db)))
		a.db = db
	}
}

// Command replays one command in database db.
func (a *Applier) Command(db int, args [][]byte) {
	a.selectDB(db)
	a.sendArgs(args...)
}

// Transaction replays commands inside MULTI/EXEC, starting in database db.
func (a *Applier) Transaction(db int, cmds []Cmd) {
	a.selectDB(db)
	a.sendArgs([]byte("MULTI"))
	for _, c := range cmds {
		a.selectDB(c.DB)
		a.sendArgs(c.Args...)
	}
	a.sendArgs([]byte("EXEC"))
}

// Reset empties the target (FLUSHALL and FUNCTION FLUSH), for a full
// resynchronisation.
func (a *Applier) Reset() {
	a.sendArgs([]byte("FLUSHALL"))
	a.sendArgs([]byte("FUNCTION"), []byte("FLUSH"))
}

// Record rebuilds a snapshot record on the target: entries with commands
// (SET, RPUSH, SADD, ZADD, HSET, HPEXPIREAT for field expiries, XADD,
// XSETID, XGROUP, XCLAIM, PEXPIREAT),
// function libraries with FUNCTION LOAD REPLACE. Other records carry
// nothing to rebuild. Chunked entries are applied chunk by chunk.
func (a *Applier) Record(rec rdb.Record) error {
	switch r := rec.(type) {
	case *rdb.Function:
		a.sendArgs([]byte("FUNCTION"), []byte("LOAD"), []byte("REPLACE"), r.Code)
	case *rdb.ModuleAux:
		return errors.New("oracle: module aux data cannot be rebuilt")
	case *rdb.Entry:
		return a.entry(r)
	}
	return nil
}

func fmtScore(f float64) []byte { return strconv.AppendFloat(nil, f, 'g', -1, 64) }

func (a *Applier) entry(e *rdb.Entry) error {
	a.selectDB(e.DB)
	key := e.Key
	b := func(s string) []byte { return []byte(s) }
	switch e.Type {
	case rdb.TypeString:
		a.sendArgs(b("SET"), key, e.Str)
	case rdb.TypeList, rdb.TypeSet:
		if len(e.Elems) > 0 {
			verb := "RPUSH"
			if e.Type == rdb.TypeSet {
				verb = "SADD"
			}
			args := append([][]byte{b(verb), key}, e.Elems...)
			a.sendArgs(args...)
		}
	case rdb.TypeZSet:
		if len(e.Members) > 0 {
			args := [][]byte{b("ZADD"), key}
			for _, m := range e.Members {
				args = append(args, fmtScore(m.Score), m.Name)
			}
			a.sendArgs(args...)
		}
	case rdb.TypeHash:
		if len(e.Fields) > 0 {
			args := [][]byte{b("HSET"), key}
			for _, f := range e.Fields {
				args = append(args, f.Name, f.Value)
			}
			a.sendArgs(args...)
			for _, f := range e.Fields {
				if f.Expire > 0 {
					a.sendArgs(b("HPEXPIREAT"), key, []byte(strconv.FormatInt(f.Expire, 10)), b("FIELDS"), b("1"), f.Name)
				}
			}
		}
	case rdb.TypeStream:
		if err := a.streamChunk(e); err != nil {
			return err
		}
	default:
		return fmt.Errorf("oracle: cannot rebuild %s key %q", e.Type, e.Key)
	}
	if e.Last && e.Expire != -1 {
		a.sendArgs(b("PEXPIREAT"), key, []byte(strconv.FormatInt(e.Expire, 10)))
	}
	return nil
}

func (a *Applier) streamChunk(e *rdb.Entry) error {
	b := func(s string) []byte { return []byte(s) }
	if e.Chunk == 0 || a.stream == nil {
		a.stream = &streamState{key: append([]byte(nil), e.Key...), ids: map[rdb.StreamID]bool{}}
	}
	st := a.stream
	if e.Stream != nil {
		for _, se := range e.Stream.Entries {
			args := append([][]byte{b("XADD"), e.Key, b(se.ID.String())}, se.Fields...)
			a.sendArgs(args...)
			st.ids[se.ID] = true
		}
	}
	if !e.Last {
		return nil
	}
	a.stream = nil
	if e.Stream == nil || e.Stream.Meta == nil {
		return fmt.Errorf("oracle: stream %q: last chunk without metadata", e.Key)
	}
	m := e.Stream.Meta
	if len(st.ids) == 0 {
		// An empty stream: create it through a throw-away group.
		a.sendArgs(b("XGROUP"), b("CREATE"), e.Key, b("__oracle_tmp"), b("$"), b("MKSTREAM"))
		a.sendArgs(b("XGROUP"), b("DESTROY"), e.Key, b("__oracle_tmp"))
	}
	a.sendArgs(b("XSETID"), e.Key, b(m.LastID.String()),
		b("ENTRIESADDED"), b(strconv.FormatUint(m.EntriesAdded, 10)),
		b("MAXDELETEDID"), b(m.MaxDeletedID.String()))
	for _, g := range m.Groups {
		args := [][]byte{b("XGROUP"), b("CREATE"), e.Key, g.Name, b(g.LastID.String())}
		if g.EntriesRead >= 0 {
			args = append(args, b("ENTRIESREAD"), b(strconv.FormatInt(g.EntriesRead, 10)))
		}
		a.sendArgs(args...)
		pel := make(map[rdb.StreamID]rdb.StreamPending, len(g.PEL))
		for _, p := range g.PEL {
			pel[p.ID] = p
		}
		for _, c := range g.Consumers {
			a.sendArgs(b("XGROUP"), b("CREATECONSUMER"), e.Key, g.Name, c.Name)
			for _, id := range c.PEL {
				p, ok := pel[id]
				if !ok {
					return fmt.Errorf("oracle: stream %q group %q: consumer %q owns %s, not in the group's PEL", e.Key, g.Name, c.Name, id)
				}
				if !st.ids[id] {
					// XCLAIM FORCE drops ids whose entry is gone, and XADD
					// cannot put an entry back below the stream's top.
					return fmt.Errorf("oracle: stream %q group %q: pending entry %s was deleted from the stream: not rebuildable with commands", e.Key, g.Name, id)
				}
				a.sendArgs(b("XCLAIM"), e.Key, g.Name, c.Name, b("0"), b(id.String()),
					b("TIME"), b(strconv.FormatInt(p.DeliveryTime, 10)),
					b("RETRYCOUNT"), b(strconv.FormatUint(p.DeliveryCount, 10)), b("FORCE"), b("JUSTID"))
			}
		}
	}
	return nil
}

// Flush sends what is buffered and waits for every reply.
func (a *Applier) Flush(ctx context.Context) error {
	if err := a.w.Flush(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		a.mu.Lock()
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	defer stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.got < a.sent && a.readErr == nil && ctx.Err() == nil {
		a.cond.Wait()
	}
	if a.got < a.sent {
		if a.readErr != nil {
			return a.readErr
		}
		return ctx.Err()
	}
	return nil
}

// Applied counts the commands sent to the target so far.
func (a *Applier) Applied() int64 { return a.applied }

// Errors returns the error replies received so far (at most 100), each
// prefixed with the command that caused it. Replaying a tap faithfully
// yields none.
func (a *Applier) Errors() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.errs...)
}

// Close closes the connection and waits for the reply reader.
func (a *Applier) Close() error {
	err := a.conn.Close()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		return errors.New("oracle: applier reader did not stop")
	}
	return err
}
