package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/opsbot/opsbot/bot/bottest/proctest"
)

// Cluster is a Redis Cluster of three primaries, local redis-server
// processes joined with `redis-cli --cluster create`, as Cluster users run
// it (without replicas unless WithClusterReplicas, to stay small). With
// replicas, tests kill a primary with Kill and wait for the cluster to
// promote its replica with WaitFailover.
type Cluster struct {
	bin, cli, dir string
	replicas      int // per primary

	mu      sync.Mutex
	nodes   []*member
	clients []*goredis.ClusterClient
}

// clusterPrimaries is how many primaries NewCluster starts: the smallest
// cluster redis-cli agrees to create.
const clusterPrimaries = 3

// Failure detection of the test clusters (cluster-node-timeout; 15 s by
// default). With replicas it is as short as the test Sentinels' down-after,
// so that a killed primary's replica takes over within a second or two of
// the timeout. Without replicas a node flagged as failing takes the whole
// cluster down (no replica can serve its slots), so those clusters keep a
// longer timeout that a stall of a busy, shared test machine does not reach.
const (
	clusterNodeTimeout         = 5000 * time.Millisecond
	clusterFailoverNodeTimeout = 1000 * time.Millisecond
)

// ClusterOption configures NewCluster.
type ClusterOption func(*Cluster)

// WithClusterReplicas gives each primary n replicas (default none).
func WithClusterReplicas(n int) ClusterOption {
	return func(c *Cluster) { c.replicas = n }
}

// NewCluster starts a three-primary Cluster on free ports, waits until
// every node serves all 16384 slots (and every replica is online), and
// kills every process when the test ends. Without redis-server or
// redis-cli it skips the test, or fails it under
// OPSBOT_REQUIRE_REAL_REDIS=1.
func NewCluster(t testing.TB, opts ...ClusterOption) *Cluster {
	t.Helper()
	bin := requireBinary(t)
	cli := cliBinary(bin)
	if cli == "" {
		if requireReal() {
			t.Fatalf("redistest: no redis-cli binary found (needed to create a cluster) and OPSBOT_REQUIRE_REAL_REDIS is set")
			return nil
		}
		t.Skip("redistest: no redis-cli binary found; it creates the cluster")
		return nil
	}
	c, err := startCluster(bin, cli, t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("redistest: %v", err)
		return nil
	}
	t.Cleanup(c.Close)
	return c
}

