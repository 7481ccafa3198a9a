package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot/bottest/proctest"
)

// MasterName is the name the Sentinels of NewSentinel monitor the primary
// under (redis.master_name in opsbot's configuration).
const MasterName = "opsbot"

// Failure detection of the test Sentinels. Far below production values
// (30 s and 3 min by default) so that a failover takes a second or two, yet
// long enough that a busy, shared test machine does not trigger spurious
// ones.
const (
	sentinelDownAfter       = 1000 * time.Millisecond
	sentinelFailoverTimeout = 2000 * time.Millisecond
)

// topologyWait bounds how long a topology may take to form, fail over or
// heal. Generous: a hang guard on a shared machine, not a speed requirement.
const topologyWait = 60 * time.Second

// SentinelOption configures NewSentinel.
type SentinelOption func(*sentinelSpec)

type sentinelSpec struct {
	replicas  int
	databases int
}

// WithReplicas sets how many replicas the primary has (default 2).
func WithReplicas(n int) SentinelOption {
	return func(s *sentinelSpec) { s.replicas = n }
}

// Sentinel is a primary with replicas, watched by three Sentinels, all
// local redis-server processes: the deployment Sentinel users run, small
// enough for a test. Tests kill the primary with KillPrimary and wait for
// the Sentinels to promote a replica with WaitFailover.
type Sentinel struct {
	bin  string
	dir  string
	spec sentinelSpec

	mu        sync.Mutex
	nodes     []*member // data nodes; the primary is one of them
	sentinels []*member
	clients   []*goredis.Client // closed with the topology
}

// member is one process of a topology.
type member struct {
	spec procSpec
	proc *process // nil while killed
}

func (m *member) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.spec.port)) }

// killMember kills the running member at addr with SIGKILL, as a crash
// would; mu guards the members' processes. It reports whether one ran
// there.
func killMember(mu *sync.Mutex, nodes []*member, addr string) bool {
	mu.Lock()
	defer mu.Unlock()
	for _, m := range nodes {
		if m.addr() == addr && m.proc != nil {
			m.proc.Kill()
			m.proc = nil
			return true
		}
	}
	return false
}

// restartMember starts the killed member at addr again with the spec
// respec makes of its own (the old sockets may linger briefly: it retries
// rather than fail). It reports whether a killed member was there.
func restartMember(mu *sync.Mutex, nodes []*member, addr string, respec func(procSpec) procSpec) (bool, error) {
	mu.Lock()
	var m *member
	for _, n := range nodes {
		if n.addr() == addr {
			m = n
		}
	}
	mu.Unlock()
	if m == nil || m.proc != nil {
		return false, nil
	}
	spec := respec(m.spec)
	var p *process
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if p, err = startProcess(spec); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return true, fmt.Errorf("restart %s: %w", addr, err)
	}
	mu.Lock()
	m.spec, m.proc = spec, p
	mu.Unlock()
	return true, nil
}

// NewSentinel starts a primary with two replicas (see WithReplicas) and
// three Sentinels on free ports, waits until the Sentinels agree on the
// topology, and kills every process when the test ends. Without a
// redis-server binary it skips the test, or fails it under
// OPSBOT_REQUIRE_REAL_REDIS=1.
func NewSentinel(t testing.TB, opts ...SentinelOption) *Sentinel {
	t.Helper()
	bin := requireBinary(t)
	spec := sentinelSpec{replicas: 2}
	for _, o := range opts {
		o(&spec)
	}
	s, err := startSentinel(bin, t.TempDir(), spec)
	if err != nil {
		t.Fatalf("redistest: %v", err)
		return nil
	}
	t.Cleanup(s.Close)
	return s
}

// requireBinary returns the redis-server path, or skips (fails under
// OPSBOT_REQUIRE_REAL_REDIS=1) when there is none.
func requireBinary(t testing.TB) string {
	t.Helper()
	bin := serverBinary()
	if bin == "" {
		if requireReal() {
			t.Fatalf("redistest: no redis-server binary found and OPSBOT_REQUIRE_REAL_REDIS is set")
			return ""
		}
		t.Skip("redistest: no redis-server binary found; this test needs real redis-server processes")
		return ""
	}
	return bin
}

