package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	stdnet "net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// The collector writes one sorted set per host and metric:
//
//	sysmon:<host>:<metric>   metric: cpu, mem, load, net, disk, procs
//	sysmon:hosts             a set of the host names
//
// Each tick adds one member to each sorted set: a compact JSON object with
// "id" ("<host>:<unix ms>", unique per host and tick), "t" (unix ms) and
// the values; its score is "t". Field names, per metric:
//
//	cpu    total (% busy, all cores), cores ([] % busy per core)
//	mem    used, total (bytes), pct; swapUsed, swapTotal (bytes), swapPct
//	load   l1, l5, l15
//	net    rx, tx (bytes/s, all non-loopback interfaces)
//	disk   read, write (bytes/s, all whole disks)
//	procs  top ([] of {pid, name, cpu (% of one core), rss (bytes)}, 5 busiest)
//
// Rates (cpu, net, disk, procs) come from counter deltas between two ticks,
// so the first tick writes only mem and load. Members older than the
// retention are trimmed with ZREMRANGEBYSCORE in the same MULTI/EXEC as the
// ZADDs: each tick is one transaction on the master.
const (
	keyPrefix = "sysmon:"
	hostsKey  = "sysmon:hosts"
	topProcs  = 5
)

func metricKey(host, metric string) string { return keyPrefix + host + ":" + metric }

// collectorConfig configures a collector.
type collectorConfig struct {
	Host   string        // host name in keys and ids
	Every  time.Duration // tick interval
	Retain time.Duration // members older than this are trimmed
	Log    *slog.Logger
}

// collector samples this machine's metrics with gopsutil and writes them to
// Redis.
type collector struct {
	rdb redis.Cmdable
	cfg collectorConfig

	// Counters of the previous tick, for rates.
	prevAt    time.Time
	prevCPU   []cpu.TimesStat // [0] = all cores, then per core
	prevNet   [2]uint64       // rx, tx
	prevDisk  [2]uint64       // read, write
	prevProcs map[int32]float64
	warned    map[string]bool // metrics whose sampling error was logged
}

func newCollector(rdb redis.Cmdable, cfg collectorConfig) *collector {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &collector{rdb: rdb, cfg: cfg, warned: map[string]bool{}}
}

// Run ticks until ctx is done. Errors of a tick (Redis down, a metric that
// cannot be read) are logged, and the next tick tries again.
func (c *collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Every)
	defer t.Stop()
	failing := false
	for {
		if err := c.tick(ctx, time.Now()); err != nil && ctx.Err() == nil {
			if !failing {
				c.cfg.Log.Warn("sysmon: collector: write failed, retrying every tick", "host", c.cfg.Host, "err", err)
			}
			failing = true
		} else if failing && err == nil {
			c.cfg.Log.Info("sysmon: collector: writing again", "host", c.cfg.Host)
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// record is one sample of one metric.
type record struct {
	metric string
	value  any // a struct whose JSON has the fields of the metric
}

// tick samples and writes one transaction.
func (c *collector) tick(ctx context.Context, now time.Time) error {
	return c.write(ctx, now, c.sample(ctx, now))
}

// write adds the records, each as a member {"id","t",...fields} scored with
// now in unix ms, trims everything older than the retention and adds the
// host to sysmon:hosts, in one MULTI/EXEC.
func (c *collector) write(ctx context.Context, now time.Time, recs []record) error {
	ms := now.UnixMilli()
	id := c.cfg.Host + ":" + strconv.FormatInt(ms, 10)
	cutoff := strconv.FormatInt(now.Add(-c.cfg.Retain).UnixMilli(), 10)
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range recs {
			member, err := encodeMember(id, ms, r.value)
			if err != nil {
				return err
			}
			key := metricKey(c.cfg.Host, r.metric)
			p.ZAdd(ctx, key, redis.Z{Score: float64(ms), Member: member})
			p.ZRemRangeByScore(ctx, key, "-inf", cutoff)
		}
		p.SAdd(ctx, hostsKey, c.cfg.Host)
		return nil
	})
	return err
}

