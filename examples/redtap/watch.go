package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redtap/redtap/monitor"
	"github.com/redtap/redtap/replica"
)

// Watch's output limits.
const (
	watchKeyMax      = 80          // bytes of a key shown
	watchValueMax    = 40          // bytes of a value shown
	watchProgressGap = time.Second // between two snapshot progress lines
)

func parseWatchArgs(args []string, stderr io.Writer) (*tapOptions, error) {
	o := &tapOptions{}
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	o.registerSelect(fs)
	fs.BoolVar(&o.cluster, "cluster", false, "watch every shard of a Redis Cluster: --addr is a comma list of seed nodes")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: redtap watch --addr HOST:PORT [--match PATTERN ...] [--db N] [flags]\n\n"+
			"Connects to a Redis master as a replica and prints one line per key change,\n"+
			"until SIGINT or SIGTERM:\n\n"+
			"  09:41:07.123 db0 cpu:host1 zadd 1 member(s) score 1733130000123\n"+
			"  09:41:07.125 db0 cpu:host1 expireat at 2030-01-01T00:00:00Z\n"+
			"  09:41:07.130 db0 mem:old rename-from -> mem:new\n\n"+
			"time received, database, key, operation and a summary; db-wide changes\n"+
			"(flushdb, flushall, swapdb) show * for the key. A full resynchronisation\n"+
			"prints a reset line, and its snapshot one \"snapshot: N keys\" line a\n"+
			"second and one at its end, not the keys. Long keys and values are cut\n"+
			"(…), bytes that are not printable UTF-8 are shown as \\xNN.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseConn(fs, args, &o.connFlags, &o.selectFlags); err != nil {
		return nil, err
	}
	return o, nil
}

// runWatch is `redtap watch`: a monitor on a replica, one subscriber with
// the --match, --db and --type filter (also pushed down to the snapshot's
// decoder), and a watchPrinter on stdout.
func runWatch(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	o, err := parseWatchArgs(args, stderr)
	if err != nil {
		return usageExit(err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: watch %s: %v\n", o.addr, err)
		return exitError
	}
	cfg, err := o.config()
	if err != nil {
		return fail(err)
	}
	var r interface {
		monitor.Source
		Close() error
	}
	if o.cluster {
		r, err = dialCluster(ctx, o.addr, cfg)
	} else {
		r, err = replica.Dial(ctx, cfg)
	}
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail(err)
	}
	defer r.Close()
	mon, err := monitor.New(r)
	if err != nil {
		return fail(err)
	}
	defer mon.Close()
	sel := o.selection()
	sub, err := mon.Subscribe(monitor.Filter{Match: sel.Match, DBs: sel.DBs, Types: sel.Types})
	if err != nil {
		return fail(err)
	}
	p := &watchPrinter{w: stdout, now: time.Now}
	for {
		b, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			return fail(err)
		}
		if err := p.batch(b); err != nil {
			if err := (&writeError{err}); outputGone(err) {
				return exitOK
			}
			return fail(&writeError{err})
		}
	}
}

// watchPrinter renders a subscriber's batches as lines for a person: one
// per key change, one per reset and snapshot progress. Each batch is one
// Write, so lines reach a terminal as they come.
type watchPrinter struct {
	w   io.Writer
	now func() time.Time
	buf []byte

	snapKeys     int64     // keys of the snapshot so far
	lastProgress time.Time // of the last snapshot line
}

// batch prints one batch.
func (p *watchPrinter) batch(b *monitor.Batch) error {
	p.buf = p.buf[:0]
	now := p.now()
	for i := range b.Events {
		e := &b.Events[i]
		switch e.Kind {
		case monitor.KindReset:
			p.snapKeys, p.lastProgress = 0, now
			p.stamp(now)
			switch {
			case e.Err != nil:
				p.buf = append(p.buf, "reset: "...)
				p.buf = append(p.buf, e.Err.Error()...)
			case len(e.Value) > 0:
				p.buf = append(p.buf, "reset: full resync, "...)
				p.buf = appendShown(p.buf, e.Value, 200)
			default:
				p.buf = append(p.buf, "reset: full resync"...)
			}
			p.buf = append(p.buf, '\n')
		case monitor.KindSnapshotKey:
			if e.Entry == nil || e.Entry.Chunk == 0 {
				p.snapKeys++
			}
			if now.Sub(p.lastProgress) >= watchProgressGap {
				p.lastProgress = now
				p.snapshotLine(now, false)
			}
		case monitor.KindSnapshotDone:
			p.snapshotLine(now, true)
		case monitor.KindChange, monitor.KindDBChange:
			p.change(now, e)
		}
	}
	if len(p.buf) == 0 {
		return nil
	}
	_, err := p.w.Write(p.buf)
	return err
}