// dataNodeOptions make replication fast on loopback: diskless full syncs
// start at once instead of after the default 5 s grace period.
var dataNodeOptions = []string{"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}

func startSentinel(bin, dir string, spec sentinelSpec) (_ *Sentinel, err error) {
	// Not the named result: `return nil, err` would clear it before the
	// deferred Close that stops what was started.
	s := &Sentinel{bin: bin, dir: dir, spec: spec}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	primary, err := s.startNode(0, nil)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= spec.replicas; i++ {
		if _, err := s.startNode(i, []string{"--replicaof", "127.0.0.1", strconv.Itoa(primary.spec.port)}); err != nil {
			return nil, err
		}
	}
	if err := s.startSentinels(primary.spec.port); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), topologyWait)
	defer cancel()
	if err := s.WaitHealthy(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sentinel) startNode(i int, replicaOf []string) (*member, error) {
	dir := filepath.Join(s.dir, "node"+strconv.Itoa(i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sentinel topology: %w", err)
	}
	spec := procSpec{bin: s.bin, dir: dir, databases: s.spec.databases,
		extra: append(append([]string{}, dataNodeOptions...), replicaOf...)}
	proc, port, err := startOnFreePort(spec)
	if err != nil {
		return nil, fmt.Errorf("sentinel topology: data node %d: %w", i, err)
	}
	spec.port = port
	m := &member{spec: spec, proc: proc}
	s.mu.Lock()
	s.nodes = append(s.nodes, m)
	s.mu.Unlock()
	return m, nil
}

// startSentinels starts three Sentinels that already know each other and
// the replicas (the lines Sentinel itself writes when it rewrites its
// config), so that they need not discover them through hello messages,
// which take seconds.
func (s *Sentinel) startSentinels(primaryPort int) error {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		ports := make([]int, 3)
		ids := make([]string, 3)
		for i := range ports {
			p, err := proctest.FreePort()
			if err != nil {
				return err
			}
			ports[i], ids[i] = p, randomID()
		}
		var started []*member
		var err error
		for i := range ports {
			conf := filepath.Join(s.dir, fmt.Sprintf("sentinel%d.conf", i))
			if err = os.WriteFile(conf, []byte(s.sentinelConfig(i, ports, ids, primaryPort)), 0o600); err != nil {
				break
			}
			spec := procSpec{bin: s.bin, port: ports[i], sentinelConf: conf}
			var p *process
			if p, err = startProcess(spec); err != nil {
				break
			}
			started = append(started, &member{spec: spec, proc: p})
		}
		if err == nil {
			s.mu.Lock()
			s.sentinels = started
			s.mu.Unlock()
			return nil
		}
		for _, m := range started {
			m.proc.Kill()
		}
		lastErr = err
		if !errors.Is(err, proctest.ErrExited) {
			break
		}
	}
	return fmt.Errorf("sentinel topology: start sentinels: %w", lastErr)
}

func (s *Sentinel) sentinelConfig(i int, ports []int, ids []string, primaryPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "port %d\nbind 127.0.0.1\ndir %s\nlogfile \"\"\n", ports[i], s.dir)
	fmt.Fprintf(&b, "sentinel myid %s\n", ids[i])
	fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d 2\n", MasterName, primaryPort)
	fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", MasterName, sentinelDownAfter.Milliseconds())
	fmt.Fprintf(&b, "sentinel failover-timeout %s %d\n", MasterName, sentinelFailoverTimeout.Milliseconds())
	fmt.Fprintf(&b, "sentinel parallel-syncs %s %d\n", MasterName, max(1, s.spec.replicas))
	for _, n := range s.nodes {
		if n.spec.port != primaryPort {
			fmt.Fprintf(&b, "sentinel known-replica %s 127.0.0.1 %d\n", MasterName, n.spec.port)
		}
	}
	for j := range ports {
		if j != i {
			fmt.Fprintf(&b, "sentinel known-sentinel %s 127.0.0.1 %d %s\n", MasterName, ports[j], ids[j])
		}
	}
	return b.String()
}

func randomID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Addrs are the Sentinels' host:port addresses (redis.addrs in opsbot's
// configuration, with MasterName as redis.master_name).
func (s *Sentinel) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.sentinels))
	for i, m := range s.sentinels {
		out[i] = m.addr()
	}
	return out
}

// Client returns a new Sentinel-aware client on database db, closed with
// the topology: it follows failovers as opsbot's client does.
func (s *Sentinel) Client(db int) *goredis.Client {
	c := s.failoverClient(db)
	s.mu.Lock()
	s.clients = append(s.clients, c)
	s.mu.Unlock()
	return c
}

