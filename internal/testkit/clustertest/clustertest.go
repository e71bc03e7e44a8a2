// Package clustertest starts a real Redis Cluster for tests: redis-server
// processes on free loopback ports with cluster-enabled, joined by
// redis-cli --cluster create. When redis-server or redis-cli is missing the
// test is skipped, unless REDTAP_REQUIRE_REDIS is set (then it fails), as
// with package redistest.
package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

// Options configure Start.
type Options struct {
	// Primaries and ReplicasPer give the shape (defaults 3 and 1; a
	// negative ReplicasPer for none).
	Primaries   int
	ReplicasPer int
	// NodeTimeout is cluster-node-timeout (default 1000ms): how soon a
	// dead primary is failed over.
	NodeTimeout time.Duration
	// Args are extra configuration directives for every node.
	Args []string
	// Kind is the server of every node (default: redis-server on PATH).
	Kind *redistest.Kind
}

// Cluster is a running cluster.
type Cluster struct {
	Nodes []*redistest.Server
	t     testing.TB
	cli   string
}

// Start starts the nodes, creates the cluster and waits until every node
// reports cluster_state:ok and every replica is linked to its primary.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Primaries == 0 {
		o.Primaries = 3
	}
	if o.ReplicasPer == 0 {
		o.ReplicasPer = 1
	}
	o.ReplicasPer = max(o.ReplicasPer, 0)
	if o.NodeTimeout == 0 {
		o.NodeTimeout = time.Second
	}
	c := &Cluster{t: t, cli: redistest.Binary(t, "redis-cli")}
	n := o.Primaries * (1 + o.ReplicasPer)
	args := append([]string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(o.NodeTimeout / time.Millisecond)),
		"--cluster-replica-validity-factor", "0",
		"--repl-diskless-sync-delay", "0",
		"--appendonly", "no",
	}, o.Args...)
	addrs := make([]string, 0, n)
	for range n {
		so := redistest.Options{Args: args}
		if o.Kind != nil {
			so = o.Kind.Options(so)
		}
		s := redistest.Start(t, so)
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr)
	}
	cmdArgs := append([]string{"--cluster", "create"}, addrs...)
	cmdArgs = append(cmdArgs, "--cluster-replicas", strconv.Itoa(o.ReplicasPer), "--cluster-yes")
	if out, err := exec.Command(c.cli, cmdArgs...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy()
	return c
}

// Seeds returns every node's address.
func (c *Cluster) Seeds() []string {
	a := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		a[i] = s.Addr
	}
	return a
}

// Client returns a cluster client, closed when the test ends. It learns
// the topology from the live primaries (after a failover, a client made
// earlier may take long to stop asking the dead node).
func (c *Cluster) Client() *redis.ClusterClient {
	var addrs []string
	for _, p := range c.Primaries() {
		addrs = append(addrs, p.Addr)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs, Protocol: 2, DisableIdentity: true,
		MaxRedirects: 16, MaxRetries: 10,
		MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond,
	})
	c.t.Cleanup(func() { cc.Close() })
	return cc
}

// Node returns the node listening on addr, or nil.
func (c *Cluster) Node(addr string) *redistest.Server {
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// NodeInfo is one line of CLUSTER NODES.
type NodeInfo struct {
	ID, Addr string
	Primary  bool
	Fail     bool
	Of       string // a replica's primary id
	Slots    int    // slots served (primaries)
}

// Topology returns CLUSTER NODES as seen by the first live node.
func (c *Cluster) Topology() []NodeInfo {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DisableIdentity: true, Protocol: 2})
		txt, err := cl.ClusterNodes(ctx).Result()
		cl.Close()
		if err != nil {
			continue
		}
		return parseNodes(txt)
	}
	c.t.Fatalf("clustertest: no node answers CLUSTER NODES")
	return nil
}

