package oracle

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

// MaxDiffs bounds the differences Compare reports.
const MaxDiffs = 20

// Compare diffs the datasets of two servers in databases 0..dbs-1 key by key
// (type, value, absolute expiry in ms via PEXPIRETIME, hash field expiries
// via HPEXPIRETIME where the server has it, stream metadata,
// consumer groups and their pending entries), then the function libraries,
// then DEBUG DIGEST over all databases. want and got are go-redis options
// of the two servers (their DB field is ignored). It returns at most
// MaxDiffs human-readable differences; none means equal.
//
// Run it on settled servers: no writes, no keys left to expire.
func Compare(ctx context.Context, want, got *redis.Options, dbs int, opts ...CompareOption) ([]string, error) {
	var co compareOpts
	for _, o := range opts {
		o(&co)
	}
	var diffs []string
	add := func(format string, a ...any) bool {
		diffs = append(diffs, fmt.Sprintf(format, a...))
		return len(diffs) < MaxDiffs
	}
	for db := 0; db < dbs; db++ {
		w, g := dbClient(want, db), dbClient(got, db)
		more, err := compareDB(ctx, db, w, g, add, co)
		w.Close()
		g.Close()
		if err != nil {
			return diffs, err
		}
		if !more {
			return diffs, nil
		}
	}
	w, g := dbClient(want, 0), dbClient(got, 0)
	defer w.Close()
	defer g.Close()
	wl, err := libraries(ctx, w)
	if err != nil {
		return diffs, err
	}
	gl, err := libraries(ctx, g)
	if err != nil {
		return diffs, err
	}
	if !slices.Equal(wl, gl) {
		add("function libraries differ: want %q, got %q", wl, gl)
	}
	wd, err := w.Do(ctx, "DEBUG", "DIGEST").Text()
	if err != nil {
		return diffs, err
	}
	gd, err := g.Do(ctx, "DEBUG", "DIGEST").Text()
	if err != nil {
		return diffs, err
	}
	if wd != gd {
		add("DEBUG DIGEST differs: want %s, got %s", wd, gd)
	}
	return diffs, nil
}

// CompareOption changes what Compare checks.
type CompareOption func(*compareOpts)

type compareOpts struct {
	idleConsumers bool // leave out consumers without pending entries
}

// IgnoreIdleConsumers leaves stream consumers without pending entries out
// of the comparison. Redis 7.2+ and Valkey create a consumer for an
// XREADGROUP, XCLAIM or XAUTOCLAIM that hands it nothing without
// propagating that, so a real replica lacks such consumers too.
func IgnoreIdleConsumers() CompareOption {
	return func(o *compareOpts) { o.idleConsumers = true }
}

// CompareOn returns the options that compare datasets of server k and
// a replay of its replication stream: what its own replicas keep equal.
func CompareOn(k redistest.Kind) []CompareOption {
	if !k.Has(redistest.IdleConsumersReplicate) {
		return []CompareOption{IgnoreIdleConsumers()}
	}
	return nil
}

func dbClient(o *redis.Options, db int) *redis.Client {
	c := *o
	c.DB = db
	c.Protocol = 2
	c.DisableIdentity = true
	return redis.NewClient(&c)
}

func libraries(ctx context.Context, c *redis.Client) ([]string, error) {
	libs, err := c.FunctionList(ctx, redis.FunctionListQuery{WithCode: true}).Result()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range libs {
		out = append(out, l.Name+"\x00"+l.Code)
	}
	sort.Strings(out)
	return out, nil
}