func (s *Sentinel) failoverClient(db int) *goredis.Client {
	return goredis.NewFailoverClient(&goredis.FailoverOptions{
		MasterName:    MasterName,
		SentinelAddrs: s.Addrs(),
		DB:            db,
		DialTimeout:   2 * time.Second,
		ReadTimeout:   time.Second,
		WriteTimeout:  time.Second,
	})
}

// Target describes database db of this topology for tests written against
// Shared targets, with a client of its own (closed with the topology).
func (s *Sentinel) Target(db int) Target {
	return Target{Kind: KindSentinel, Addrs: s.Addrs(), MasterName: MasterName, DB: db, Client: s.Client(db)}
}

// Primary is the address the Sentinels name as primary now.
func (s *Sentinel) Primary(ctx context.Context) (string, error) { return s.agreedPrimary(ctx) }

// agreedPrimary asks every running Sentinel for the primary and returns it
// when they all name the same one.
func (s *Sentinel) agreedPrimary(ctx context.Context) (string, error) {
	var got string
	for _, addr := range s.liveSentinels() {
		sc := sentinelClient(addr)
		res, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
		sc.Close()
		if err != nil {
			return "", fmt.Errorf("sentinel %s: %w", addr, err)
		}
		if len(res) != 2 {
			return "", fmt.Errorf("sentinel %s: primary address %v", addr, res)
		}
		a := net.JoinHostPort(res[0], res[1])
		if got != "" && a != got {
			return "", fmt.Errorf("sentinels disagree: %s and %s", got, a)
		}
		got = a
	}
	if got == "" {
		return "", errors.New("no sentinel running")
	}
	return got, nil
}

func (s *Sentinel) liveSentinels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.sentinels {
		if m.proc != nil {
			out = append(out, m.addr())
		}
	}
	return out
}

func sentinelClient(addr string) *goredis.SentinelClient {
	return goredis.NewSentinelClient(&goredis.Options{
		Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, DialerRetries: 1,
	})
}

func nodeClient(addr string) *goredis.Client {
	return newClient(&goredis.Options{Addr: addr, MaxRetries: -1})
}

// WaitHealthy waits until every data node runs, the primary has every
// replica online, and every Sentinel sees the primary up, every replica up
// with its link to the primary up, and the two other Sentinels. A failover
// started only from this state can promote any replica.
func (s *Sentinel) WaitHealthy(ctx context.Context) error {
	if err := poll(ctx, func() error { return s.healthy(ctx) }); err != nil {
		return fmt.Errorf("sentinel topology not healthy: %w", err)
	}
	return nil
}

func (s *Sentinel) healthy(ctx context.Context) error {
	s.mu.Lock()
	nodes := len(s.nodes)
	for _, n := range s.nodes {
		if n.proc == nil {
			s.mu.Unlock()
			return fmt.Errorf("data node %s is not running", n.addr())
		}
	}
	s.mu.Unlock()
	primary, err := s.agreedPrimary(ctx)
	if err != nil {
		return err
	}
	if online, err := onlineReplicas(ctx, primary); err != nil {
		return err
	} else if online != nodes-1 {
		return fmt.Errorf("primary %s has %d replicas online, want %d", primary, online, nodes-1)
	}
	if err := replicasAck(ctx, primary, nodes-1); err != nil {
		return err
	}
	for _, addr := range s.liveSentinels() {
		sc := sentinelClient(addr)
		m, err := sc.Master(ctx, MasterName).Result()
		if err == nil && (m["flags"] != "master" || m["num-other-sentinels"] != "2") {
			err = fmt.Errorf("sees primary flags %q and %s other sentinels", m["flags"], m["num-other-sentinels"])
		}
		var reps []map[string]string
		if err == nil {
			reps, err = sc.Replicas(ctx, MasterName).Result()
		}
		sc.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", addr, err)
		}
		up := 0
		for _, r := range reps {
			if r["flags"] == "slave" && r["master-link-status"] == "ok" &&
				net.JoinHostPort(r["master-host"], r["master-port"]) == primary {
				up++
			}
		}
		if up != nodes-1 {
			return fmt.Errorf("sentinel %s sees %d healthy replicas, want %d", addr, up, nodes-1)
		}
	}
	return nil
}

// onlineReplicas counts the replicas in state "online" in the INFO of the
// server at addr.
func onlineReplicas(ctx context.Context, addr string) (int, error) {
	c := nodeClient(addr)
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO replication of %s: %w", addr, err)
	}
	if !strings.Contains(info, "role:master") {
		return 0, fmt.Errorf("%s is not a primary", addr)
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			n++
		}
	}
	return n, nil
}