// encodeMember returns {"id":id,"t":ms, <the fields of v>}.
func encodeMember(id string, ms int64, v any) (string, error) {
	fields, err := json.Marshal(v)
	if err != nil || len(fields) < 2 || fields[0] != '{' {
		return "", fmt.Errorf("sysmon: encode %T: %v", v, err)
	}
	head, err := json.Marshal(struct {
		ID string `json:"id"`
		T  int64  `json:"t"`
	}{id, ms})
	if err != nil {
		return "", err
	}
	if len(fields) == 2 { // {}
		return string(head), nil
	}
	return string(head[:len(head)-1]) + "," + string(fields[1:]), nil
}

// Values of the metrics; see the comment on keyPrefix.
type (
	cpuValue struct {
		Total float64   `json:"total"`
		Cores []float64 `json:"cores"`
	}
	memValue struct {
		Used      uint64  `json:"used"`
		Total     uint64  `json:"total"`
		Pct       float64 `json:"pct"`
		SwapUsed  uint64  `json:"swapUsed"`
		SwapTotal uint64  `json:"swapTotal"`
		SwapPct   float64 `json:"swapPct"`
	}
	loadValue struct {
		L1  float64 `json:"l1"`
		L5  float64 `json:"l5"`
		L15 float64 `json:"l15"`
	}
	netValue struct {
		RX float64 `json:"rx"`
		TX float64 `json:"tx"`
	}
	diskValue struct {
		Read  float64 `json:"read"`
		Write float64 `json:"write"`
	}
	procsValue struct {
		Top []procValue `json:"top"`
	}
	procValue struct {
		PID  int32   `json:"pid"`
		Name string  `json:"name"`
		CPU  float64 `json:"cpu"`
		RSS  uint64  `json:"rss"`
	}
)

// sample reads this machine's counters. A metric that cannot be read is
// left out (and logged once).
func (c *collector) sample(ctx context.Context, now time.Time) []record {
	var recs []record
	add := func(metric string, v any, err error) {
		if err != nil {
			if !c.warned[metric] {
				c.cfg.Log.Warn("sysmon: collector: cannot read metric, leaving it out", "metric", metric, "err", err)
				c.warned[metric] = true
			}
			return
		}
		if v != nil {
			recs = append(recs, record{metric, v})
		}
	}
	var elapsed float64
	if !c.prevAt.IsZero() {
		elapsed = now.Sub(c.prevAt).Seconds()
	}
	c.prevAt = now

	v, err := c.sampleCPU(ctx)
	add("cpu", v, err)
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err == nil {
		m := memValue{Used: vm.Used, Total: vm.Total, Pct: round(vm.UsedPercent, 2)}
		if sw, err := mem.SwapMemoryWithContext(ctx); err == nil {
			m.SwapUsed, m.SwapTotal, m.SwapPct = sw.Used, sw.Total, round(sw.UsedPercent, 2)
		}
		add("mem", m, nil)
	} else {
		add("mem", nil, err)
	}
	if la, err := load.AvgWithContext(ctx); err == nil {
		add("load", loadValue{round(la.Load1, 2), round(la.Load5, 2), round(la.Load15, 2)}, nil)
	} else {
		add("load", nil, err)
	}
	if rx, tx, err := netCounters(ctx); err == nil {
		if elapsed > 0 {
			add("net", netValue{rate(rx, c.prevNet[0], elapsed), rate(tx, c.prevNet[1], elapsed)}, nil)
		}
		c.prevNet = [2]uint64{rx, tx}
	} else {
		add("net", nil, err)
	}
	if rd, wr, err := diskCounters(ctx); err == nil {
		if elapsed > 0 {
			add("disk", diskValue{rate(rd, c.prevDisk[0], elapsed), rate(wr, c.prevDisk[1], elapsed)}, nil)
		}
		c.prevDisk = [2]uint64{rd, wr}
	} else {
		add("disk", nil, err)
	}
	top, err := c.sampleProcs(ctx, elapsed)
	add("procs", top, err)
	return recs
}

// sampleCPU returns the busy share of all cores and of each core since the
// previous call (nil on the first call).
func (c *collector) sampleCPU(ctx context.Context) (any, error) {
	total, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return nil, err
	}
	cores, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return nil, err
	}
	cur := append(total[:1:1], cores...)
	prev := c.prevCPU
	c.prevCPU = cur
	if len(prev) != len(cur) {
		return nil, nil // first call, or the number of cores changed
	}
	v := cpuValue{Total: busy(prev[0], cur[0]), Cores: make([]float64, 0, len(cores))}
	for i := 1; i < len(cur); i++ {
		v.Cores = append(v.Cores, busy(prev[i], cur[i]))
	}
	return v, nil
}