func parseNodes(txt string) []NodeInfo {
	var out []NodeInfo
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
		ni := NodeInfo{ID: f[0], Addr: addr}
		flags := "," + f[2] + ","
		ni.Primary = strings.Contains(flags, ",master,")
		ni.Fail = strings.Contains(flags, ",fail,") || strings.Contains(flags, ",fail?,")
		if f[3] != "-" {
			ni.Of = f[3]
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if ok {
				b, _ = strconv.Atoi(hi)
			}
			ni.Slots += b - a + 1
		}
		out = append(out, ni)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// Primaries returns the live primaries serving slots.
func (c *Cluster) Primaries() []NodeInfo {
	var p []NodeInfo
	for _, n := range c.Topology() {
		if n.Primary && !n.Fail && n.Slots > 0 {
			p = append(p, n)
		}
	}
	return p
}

// ReplicaOf returns a live replica of the primary with that id.
func (c *Cluster) ReplicaOf(id string) (NodeInfo, bool) {
	for _, n := range c.Topology() {
		if !n.Primary && !n.Fail && n.Of == id {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// WaitHealthy waits until every live node says cluster_state:ok, agrees on
// which primaries serve slots, none of which is a node that does not answer
// (a killed primary is replaced), and every live replica has its link up.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		if last = c.health(ctx); last == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("clustertest: cluster not healthy: %s", last)
}

func (c *Cluster) health(ctx context.Context) string {
	views := map[string]bool{}
	dead := map[string]bool{}
	var lists [][]NodeInfo
	for _, s := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DisableIdentity: true, Protocol: 2})
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			cl.Close()
			dead[s.Addr] = true // a killed node
			continue
		}
		repl, err := cl.Info(ctx, "replication").Result()
		nodes, err2 := cl.ClusterNodes(ctx).Result()
		cl.Close()
		if err != nil || err2 != nil {
			return s.Addr + ": " + fmt.Sprint(err, err2)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			if strings.Contains(repl, "role:slave") {
				// A replica whose view of the cluster lags (seen
				// under load after a failover) serves no slot: the
				// primaries' views below decide.
				continue
			}
			return s.Addr + " (a primary) not ok"
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return s.Addr + " replica link down"
		}
		lists = append(lists, parseNodes(nodes))
	}
	for _, l := range lists {
		var prim []string
		for _, n := range l {
			if n.Primary && n.Slots > 0 && (n.Fail || dead[n.Addr]) {
				// A failed or killed node that is still a primary
				// with slots keeps the cluster waiting for a
				// failover (right after a SIGKILL, before the
				// failure is detected, the others still list it).
				return n.Addr + " down, not yet replaced"
			}
			if n.Primary && n.Slots > 0 {
				prim = append(prim, n.Addr+"/"+strconv.Itoa(n.Slots))
			}
		}
		views[strings.Join(prim, ",")] = true
	}
	if len(views) != 1 {
		return fmt.Sprintf("nodes disagree on the primaries: %v", views)
	}
	return ""
}

// QuiesceForKill pauses the writes of the primary at addr (CLIENT PAUSE
// WRITE) and waits until its replicas have all it wrote: a SIGKILL then
// loses no acknowledged write. Redis replicates asynchronously, so a
// primary killed while a replica lags takes those writes with it (the
// cluster loses them, and a tap that had read them must resynchronise
// that shard in full); this is for tests of the other case.
func (c *Cluster) QuiesceForKill(addr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := c.Node(addr)
	pc := n.Client()
	defer pc.Close()
	if err := pc.Do(ctx, "CLIENT", "PAUSE", "30000", "WRITE").Err(); err != nil {
		c.t.Fatalf("CLIENT PAUSE on %s: %v", addr, err)
	}
	for ctx.Err() == nil {
		info, err := n.Info(ctx, "replication")
		if err == nil && caughtUp(info) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("the replicas of %s did not catch up", addr)
}

// caughtUp reports whether every replica in a primary's INFO replication
// has its master_repl_offset.
func caughtUp(info map[string]string) bool {
	off := info["master_repl_offset"]
	n, _ := strconv.Atoi(info["connected_slaves"])
	if off == "" || n == 0 {
		return false
	}
	for i := range n {
		r := info["slave"+strconv.Itoa(i)] + ","
		if !strings.Contains(r, "state=online,") || !strings.Contains(r, ",offset="+off+",") {
			return false
		}
	}
	return true
}

// Failover runs CLUSTER FAILOVER on the replica at addr and waits until it
// is a primary.
func (c *Cluster) Failover(addr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, Protocol: 2})
	defer cl.Close()
	if err := cl.ClusterFailover(ctx).Err(); err != nil {
		c.t.Fatalf("CLUSTER FAILOVER on %s: %v", addr, err)
	}
	for ctx.Err() == nil {
		if r, err := cl.Info(ctx, "replication").Result(); err == nil && strings.Contains(r, "role:master") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("%s did not become primary", addr)
}

// Reshard moves n slots from the primary with id from to the primary with
// id to with redis-cli --cluster reshard (MIGRATE of their keys).
func (c *Cluster) Reshard(via, from, to string, n int) string {
	c.t.Helper()
	out, err := exec.Command(c.cli, "--cluster", "reshard", via,
		"--cluster-from", from, "--cluster-to", to,
		"--cluster-slots", strconv.Itoa(n), "--cluster-yes",
		"--cluster-pipeline", "5").CombinedOutput()
	if err != nil {
		c.t.Fatalf("redis-cli --cluster reshard: %v\n%s", err, out)
	}
	return string(out)
}