func (p *watchPrinter) snapshotLine(now time.Time, done bool) {
	p.stamp(now)
	p.buf = append(p.buf, "snapshot: "...)
	p.buf = strconv.AppendInt(p.buf, p.snapKeys, 10)
	p.buf = append(p.buf, " keys"...)
	if done {
		p.buf = append(p.buf, ", done"...)
	}
	p.buf = append(p.buf, '\n')
}

// stamp starts a line with the time.
func (p *watchPrinter) stamp(now time.Time) {
	p.buf = now.AppendFormat(p.buf, "15:04:05.000 ")
}

// change prints "TIME dbN KEY OP SUMMARY".
func (p *watchPrinter) change(now time.Time, e *monitor.Event) {
	p.stamp(now)
	b := p.buf
	if e.DB < 0 {
		b = append(b, "db*"...)
	} else {
		b = append(b, "db"...)
		b = strconv.AppendInt(b, int64(e.DB), 10)
	}
	b = append(b, ' ')
	if e.Key == nil {
		b = append(b, '*')
	} else {
		b = appendShown(b, e.Key, watchKeyMax)
	}
	b = append(b, ' ')
	b = append(b, e.Op.String()...)
	p.buf = appendSummary(b, e)
	p.buf = append(p.buf, '\n')
}

