package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/redtap/redtap/replica"
)

// progress shows on one terminal line how much of the snapshot has arrived.
type progress struct {
	w     io.Writer // stderr
	on    bool      // w is a terminal
	stats func() replica.Stats
	last  time.Time
	shown bool // a progress line without its newline is on w
}

func newProgress(stderr io.Writer, stats func() replica.Stats) *progress {
	return &progress{w: stderr, on: isTerminal(stderr), stats: stats}
}

// update shows the progress, at most every tapProgressInterval until the
// snapshot is done.
func (p *progress) update(done bool) {
	if !p.on {
		return
	}
	now := time.Now()
	if !done && now.Sub(p.last) < tapProgressInterval {
		return
	}
	p.last = now
	st := p.stats()
	mb := float64(st.SnapshotBytes) / (1 << 20)
	if st.SnapshotSize > 0 {
		fmt.Fprintf(p.w, "\rredtap: snapshot %.1f of %.1f MiB (%.0f%%)", mb, float64(st.SnapshotSize)/(1<<20),
			100*float64(st.SnapshotBytes)/float64(st.SnapshotSize))
	} else {
		fmt.Fprintf(p.w, "\rredtap: snapshot %.1f MiB", mb)
	}
	p.shown = !done
	if done {
		fmt.Fprintln(p.w, ", done")
	}
}

// interrupt ends a progress line that another message is to follow.
func (p *progress) interrupt() {
	if p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
