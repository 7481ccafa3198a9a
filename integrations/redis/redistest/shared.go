package redistest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Kind names a Redis deployment: what redis.addrs and redis.master_name
// (or REDIS_URL) select in opsbot's configuration.
type Kind string

// The deployments opsbot supports.
const (
	KindSingle   Kind = "single"
	KindSentinel Kind = "sentinel"
	KindCluster  Kind = "cluster"
)

// Kinds lists every deployment, for tests that run on each.
var Kinds = []Kind{KindSingle, KindSentinel, KindCluster}

// Target says how code under test reaches a Redis deployment, in the terms
// of opsbot's configuration, and gives the test a client of its own.
type Target struct {
	Kind Kind
	// URL is set for KindSingle (REDIS_URL).
	URL string
	// Addrs are the Sentinels (KindSentinel) or the cluster nodes
	// (KindCluster): redis.addrs.
	Addrs []string
	// MasterName is set for KindSentinel: redis.master_name.
	MasterName string
	// DB is the database (redis.db); always 0 on a cluster.
	DB int
	// Client is a client on the same data for the test's own checks.
	Client goredis.UniversalClient
}

// Shared returns a target of the given kind for this test, on processes
// shared by the whole test binary (started on first use) so that a suite
// pays for each topology once: on a single server and on Sentinel the test
// gets a database of its own, flushed before and after; on the cluster,
// which has only database 0, tests take turns and the cluster is flushed
// between them. Tests that kill processes must use NewSentinel or
// NewCluster instead.
//
// Without a redis-server binary, KindSingle falls back as New does; the
// other kinds skip the test, or fail it under OPSBOT_REQUIRE_REAL_REDIS=1.
func Shared(t testing.TB, kind Kind) Target {
	t.Helper()
	switch kind {
	case KindSingle:
		c := New(t)
		tg := Target{Kind: kind, Client: c}
		if cc, ok := c.(*goredis.Client); ok {
			o := cc.Options()
			u := url.URL{Scheme: "redis", Host: o.Addr, Path: "/" + strconv.Itoa(o.DB)}
			if o.TLSConfig != nil {
				u.Scheme = "rediss"
			}
			if o.Password != "" {
				u.User = url.UserPassword(o.Username, o.Password)
			} else if o.Username != "" {
				u.User = url.User(o.Username)
			}
			tg.URL, tg.DB = u.String(), o.DB
		}
		return tg
	case KindSentinel:
		bin := requireBinary(t)
		s, db, err := sharedSentinel.acquire(bin)
		if err != nil {
			t.Fatalf("redistest: %v", err)
			return Target{}
		}
		c := s.failoverClient(db)
		if err := flushUniversal(c); err != nil {
			_ = c.Close()
			sharedSentinel.release(db)
			t.Fatalf("redistest: flush database %d of the shared sentinel topology: %v", db, err)
			return Target{}
		}
		t.Cleanup(func() {
			_ = flushUniversal(c)
			_ = c.Close()
			sharedSentinel.release(db)
		})
		return Target{Kind: kind, Addrs: s.Addrs(), MasterName: MasterName, DB: db, Client: c}
	case KindCluster:
		bin := requireBinary(t)
		cli := cliBinary(bin)
		if cli == "" {
			if requireReal() {
				t.Fatalf("redistest: no redis-cli binary found (needed to create a cluster) and OPSBOT_REQUIRE_REAL_REDIS is set")
			}
			t.Skip("redistest: no redis-cli binary found; it creates the cluster")
			return Target{}
		}
		c, err := sharedCluster.acquire(bin, cli)
		if err != nil {
			t.Fatalf("redistest: %v", err)
			return Target{}
		}
		cc := c.clusterClient()
		t.Cleanup(func() {
			_ = cc.Close()
			sharedCluster.release(c)
		})
		return Target{Kind: kind, Addrs: c.Addrs(), Client: cc}
	}
	t.Fatalf("redistest: unknown kind %q", kind)
	return Target{}
}

func flushUniversal(c goredis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.FlushDB(ctx).Err()
}

// sharedSentinel is the test binary's Sentinel topology, whose databases
// are leased to tests.
var sharedSentinel sentinelPool

type sentinelPool struct {
	mu   sync.Mutex
	s    *Sentinel
	err  error
	free []int
}

func (p *sentinelPool) acquire(bin string) (*Sentinel, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s == nil && p.err == nil {
		dir, err := sharedDir()
		if err == nil {
			p.s, err = startSentinel(bin, dir, sentinelSpec{replicas: 2, databases: sharedDatabases})
		}
		if err != nil {
			p.err = fmt.Errorf("shared sentinel topology: %w", err)
		}
		for db := sharedDatabases - 1; db >= 0; db-- {
			p.free = append(p.free, db)
		}
	}
	if p.err != nil {
		return nil, 0, p.err
	}
	if len(p.free) == 0 {
		return nil, 0, fmt.Errorf("shared sentinel topology: all %d databases in use", sharedDatabases)
	}
	db := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return p.s, db, nil
}

func (p *sentinelPool) release(db int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, db)
}

// sharedCluster is the test binary's cluster; one test uses it at a time.
var sharedCluster clusterPool

type clusterPool struct {
	start sync.Mutex // guards c and err
	c     *Cluster
	err   error
	turn  sync.Mutex // held by the test using the cluster
}

func (p *clusterPool) acquire(bin, cli string) (*Cluster, error) {
	p.start.Lock()
	if p.c == nil && p.err == nil {
		dir, err := sharedDir()
		if err == nil {
			p.c, err = startCluster(bin, cli, dir)
		}
		if err != nil {
			p.err = fmt.Errorf("shared cluster: %w", err)
		}
	}
	c, err := p.c, p.err
	p.start.Unlock()
	if err != nil {
		return nil, err
	}
	p.turn.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.FlushAll(ctx); err != nil {
		p.turn.Unlock()
		return nil, fmt.Errorf("shared cluster: %w", err)
	}
	return c, nil
}

func (p *clusterPool) release(c *Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.FlushAll(ctx)
	p.turn.Unlock()
}

// sharedDirPrefix names the data directories of shared topologies. They
// outlive the test binary (the processes die with it, but nothing runs to
// delete their files), so each start removes those of binaries that are
// gone.
const sharedDirPrefix = "opsbot-redistest-"

func sharedDir() (string, error) {
	removeStaleSharedDirs()
	return os.MkdirTemp("", sharedDirPrefix+strconv.Itoa(os.Getpid())+"-")
}

func removeStaleSharedDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), sharedDirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), sharedDirPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(m)
	}
}