// appendSummary appends " " and a short account of what e does, or
// nothing when the operation says it all (del, persist).
func appendSummary(b []byte, e *monitor.Event) []byte {
	n := func(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }
	count := func(b []byte, k int, what string) []byte {
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(k), 10)
		return append(b, what...)
	}
	val := func(b []byte, v []byte) []byte {
		b = append(b, ' ', '"')
		b = appendShown(b, v, watchValueMax)
		return append(b, '"')
	}
	other := func(b []byte, arrow string) []byte {
		b = append(b, arrow...)
		return appendShown(b, e.Other, watchKeyMax)
	}
	switch e.Op {
	case monitor.OpOther:
		b = append(b, ' ')
		b = appendShown(b, e.Args[0], watchValueMax)
		if e.Err != nil {
			b = append(b, ": keys unknown: "...)
			b = append(b, e.Err.Error()...)
			return b
		}
		return count(b, len(e.Args)-1, " arg(s)")
	case monitor.OpExpireAt:
		return appendTime(append(b, " at "...), e.N)
	case monitor.OpRenameFrom, monitor.OpCopyFrom:
		return other(b, " -> ")
	case monitor.OpRenameTo, monitor.OpCopyTo:
		return other(b, " <- ")
	case monitor.OpMoveFrom:
		return n(append(b, " -> db"...), int64(e.OtherDB))
	case monitor.OpMoveTo:
		return n(append(b, " <- db"...), int64(e.OtherDB))
	case monitor.OpSwapDB:
		return n(append(b, " <-> db"...), int64(e.OtherDB))
	case monitor.OpSet:
		b = val(b, e.Value)
		if e.N > 0 {
			b = appendTime(append(b, " expire at "...), e.N)
		}
		if e.M > 0 {
			b = append(n(append(b, " ttl "...), e.M), "ms"...)
		}
		if e.Opts&monitor.OptKeepTTL != 0 {
			b = append(b, " keepttl"...)
		}
		return b
	case monitor.OpAppend:
		return val(b, e.Value)
	case monitor.OpIncrBy:
		return strconv.AppendInt(append(b, ' '), e.N, 10)
	case monitor.OpSetRange:
		return val(n(append(b, " at "...), e.N), e.Value)
	case monitor.OpSetBit:
		return n(append(n(append(b, " bit "...), e.N), " = "...), e.M)
	case monitor.OpHSet:
		return count(b, len(e.Elems)/2, " field(s)")
	case monitor.OpHDel:
		return count(b, len(e.Elems), " field(s)")
	case monitor.OpHIncrBy:
		return n(append(val(b, e.Field), " by "...), e.N)
	case monitor.OpSAdd, monitor.OpSRem, monitor.OpZRem:
		b = count(b, len(e.Elems), " member(s)")
		if e.Other != nil {
			if e.Op == monitor.OpSAdd {
				return other(b, " from ")
			}
			return other(b, " to ")
		}
		return b
	case monitor.OpZAdd:
		b = count(b, len(e.Elems)/2, " member(s)")
		if len(e.Elems) >= 2 {
			if e.Opts&monitor.OptIncr != 0 {
				b = append(b, " incr "...)
			} else {
				b = append(b, " score "...)
			}
			b = appendShown(b, e.Elems[0], watchValueMax)
			if len(e.Elems) > 2 {
				b = append(b, " …"...)
			}
		}
		return b
	case monitor.OpZIncrBy:
		return strconv.AppendFloat(append(val(b, e.Value), " by "...), e.Float, 'g', -1, 64)
	case monitor.OpZPopMin, monitor.OpZPopMax:
		return n(append(b, ' '), e.N)
	case monitor.OpZRemRangeByRank, monitor.OpLTrim:
		return n(append(n(append(b, ' '), e.N), ".."...), e.M)
	case monitor.OpZRemRangeByScore, monitor.OpZRemRangeByLex:
		if len(e.Elems) == 2 {
			b = appendShown(append(b, ' '), e.Elems[0], watchValueMax)
			b = appendShown(append(b, ".."...), e.Elems[1], watchValueMax)
		}
		return b
	case monitor.OpLPush, monitor.OpRPush:
		if e.Other != nil {
			return other(b, " from ")
		}
		return count(b, len(e.Elems), " element(s)")
	case monitor.OpLPop, monitor.OpRPop:
		b = n(append(b, ' '), e.N)
		if e.Other != nil {
			return other(b, " to ")
		}
		return b
	case monitor.OpLSet:
		return val(append(n(append(b, " ["...), e.N), ']'), e.Value)
	case monitor.OpLInsert:
		if e.Opts&monitor.OptBefore != 0 {
			b = append(b, " before"...)
		} else {
			b = append(b, " after"...)
		}
		return val(val(b, e.Field), e.Value)
	case monitor.OpLRem:
		return val(n(append(b, ' '), e.N), e.Value)
	case monitor.OpXAdd:
		b = appendShown(append(b, ' '), e.Value, watchValueMax)
		return count(b, len(e.Elems)/2, " field(s)")
	case monitor.OpXDel:
		return count(b, len(e.Elems), " id(s)")
	case monitor.OpXTrim:
		if e.Opts&monitor.OptMinID != 0 {
			b = append(b, " minid "...)
		} else {
			b = append(b, " maxlen "...)
		}
		return appendShown(b, e.Field, watchValueMax)
	case monitor.OpXGroup:
		b = appendShown(append(b, ' '), e.Args[0], watchValueMax)
		if len(e.Value) > 0 {
			b = appendShown(append(b, ' '), e.Value, watchValueMax)
		}
		return val(append(b, " group"...), e.Field)
	}
	return b
}

// appendTime appends a Unix time in milliseconds as RFC 3339 in UTC, with
// the milliseconds only when there are some.
func appendTime(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.999Z07:00")
}

// appendShown appends s for a terminal: at most max bytes of it (then
// "…"), printable UTF-8 as it is, a backslash as \\ and every other byte
// as \xNN.
func appendShown(b, s []byte, max int) []byte {
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			if c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r != utf8.RuneError && c >= 0x80 && unicode.IsPrint(r) {
			b = append(b, s[i:i+size]...)
			i += size
			continue
		}
		b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		i++
	}
	if cut {
		b = append(b, "…"...)
	}
	return b
}

const hexDigits = "0123456789abcdef"
