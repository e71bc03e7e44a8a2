package assembler

import (
	"strconv"
	"testing"
	"time"

	"github.com/redtap/redtap/monitor"
)

type nopSink struct{}

func (nopSink) Send(Message) bool { return true }

// BenchmarkApplyTick measures one ZADD batch (a sysmon record, a trim by
// score) applied and delivered with Tick to n subscribers of one selection:
// ns and allocations per batch. 16 keys of 300-entry windows.
func BenchmarkApplyTick(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			c := newClock()
			a, err := New(Config{Windows: []Window{{Match: "sysmon:*", Limit: 300, DedupID: true}}, Clock: c.Now, Interval: AtOnce})
			if err != nil {
				b.Fatal(err)
			}
			for range n {
				if _, err := a.Subscribe(nopSink{}, []string{"sysmon:*"}, -1); err != nil {
					b.Fatal(err)
				}
			}
			fd := &feeder{t: b, a: a}
			fd.snapshot()
			keys := make([]string, 16)
			for i := range keys {
				keys[i] = "sysmon:h" + strconv.Itoa(i) + ":cpu"
			}
			var evs []monitor.Event
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ms := c.ms() + int64(i)
				key := keys[i%len(keys)]
				member := `{"id":"h:` + strconv.FormatInt(ms, 10) + `","cpu":12.5,"load":[0.5,0.4,0.3]}`
				evs = monitor.AppendEvents(evs[:0], 0, bargs([]string{"ZADD", key, strconv.FormatInt(ms, 10), member}))
				evs = monitor.AppendEvents(evs, 0, bargs([]string{"ZREMRANGEBYSCORE", key, "-inf", strconv.FormatInt(ms-5000, 10)}))
				fd.batch(evs, true)
				c.Add(time.Millisecond)
				a.Tick()
			}
		})
	}
}
