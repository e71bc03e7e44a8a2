package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Node is a member of a shard as the cluster reports it.
type Node struct {
	ID      string
	Addr    string // host:port (the TLS port when Config.Replica.TLS is set and the node has one)
	Primary bool
	Healthy bool // online, not failing
}

// ShardInfo is one shard of the topology: a primary and its replicas.
type ShardInfo struct {
	// ID is CLUSTER SHARDS' shard id where the server reports one, else
	// empty (the tap then names the shard after the node id of its first
	// primary).
	ID    string
	Slots int // how many slots it serves
	Nodes []Node
}

// Primary returns the healthy primary of the shard, if any.
func (s *ShardInfo) Primary() (Node, bool) {
	for _, n := range s.Nodes {
		if n.Primary && n.Healthy {
			return n, true
		}
	}
	return Node{}, false
}

// Discover asks the nodes at addrs, in turn, for the cluster's shards:
// CLUSTER SHARDS (Redis 7.0+, Valkey), or CLUSTER NODES where that is
// unknown. It returns the first answer, sorted by primary address, or an
// error matching ErrDiscovery when no node answers.
func Discover(ctx context.Context, cfg Config, addrs []string) ([]ShardInfo, error) {
	cfg.defaults()
	return discover(ctx, &cfg, addrs)
}

func discover(ctx context.Context, cfg *Config, addrs []string) ([]ShardInfo, error) {
	var errs []error
	for _, a := range addrs {
		sh, err := discoverAt(ctx, cfg, a)
		if err == nil {
			return sh, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
	}
	return nil, fmt.Errorf("%w: %w", ErrDiscovery, errors.Join(errs...))
}

func discoverAt(ctx context.Context, cfg *Config, addr string) ([]ShardInfo, error) {
	c, err := dialCtl(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	host, _, _ := net.SplitHostPort(addr)
	v, err := c.do(ctx, "CLUSTER", "SHARDS")
	var out []ShardInfo
	if err == nil {
		out, err = parseShards(v, host, cfg.Replica.TLS != nil)
	} else {
		var re respError
		if !errors.As(err, &re) {
			return nil, err
		}
		if strings.Contains(string(re), "cluster support disabled") {
			return nil, ErrNotCluster
		}
		v, err = c.do(ctx, "CLUSTER", "NODES")
		if err != nil {
			return nil, err
		}
		out, err = parseNodes(str(v), host)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return firstAddr(out[i]) < firstAddr(out[j]) })
	return out, nil
}

func firstAddr(s ShardInfo) string {
	if p, ok := s.Primary(); ok {
		return p.Addr
	}
	if len(s.Nodes) > 0 {
		return s.Nodes[0].Addr
	}
	return ""
}

// pairs reads a RESP2 map (a flat array of name, value).
func pairs(v any) (map[string]any, bool) {
	a, ok := v.([]any)
	if !ok || len(a)%2 != 0 {
		return nil, false
	}
	m := make(map[string]any, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		m[str(a[i])] = a[i+1]
	}
	return m, true
}

// parseShards reads CLUSTER SHARDS. host replaces an empty or unknown ip.
func parseShards(v any, host string, useTLS bool) ([]ShardInfo, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errBadReply
	}
	var out []ShardInfo
	for _, e := range arr {
		m, ok := pairs(e)
		if !ok {
			return nil, errBadReply
		}
		var s ShardInfo
		s.ID = str(m["id"])
		if sl, ok := m["slots"].([]any); ok {
			for i := 0; i+1 < len(sl); i += 2 {
				lo, _ := sl[i].(int64)
				hi, _ := sl[i+1].(int64)
				s.Slots += int(hi - lo + 1)
			}
		}
		nodes, _ := m["nodes"].([]any)
		for _, nv := range nodes {
			nm, ok := pairs(nv)
			if !ok {
				return nil, errBadReply
			}
			ip := str(nm["ip"])
			if ip == "" || ip == "?" {
				ip = host
			}
			port := str(nm["port"])
			if useTLS && str(nm["tls-port"]) != "" {
				port = str(nm["tls-port"])
			}
			n := Node{
				ID:      str(nm["id"]),
				Addr:    net.JoinHostPort(ip, port),
				Primary: str(nm["role"]) == "master",
				Healthy: str(nm["health"]) == "online",
			}
			s.Nodes = append(s.Nodes, n)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseNodes reads CLUSTER NODES and groups the nodes by primary.
func parseNodes(txt, host string) ([]ShardInfo, error) {
	type line struct {
		n     Node
		of    string
		slots int
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(txt))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		addr := f[1]
		if i := strings.IndexByte(addr, '@'); i >= 0 {
			addr = addr[:i]
		}
		if i := strings.IndexByte(addr, ','); i >= 0 {
			addr = addr[:i] // ",hostname"
		}
		if strings.HasPrefix(addr, ":") {
			addr = host + addr
		}
		flags := "," + f[2] + ","
		l := line{n: Node{ID: f[0], Addr: addr}}
		l.n.Primary = strings.Contains(flags, ",master,")
		l.n.Healthy = !strings.Contains(flags, ",fail") && !strings.Contains(flags, ",handshake,") &&
			!strings.Contains(flags, ",noaddr,") && f[7] == "connected"
		if f[3] != "-" {
			l.of = f[3]
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, errBadReply
			}
			b := a
			if ok {
				if b, err = strconv.Atoi(hi); err != nil {
					return nil, errBadReply
				}
			}
			l.slots += b - a + 1
		}
		lines = append(lines, l)
	}
	var out []ShardInfo
	idx := map[string]int{}
	for _, l := range lines {
		if l.n.Primary {
			idx[l.n.ID] = len(out)
			out = append(out, ShardInfo{Slots: l.slots, Nodes: []Node{l.n}})
		}
	}
	for _, l := range lines {
		if l.n.Primary {
			continue
		}
		if i, ok := idx[l.of]; ok {
			out[i].Nodes = append(out[i].Nodes, l.n)
		} else {
			out = append(out, ShardInfo{Nodes: []Node{l.n}})
		}
	}
	return out, nil
}

// replOffset asks a primary for its replication id and offset (INFO
// replication).
func replOffset(ctx context.Context, c *ctlConn) (string, int64, error) {
	v, err := c.do(ctx, "INFO", "replication")
	if err != nil {
		return "", 0, err
	}
	var id string
	off := int64(-1)
	for l := range strings.SplitSeq(str(v), "\n") {
		l = strings.TrimSpace(l)
		if s, ok := strings.CutPrefix(l, "master_replid:"); ok {
			id = s
		} else if s, ok := strings.CutPrefix(l, "master_repl_offset:"); ok {
			off, _ = strconv.ParseInt(s, 10, 64)
		}
	}
	if off < 0 {
		return "", 0, errBadReply
	}
	return id, off, nil
}