// cliBinary returns redis-cli from redis-server's directory or the PATH.
func cliBinary(server string) string {
	if p := filepath.Join(filepath.Dir(server), "redis-cli"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("redis-cli")
	if err != nil {
		return ""
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func startCluster(bin, cli, dir string, opts ...ClusterOption) (_ *Cluster, err error) {
	// Not the named result: `return nil, err` would clear it before the
	// deferred Close that stops what was started.
	c := &Cluster{bin: bin, cli: cli, dir: dir}
	for _, o := range opts {
		o(c)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	for i := 0; i < clusterPrimaries*(1+c.replicas); i++ {
		ndir := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(ndir, 0o700); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		timeout := clusterNodeTimeout
		if c.replicas > 0 {
			timeout = clusterFailoverNodeTimeout
		}
		var bus int
		spec := procSpec{bin: bin, dir: ndir, extra: append([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
		}, dataNodeOptions...), extraFn: func(int) []string {
			// The bus port defaults to port+10000, which may be taken or
			// out of range; a free one of its own avoids both.
			var err error
			if bus, err = proctest.FreePort(); err != nil {
				return nil
			}
			return []string{"--cluster-port", strconv.Itoa(bus)}
		}}
		proc, port, err := startOnFreePort(spec)
		if err != nil {
			return nil, fmt.Errorf("cluster: node %d: %w", i, err)
		}
		// A restart keeps both ports: the other nodes know it by them.
		spec.port, spec.extraFn = port, nil
		spec.extra = append(spec.extra, "--cluster-port", strconv.Itoa(bus))
		c.nodes = append(c.nodes, &member{spec: spec, proc: proc})
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), topologyWait)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cluster: redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.waitConsistent(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Addrs are the nodes' host:port addresses (redis.addrs in opsbot's
// configuration).
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.nodes))
	for i, m := range c.nodes {
		out[i] = m.addr()
	}
	return out
}

// Client returns a new cluster client, closed with the topology.
func (c *Cluster) Client() *goredis.ClusterClient {
	cc := c.clusterClient()
	c.mu.Lock()
	c.clients = append(c.clients, cc)
	c.mu.Unlock()
	return cc
}

func (c *Cluster) clusterClient() *goredis.ClusterClient {
	return goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:                    c.Addrs(),
		DialTimeout:              2 * time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// Target describes the cluster for tests written against Shared targets,
// with a client of its own (closed with the cluster).
func (c *Cluster) Target() Target {
	return Target{Kind: KindCluster, Addrs: c.Addrs(), Client: c.Client()}
}

// waitConsistent waits until every node reports the cluster ok, knows every
// node and has the same owner for every slot.
func (c *Cluster) waitConsistent(ctx context.Context) error {
	if err := poll(ctx, func() error { return c.consistent(ctx) }); err != nil {
		return fmt.Errorf("cluster not consistent: %w", err)
	}
	return nil
}

func (c *Cluster) consistent(ctx context.Context) error {
	var first string
	for _, addr := range c.Addrs() {
		nc := nodeClient(addr)
		info, err := nc.ClusterInfo(ctx).Result()
		var slots []goredis.ClusterSlot
		if err == nil {
			slots, err = nc.ClusterSlots(ctx).Result()
		}
		nc.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") ||
			!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.nodes))) {
			return fmt.Errorf("node %s: not ok yet", addr)
		}
		view := slotView(slots)
		if first == "" {
			first = view
		} else if view != first {
			return fmt.Errorf("node %s sees slots %s, another node %s", addr, view, first)
		}
		if c.replicas > 0 && len(slots) > 0 {
			// Every primary must have its replicas online and
			// acknowledging, or a test's first WAIT would count a replica
			// still in its initial sync. The primaries' INFO says so at
			// once; CLUSTER SLOTS lists the replicas only once gossip has
			// spread the news (seconds), which nothing here needs.
			for _, s := range slots {
				if n, err := onlineReplicas(ctx, s.Nodes[0].Addr); err != nil || n != c.replicas {
					return fmt.Errorf("primary %s: %d replicas online (%v), want %d", s.Nodes[0].Addr, n, err, c.replicas)
				}
				if err := clusterReplicasAck(ctx, s, c.replicas); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// clusterReplicasAck is replicasAck for a Cluster primary: there PUBLISH
// travels the cluster bus, not the replication stream, so WAIT after it
// counts a replica that has not acknowledged anything yet. A short-lived key
// in one of the primary's own slots goes down the stream.
func clusterReplicasAck(ctx context.Context, s goredis.ClusterSlot, n int) error {
	addr := s.Nodes[0].Addr
	c := nodeClient(addr)
	defer c.Close()
	key := ""
	for i := 0; i < 1000 && key == ""; i++ {
		k := fmt.Sprintf("redistest:probe:{%d}", i)
		slot, err := c.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			return fmt.Errorf("probe %s: %w", addr, err)
		}
		if int(slot) >= s.Start && int(slot) <= s.End {
			key = k
		}
	}
	if key == "" {
		return fmt.Errorf("probe %s: no key in slots %d-%d", addr, s.Start, s.End)
	}
	return waitAcked(ctx, c, addr, n, func(p goredis.Pipeliner) { p.Set(ctx, key, "healthy?", 100*time.Millisecond) })
}

// ReplicasOf lists the addresses of the replicas of the primary at addr,
// from its INFO replication.
func (c *Cluster) ReplicasOf(ctx context.Context, primary string) ([]string, error) {
	nc := nodeClient(primary)
	defer nc.Close()
	info, err := nc.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO replication of %s: %w", primary, err)
	}
	var out []string
	for _, line := range strings.Split(info, "\n") {
		// slave0:ip=127.0.0.1,port=40871,state=online,offset=…,lag=0
		if !strings.HasPrefix(line, "slave") {
			continue
		}
		var ip, port string
		for _, kv := range strings.Split(strings.TrimSpace(line[strings.Index(line, ":")+1:]), ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "ip":
				ip = v
			case "port":
				port = v
			}
		}
		if ip != "" && port != "" {
			out = append(out, net.JoinHostPort(ip, port))
		}
	}
	return out, nil
}

func slotView(slots []goredis.ClusterSlot) string {
	var b strings.Builder
	owned := 0
	for _, s := range slots {
		if len(s.Nodes) > 0 {
			fmt.Fprintf(&b, "%d-%d:%s ", s.Start, s.End, s.Nodes[0].Addr)
			owned += s.End - s.Start + 1
		}
	}
	if owned != 16384 {
		return fmt.Sprintf("only %d slots owned", owned)
	}
	return b.String()
}

// FlushAll empties every node.
func (c *Cluster) FlushAll(ctx context.Context) error {
	for _, addr := range c.Addrs() {
		nc := nodeClient(addr)
		err := nc.FlushAll(ctx).Err()
		nc.Close()
		if err != nil {
			return fmt.Errorf("flush %s: %w", addr, err)
		}
	}
	return nil
}

// SlotOwner is the address of the node serving slot, as a running node
// sees it.
func (c *Cluster) SlotOwner(ctx context.Context, slot int) (string, error) {
	nc, err := c.runningNode()
	if err != nil {
		return "", err
	}
	defer nc.Close()
	slots, err := nc.ClusterSlots(ctx).Result()
	if err != nil {
		return "", err
	}
	return slotOwner(slots, slot)
}

func slotOwner(slots []goredis.ClusterSlot, slot int) (string, error) {
	for _, s := range slots {
		if slot >= s.Start && slot <= s.End && len(s.Nodes) > 0 {
			return s.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("slot %d has no owner", slot)
}

// Slot is the cluster slot of key, as the server computes it.
func (c *Cluster) Slot(ctx context.Context, key string) (int, error) {
	nc, err := c.runningNode()
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	n, err := nc.ClusterKeySlot(ctx, key).Result()
	return int(n), err
}

// runningNode returns a client on a node that runs, the first one.
func (c *Cluster) runningNode() (*goredis.Client, error) {
	addrs := c.running()
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no node of the cluster runs")
	}
	return nodeClient(addrs[0]), nil
}

// running lists the addresses of the nodes that run (not killed).
func (c *Cluster) running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.nodes {
		if m.proc != nil {
			out = append(out, m.addr())
		}
	}
	return out
}

// Kill kills the node at addr with SIGKILL, as a crash would; Restart
// brings it back.
func (c *Cluster) Kill(addr string) error {
	if !killMember(&c.mu, c.nodes, addr) {
		return fmt.Errorf("%s is not a running node of this cluster", addr)
	}
	return nil
}

// KillPrimaryOf kills (SIGKILL) the primary that serves slot and returns
// its address.
func (c *Cluster) KillPrimaryOf(ctx context.Context, slot int) (string, error) {
	owner, err := c.SlotOwner(ctx, slot)
	if err != nil {
		return "", err
	}
	return owner, c.Kill(owner)
}

// WaitFailover waits until every running node says the cluster is ok and
// names the same primary for slot, other than old, and that node says it
// is a primary; it returns its address. The cluster promotes a replica of
// a killed primary once the other primaries agree it failed, about
// cluster-node-timeout after the kill plus an election.
func (c *Cluster) WaitFailover(ctx context.Context, slot int, old string) (string, error) {
	var primary string
	err := poll(ctx, func() error {
		primary = ""
		for _, addr := range c.running() {
			nc := nodeClient(addr)
			info, err := nc.ClusterInfo(ctx).Result()
			var slots []goredis.ClusterSlot
			if err == nil {
				slots, err = nc.ClusterSlots(ctx).Result()
			}
			nc.Close()
			if err != nil {
				return fmt.Errorf("node %s: %w", addr, err)
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("node %s: cluster not ok", addr)
			}
			owner, err := slotOwner(slots, slot)
			switch {
			case err != nil:
				return fmt.Errorf("node %s: %w", addr, err)
			case owner == old:
				return fmt.Errorf("node %s still names %s for slot %d", addr, old, slot)
			case primary != "" && owner != primary:
				return fmt.Errorf("nodes disagree on slot %d: %s and %s", slot, primary, owner)
			}
			primary = owner
		}
		if primary == "" {
			return fmt.Errorf("no node of the cluster runs")
		}
		nc := nodeClient(primary)
		role, err := nc.Do(ctx, "ROLE").Slice()
		nc.Close()
		if err == nil && (len(role) == 0 || role[0] != "master") {
			err = fmt.Errorf("%s is not a primary yet (ROLE %v)", primary, role)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("no failover of slot %d from %s: %w", slot, old, err)
	}
	return primary, nil
}

// Restart starts a killed node again on its ports, with the cluster
// configuration it had (its node ID, the cluster it belongs to), and waits
// until the cluster is consistent again. A primary that was replaced while
// it was down rejoins as a replica of the node that took over its slots;
// its data is what it syncs from there (the test nodes keep nothing on
// disk).
func (c *Cluster) Restart(ctx context.Context, addr string) error {
	found, err := restartMember(&c.mu, c.nodes, addr, func(spec procSpec) procSpec { return spec })
	if !found {
		return fmt.Errorf("%s is not a killed node of this cluster", addr)
	}
	if err != nil {
		return err
	}
	return c.waitConsistent(ctx)
}

// MoveSlot migrates slot, keys and all, to the node at to, the way
// redis-cli --cluster reshard does: IMPORTING and MIGRATING, MIGRATE key by
// key, then SETSLOT NODE everywhere. Clients meanwhile get ASK and then
// MOVED redirections. between, when set, runs after the first batch of
// keys has moved and before the slot is handed over, while the slot is
// split between the two nodes.
func (c *Cluster) MoveSlot(ctx context.Context, slot int, to string, between func()) error {
	from, err := c.SlotOwner(ctx, slot)
	if err != nil {
		return err
	}
	if from == to {
		return fmt.Errorf("slot %d is already on %s", slot, to)
	}
	src, dst := nodeClient(from), nodeClient(to)
	defer src.Close()
	defer dst.Close()
	srcID, err := src.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return err
	}
	dstID, err := dst.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return err
	}
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err(); err != nil {
		return fmt.Errorf("importing on %s: %w", to, err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err(); err != nil {
		return fmt.Errorf("migrating on %s: %w", from, err)
	}
	host, port, _ := net.SplitHostPort(to)
	first := true
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 1).Result()
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("migrate %v: %w", keys, err)
		}
		if first && between != nil {
			between()
		}
		first = false
	}
	if first && between != nil {
		between()
	}
	// The destination first, so that the source's MOVED never points at a
	// node that does not yet serve the slot.
	for _, addr := range append([]string{to, from}, c.Addrs()...) {
		nc := nodeClient(addr)
		err := nc.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err()
		nc.Close()
		if err != nil {
			return fmt.Errorf("setslot node on %s: %w", addr, err)
		}
	}
	return c.waitConsistent(ctx)
}

// Close kills every node and closes the clients handed out.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cc := range c.clients {
		_ = cc.Close()
	}
	c.clients = nil
	for _, m := range c.nodes {
		if m.proc != nil {
			m.proc.Kill()
			m.proc = nil
		}
	}
}