// Keys returns the keys of the client's database, sorted.
func Keys(ctx context.Context, c *redis.Client) ([]string, error) {
	var keys []string
	it := c.Scan(ctx, 0, "", 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return slices.Compact(keys), nil
}

func compareDB(ctx context.Context, db int, w, g *redis.Client, add func(string, ...any) bool, co compareOpts) (bool, error) {
	wk, err := Keys(ctx, w)
	if err != nil {
		return false, err
	}
	gk, err := Keys(ctx, g)
	if err != nil {
		return false, err
	}
	var common []string
	i, j := 0, 0
	for i < len(wk) || j < len(gk) {
		switch {
		case j == len(gk) || (i < len(wk) && wk[i] < gk[j]):
			if !add("db %d: key %q missing", db, wk[i]) {
				return false, nil
			}
			i++
		case i == len(wk) || gk[j] < wk[i]:
			if !add("db %d: unexpected key %q", db, gk[j]) {
				return false, nil
			}
			j++
		default:
			common = append(common, wk[i])
			i++
			j++
		}
	}
	for _, k := range common {
		wv, err := describeKey(ctx, w, k, co)
		if err != nil {
			return false, fmt.Errorf("db %d key %q: %w", db, k, err)
		}
		gv, err := describeKey(ctx, g, k, co)
		if err != nil {
			return false, fmt.Errorf("db %d key %q: %w", db, k, err)
		}
		if wv != gv {
			if !add("db %d key %q differs:\nwant %s\ngot  %s", db, k, clipAt(wv, gv), clipAt(gv, wv)) {
				return false, nil
			}
		}
	}
	return true, nil
}

// clipAt shortens s to a window around its first difference from t.
func clipAt(s, t string) string {
	i := 0
	for i < len(s) && i < len(t) && s[i] == t[i] {
		i++
	}
	from, to := max(0, i-200), min(len(s), i+300)
	out := s[from:to]
	if from > 0 {
		out = s[:min(from, 40)] + "..." + out
	}
	if to < len(s) {
		out += "..."
	}
	return out
}

// describeKey renders a key's type, expiry and value canonically (sets and
// hashes sorted, stream groups without the fields that replication itself
// does not keep equal: consumers' seen-time, groups' entries-read and lag).
func describeKey(ctx context.Context, c *redis.Client, k string, co compareOpts) (string, error) {
	typ, err := c.Type(ctx, k).Result()
	if err != nil {
		return "", err
	}
	exp, err := c.Do(ctx, "PEXPIRETIME", k).Int64()
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s exp=%d ", typ, exp)
	switch typ {
	case "string":
		v, err := c.Get(ctx, k).Result()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "%q", v)
	case "list":
		v, err := c.LRange(ctx, k, 0, -1).Result()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "%q", v)
	case "set":
		v, err := c.SMembers(ctx, k).Result()
		if err != nil {
			return "", err
		}
		sort.Strings(v)
		fmt.Fprintf(&sb, "%q", v)
	case "zset":
		v, err := c.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			return "", err
		}
		for _, z := range v {
			fmt.Fprintf(&sb, "%q=%v ", z.Member, z.Score)
		}
	case "hash":
		v, err := c.HGetAll(ctx, k).Result()
		if err != nil {
			return "", err
		}
		fields := make([]string, 0, len(v))
		for f, x := range v {
			fields = append(fields, fmt.Sprintf("%q=%q", f, x))
		}
		sort.Strings(fields)
		sb.WriteString(strings.Join(fields, " "))
		if err := describeFieldTTLs(ctx, c, k, v, &sb); err != nil {
			return "", err
		}
	case "stream":
		if err := describeStream(ctx, c, k, &sb, co); err != nil {
			return "", err
		}
	case "none":
	default:
		return "", fmt.Errorf("oracle: cannot compare type %s", typ)
	}
	return sb.String(), nil
}

// describeFieldTTLs adds the hash's field expiries (HPEXPIRETIME, Redis
// 7.4+; nothing on servers without it).
func describeFieldTTLs(ctx context.Context, c *redis.Client, k string, h map[string]string, sb *strings.Builder) error {
	if len(h) == 0 {
		return nil
	}
	fields := slices.Sorted(maps.Keys(h))
	args := []any{"HPEXPIRETIME", k, "FIELDS", len(fields)}
	for _, f := range fields {
		args = append(args, f)
	}
	ttls, err := c.Do(ctx, args...).Int64Slice()
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "unknown command") {
			return nil
		}
		return err
	}
	for i, x := range ttls {
		if x >= 0 {
			fmt.Fprintf(sb, " ttl(%q)=%d", fields[i], x)
		}
	}
	return nil
}

func describeStream(ctx context.Context, c *redis.Client, k string, sb *strings.Builder, co compareOpts) error {
	s, err := c.XInfoStreamFull(ctx, k, 0).Result()
	if err != nil {
		return err
	}
	fmt.Fprintf(sb, "len=%d last=%s maxdel=%s added=%d first=%s entries=[", s.Length, s.LastGeneratedID,
		s.MaxDeletedEntryID, s.EntriesAdded, s.RecordedFirstEntryID)
	for _, e := range s.Entries {
		fmt.Fprintf(sb, "%s:%v ", e.ID, sortedMap(e.Values))
	}
	sb.WriteString("] groups=[")
	groups := s.Groups
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	for _, g := range groups {
		// Not entries-read and lag: Redis 7.0 replicates XREADGROUP as
		// XCLAIM ... LASTID, which does not carry the group's entries-read,
		// so a real replica's entries-read and lag differ from its master's
		// as well (seen on 7.0.15).
		fmt.Fprintf(sb, "{%s last=%s pel=%d [", g.Name, g.LastDeliveredID, g.PelCount)
		for _, p := range g.Pending {
			fmt.Fprintf(sb, "%s@%s t=%d n=%d ", p.ID, p.Consumer, p.DeliveryTime.UnixMilli(), p.DeliveryCount)
		}
		sb.WriteString("] consumers=[")
		cons := g.Consumers
		sort.Slice(cons, func(i, j int) bool { return cons[i].Name < cons[j].Name })
		for _, cn := range cons {
			if co.idleConsumers && cn.PelCount == 0 {
				continue
			}
			fmt.Fprintf(sb, "%s pel=%d(", cn.Name, cn.PelCount)
			for _, p := range cn.Pending {
				fmt.Fprintf(sb, "%s ", p.ID)
			}
			sb.WriteString(") ")
		}
		sb.WriteString("]} ")
	}
	sb.WriteString("]")
	return nil
}

func sortedMap(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%q=%q,", k, fmt.Sprint(m[k]))
	}
	return sb.String()
}