// busy returns the share of time (%) that was not idle between a and b.
func busy(a, b cpu.TimesStat) float64 {
	dt := cpuTotal(b) - cpuTotal(a)
	if dt <= 0 {
		return 0
	}
	idle := (b.Idle + b.Iowait) - (a.Idle + a.Iowait)
	return round(min(100, max(0, 100*(dt-idle)/dt)), 1)
}

// cpuTotal is all the time a CPU counted. Guest time is part of user time
// on Linux, so it is not added again.
func cpuTotal(t cpu.TimesStat) float64 {
	return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
}

// netCounters sums received and sent bytes over the non-loopback
// interfaces.
func netCounters(ctx context.Context) (rx, tx uint64, err error) {
	nics, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return 0, 0, err
	}
	loop := map[string]bool{}
	if ifs, err := stdnet.Interfaces(); err == nil {
		for _, i := range ifs {
			if i.Flags&stdnet.FlagLoopback != 0 {
				loop[i.Name] = true
			}
		}
	}
	for _, n := range nics {
		if loop[n.Name] || n.Name == "lo" || strings.HasPrefix(n.Name, "lo0") {
			continue
		}
		rx += n.BytesRecv
		tx += n.BytesSent
	}
	return rx, tx, nil
}

// diskCounters sums read and written bytes over whole disks. On Linux,
// /proc/diskstats also lists partitions and virtual devices stacked on the
// disks (loop, device mapper, md), which would count the same bytes twice:
// only the devices of /sys/block that are not virtual are counted.
func diskCounters(ctx context.Context) (rd, wr uint64, err error) {
	devs, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		return 0, 0, err
	}
	for name, d := range devs {
		if runtime.GOOS == "linux" {
			if _, err := os.Stat("/sys/block/" + name); err != nil {
				continue
			}
			if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") ||
				strings.HasPrefix(name, "dm-") || strings.HasPrefix(name, "md") {
				continue
			}
		}
		rd += d.ReadBytes
		wr += d.WriteBytes
	}
	return rd, wr, nil
}

// sampleProcs returns the topProcs processes that used the most CPU since
// the previous call (nil on the first call), in % of one core.
func (c *collector) sampleProcs(ctx context.Context, elapsed float64) (any, error) {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, err
	}
	type busyProc struct {
		p   *process.Process
		cpu float64
	}
	cur := make(map[int32]float64, len(procs))
	var list []busyProc
	for _, p := range procs {
		t, err := p.TimesWithContext(ctx)
		if err != nil {
			continue // exited, or not ours to read
		}
		secs := t.User + t.System
		cur[p.Pid] = secs
		if prev, ok := c.prevProcs[p.Pid]; ok && elapsed > 0 && secs >= prev {
			list = append(list, busyProc{p, 100 * (secs - prev) / elapsed})
		}
	}
	first := c.prevProcs == nil
	c.prevProcs = cur
	if first {
		return nil, nil
	}
	slices.SortFunc(list, func(a, b busyProc) int {
		if a.cpu != b.cpu {
			if a.cpu > b.cpu {
				return -1
			}
			return 1
		}
		return int(a.p.Pid - b.p.Pid)
	})
	v := procsValue{Top: []procValue{}}
	for _, bp := range list {
		if len(v.Top) == topProcs {
			break
		}
		name, err := bp.p.NameWithContext(ctx)
		if err != nil {
			continue
		}
		pv := procValue{PID: bp.p.Pid, Name: name, CPU: round(bp.cpu, 1)}
		if mi, err := bp.p.MemoryInfoWithContext(ctx); err == nil {
			pv.RSS = mi.RSS
		}
		v.Top = append(v.Top, pv)
	}
	return v, nil
}

// rate returns (cur-prev)/secs, 0 when a counter went backwards (wrapped or
// reset).
func rate(cur, prev uint64, secs float64) float64 {
	if cur < prev || secs <= 0 {
		return 0
	}
	return round(float64(cur-prev)/secs, 0)
}

func round(f float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(f*p) / p
}