// replicasAck checks that n replicas acknowledge a write to the primary at
// addr. A replica that has just finished its initial sync is "online" but
// gets the stream only after its first acknowledgement, up to a second
// later; a test should not start in that gap. PUBLISH is replicated like a
// write and touches no database.
func replicasAck(ctx context.Context, addr string, n int) error {
	c := nodeClient(addr)
	defer c.Close()
	return waitAcked(ctx, c, addr, n, func(p goredis.Pipeliner) { p.Publish(ctx, "redistest:probe", "healthy?") })
}

// waitAcked sends write and then WAIT for n replicas in one pipeline, so
// that WAIT runs on the connection that wrote, and fails unless n replicas
// of the primary at addr acknowledged it.
func waitAcked(ctx context.Context, c *goredis.Client, addr string, n int, write func(goredis.Pipeliner)) error {
	var wait *goredis.Cmd
	if _, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		write(p)
		wait = p.Do(ctx, "WAIT", n, 200)
		return nil
	}); err != nil {
		return fmt.Errorf("probe %s: %w", addr, err)
	}
	if got, _ := wait.Int(); got < n {
		return fmt.Errorf("%d of %d replicas of %s acknowledge writes", got, n, addr)
	}
	return nil
}

// KillPrimary kills the current primary with SIGKILL, as a crash would,
// and returns its address.
func (s *Sentinel) KillPrimary(ctx context.Context) (string, error) {
	primary, err := s.agreedPrimary(ctx)
	if err != nil {
		return "", err
	}
	return primary, s.Kill(primary)
}

// Replicas are the addresses of the running data nodes other than the
// primary.
func (s *Sentinel) Replicas(ctx context.Context) ([]string, error) {
	primary, err := s.agreedPrimary(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.nodes {
		if n.proc != nil && n.addr() != primary {
			out = append(out, n.addr())
		}
	}
	return out, nil
}

// Kill kills the data node at addr with SIGKILL; Restart brings it back.
func (s *Sentinel) Kill(addr string) error {
	if !killMember(&s.mu, s.nodes, addr) {
		return fmt.Errorf("%s is not a running data node of this topology", addr)
	}
	return nil
}

// WaitFailover waits until every Sentinel names a primary other than old
// and that server says it is a primary, and returns its address.
func (s *Sentinel) WaitFailover(ctx context.Context, old string) (string, error) {
	var primary string
	err := poll(ctx, func() error {
		var err error
		primary, err = s.agreedPrimary(ctx)
		if err == nil && primary == old {
			err = fmt.Errorf("sentinels still name %s", old)
		}
		if err == nil {
			c := nodeClient(primary)
			var role []any
			role, err = c.Do(ctx, "ROLE").Slice()
			c.Close()
			if err == nil && (len(role) == 0 || role[0] != "master") {
				err = fmt.Errorf("%s is not a primary yet (ROLE %v)", primary, role)
			}
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("no failover from %s: %w", old, err)
	}
	return primary, nil
}

// Restart starts a killed data node again, as a replica of the current
// primary (a crashed primary that comes back rejoins as a replica), and
// waits until the topology is healthy again.
func (s *Sentinel) Restart(ctx context.Context, addr string) error {
	primary, err := s.agreedPrimary(ctx)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(primary)
	found, err := restartMember(&s.mu, s.nodes, addr, func(spec procSpec) procSpec {
		spec.extra = append(append([]string{}, dataNodeOptions...), "--replicaof", host, port)
		return spec
	})
	if !found {
		return fmt.Errorf("%s is not a killed node of this topology", addr)
	}
	if err != nil {
		return err
	}
	return s.WaitHealthy(ctx)
}

// Failover kills the primary, waits for the Sentinels to promote a
// replica, restarts the old primary as a replica and waits until all is
// healthy again. It returns the old and the new primary.
func (s *Sentinel) Failover(ctx context.Context) (old, promoted string, err error) {
	if old, err = s.KillPrimary(ctx); err != nil {
		return "", "", err
	}
	if promoted, err = s.WaitFailover(ctx, old); err != nil {
		return old, "", err
	}
	return old, promoted, s.Restart(ctx, old)
}

// Close kills every process of the topology and closes the clients it
// handed out. NewSentinel calls it when the test ends.
func (s *Sentinel) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		_ = c.Close()
	}
	s.clients = nil
	for _, m := range append(append([]*member{}, s.sentinels...), s.nodes...) {
		if m.proc != nil {
			m.proc.Kill()
			m.proc = nil
		}
	}
}
