package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redtap/redtap/cluster"
	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/replica"
)

// clusterUsage is added to tap's usage.
const clusterUsage = "tap every shard of a Redis Cluster: --addr is a comma list of seed nodes; " +
	"records carry \"shard\" (and \"move\" for a slot migration's DEL and RESTORE-ASKING); --checkpoint keeps every shard's position"

// runTapCluster is `redtap tap --cluster`: one session per primary, merged
// (package cluster). JSON lines get "shard" (the shard's stable id),
// "shard_offset" (the offset in that shard's stream) and, for the two
// halves of a slot migration, "move":"out" (the source's DEL) or "move":"in"
// (the target's RESTORE-ASKING): replaying one shard's records, moves
// included, rebuilds that shard; replaying them all without the moves
// rebuilds the cluster's keyspace in one server. With --format resp the
// moves are left out.
func runTapCluster(ctx context.Context, o *tapOptions, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "redtap: tap --cluster %s: %v\n", o.addr, err)
		return exitError
	}
	if o.snapshot == "only" {
		return fail(errors.New("--snapshot only is not supported with --cluster"))
	}
	rcfg, err := o.config()
	if err != nil {
		return fail(err)
	}
	cfg := cluster.Config{Replica: rcfg, Moves: cluster.MovesMark, Addrs: seedAddrs(o.addr)}
	if o.format == formatRESP {
		cfg.Moves = cluster.MovesHide
	}
	wcfg := o.selection()
	wcfg.NoSnapshot = rcfg.Snapshot == replica.SnapshotSkip
	if o.checkpoint != "" {
		cp, err := cluster.NewFileCheckpointer(o.checkpoint)
		if err != nil {
			return fail(err)
		}
		saved, err := cp.Load(ctx)
		if err != nil {
			return fail(err)
		}
		cfg.Checkpointer, cfg.ManualCommit, cfg.CheckpointInterval = cp, true, tapCheckpointInterval
		if wcfg.Resumed = len(saved.Shards) > 0; wcfg.Resumed {
			fmt.Fprintf(stderr, "redtap: tap: resuming %d shards from %s\n", len(saved.Shards), o.checkpoint)
		}
	}
	var tag *shardTagger
	var dst io.Writer = stdout
	if o.format == formatJSONL {
		tag = &shardTagger{bw: bufio.NewWriterSize(stdout, outBufSize), bol: true}
		dst = tag
	}
	w, err := newTapWriter(o.format, dst, wcfg)
	if err != nil {
		return fail(err)
	}
	tap, err := cluster.Dial(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail(err)
	}
	run := &clusterRun{tap: tap, w: w, tag: tag}
	err = run.loop(ctx, stderr)
	code := exitOK
	if err != nil && !outputGone(err) && ctx.Err() == nil {
		code = fail(err)
	}
	err = run.flush(true)
	if cerr := tap.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && code == exitOK && !errors.Is(err, syscall.EPIPE) {
		code = fail(err)
	}
	st := tap.Stats()
	var cmds, full, partial int64
	for _, s := range st.PerShard {
		cmds += s.Commands
		full += s.FullSyncs
		partial += s.PartialSyncs
	}
	fmt.Fprintf(stderr, "redtap: tap --cluster: %d shards, %d commands (%d full, %d partial syncs), %d moved keys, %d failovers followed\n",
		st.Shards, cmds, full, partial, st.Moves, st.Redirects)
	return code
}

// clusterRun is one run of tap --cluster.
type clusterRun struct {
	tap *cluster.Tap
	mu  sync.Mutex // the loop writes, the flusher flushes
	w   *tapWriter
	tag *shardTagger
	pos replica.Position // of the last event written
}

func (r *clusterRun) loop(ctx context.Context, stderr io.Writer) error {
	bgCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(tapFlushInterval)
		defer tick.Stop()
		for {
			select {
			case <-bgCtx.Done():
				return
			case <-tick.C:
				_ = r.flush(false) // the error sticks: the next write reports it
			}
		}
	}()
	defer func() {
		stop()
		<-done
	}()
	for {
		ev, err := r.tap.Next(ctx)
		if err != nil {
			return err
		}
		o := r.tap.Origin()
		switch e := ev.(type) {
		case *replica.Sync:
			fmt.Fprintf(stderr, "redtap: tap: %s sync of %d shards\n", e.Mode, len(r.tap.Shards()))
		case *replica.Disconnected:
			fmt.Fprintf(stderr, "redtap: tap: shard %s disconnected from %s: %v\n", o.Shard, e.Addr, e.Err)
		}
		if err := r.write(ev, o); err != nil {
			return &writeError{err}
		}
	}
}

func (r *clusterRun) write(ev replica.Event, o cluster.Origin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tag != nil {
		r.tag.set(o, r.tap)
	}
	if err := r.w.Write(ev); err != nil {
		return err
	}
	if r.tag != nil {
		// The event's lines go through the tagger now, with its origin.
		if err := r.w.Flush(); err != nil {
			return err
		}
	}
	if p := replica.PosOf(ev); !p.IsZero() {
		r.pos = p
	}
	return nil
}

// flush writes out what is buffered and commits its position.
func (r *clusterRun) flush(final bool) error {
	r.mu.Lock()
	var err error
	if final {
		err = r.w.Close()
	} else {
		err = r.w.Flush()
	}
	if r.tag != nil && err == nil {
		err = r.tag.bw.Flush()
	}
	pos := r.pos
	r.mu.Unlock()
	if err == nil {
		r.tap.Commit(pos)
	}
	return err
}

// shardTagger puts the origin's fields at the start of every JSON line
// written through it.
type shardTagger struct {
	bw  *bufio.Writer
	tag []byte
	bol bool
}

func (s *shardTagger) set(o cluster.Origin, tap *cluster.Tap) {
	b := s.tag[:0]
	if o.Shard == "" {
		b = append(b, `"shards":[`...)
		for i, id := range tap.Shards() {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonl.AppendString(b, id)
		}
		b = append(b, "],"...)
	} else {
		b = append(b, `"shard":`...)
		b = jsonl.AppendString(b, o.Shard)
		b = append(b, ',')
		if o.Offset > 0 {
			b = append(b, `"shard_offset":`...)
			b = strconv.AppendInt(b, o.Offset, 10)
			b = append(b, ',')
		}
		if o.Move != cluster.MoveNone {
			b = append(b, `"move":"`...)
			b = append(b, o.Move.String()...)
			b = append(b, `",`...)
		}
	}
	s.tag = b
}

func (s *shardTagger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.bol && p[0] == '{' {
			s.bw.WriteByte('{') //nolint:errcheck // sticky in bw
			s.bw.Write(s.tag)   //nolint:errcheck
			p = p[1:]
			s.bol = false
			continue
		}
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			s.bw.Write(p) //nolint:errcheck
			s.bol = false
			break
		}
		s.bw.Write(p[:i+1]) //nolint:errcheck
		p = p[i+1:]
		s.bol = true
	}
	if _, err := s.bw.Write(nil); err != nil {
		return 0, err
	}
	return n, nil
}

// seedAddrs splits --addr's comma list.
func seedAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// dialCluster is the source of watch and serve --cluster: the merged stream, slot
// moves hidden (a moved key does not change).
func dialCluster(ctx context.Context, addr string, rcfg replica.Config) (*cluster.Tap, error) {
	return cluster.Dial(ctx, cluster.Config{Addrs: seedAddrs(addr), Replica: rcfg})
}
