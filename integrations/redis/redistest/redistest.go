package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/opsbot/opsbot/integrations/redis/internal/minitime"
)

// sharedDatabases is how many logical databases a shared server offers, and
// so how many tests may hold one at once before a second server starts.
const sharedDatabases = 64

// leaseTTL bounds how long a database leased on REDIS_URL stays taken if the
// test binary dies without releasing it.
const leaseTTL = 30 * time.Minute

// leaseWait bounds how long New waits for a free database on REDIS_URL.
const leaseWait = 2 * time.Minute

// New returns a client on an empty logical database that only this test
// uses, flushed again and closed when the test ends. Parallel tests get
// different databases. Do not call FLUSHALL or SELECT: other tests share the
// server.
//
// With REDIS_URL set it uses that server; otherwise it shares one
// redis-server per test binary, started on first use. Without a
// redis-server binary it falls back to an in-process miniredis and says so
// with t.Log, unless OPSBOT_REQUIRE_REAL_REDIS=1, which fails the test.
func New(t testing.TB) goredis.UniversalClient {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return newOnURL(t, url)
	}
	bin := serverBinary()
	if bin == "" {
		if requireReal() {
			t.Fatalf("redistest: no redis-server binary found and OPSBOT_REQUIRE_REAL_REDIS is set")
			return nil
		}
		t.Log("redistest: no redis-server binary found; falling back to in-process miniredis " +
			"(install redis-server or set REDIS_URL for full fidelity)")
		m := miniredis.RunT(t)
		t.Cleanup(minitime.Follow(m))
		c := newClient(&goredis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	s, err := shared.acquire(bin)
	if err != nil {
		t.Fatalf("redistest: %v", err)
		return nil
	}
	c := newClient(&goredis.Options{Addr: s.addr, DB: s.db})
	if err := flush(c); err != nil {
		shared.release(s)
		_ = c.Close()
		t.Fatalf("redistest: flush database %d on %s: %v", s.db, s.addr, err)
		return nil
	}
	t.Cleanup(func() {
		// The next user flushes too, so a client the test closed itself
		// (which makes this flush fail) leaves nothing behind either.
		_ = flush(c)
		_ = c.Close()
		shared.release(s)
	})
	return c
}

// newClient applies the timeouts production uses, fails fast when the server
// is down (outage tests would otherwise wait out go-redis's dial retries) and
// turns off the maintenance-notification handshake, which plain servers
// reject noisily.
func newClient(o *goredis.Options) *goredis.Client {
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = time.Second
	}
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return goredis.NewClient(o)
}

func flush(c *goredis.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.FlushDB(ctx).Err()
}

// slot is one logical database on a shared server.
type slot struct {
	addr string
	db   int
}

// pool hands out the databases of the servers this test binary started.
// The servers live as long as the test binary; the kernel kills them when it
// exits (proctest.Start sets the parent-death signal).
type pool struct {
	mu   sync.Mutex
	free []slot
}

var shared pool

func (p *pool) acquire(bin string) (slot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		proc, port, err := startOnFreePort(procSpec{bin: bin, dir: os.TempDir(), databases: sharedDatabases})
		if err != nil {
			return slot{}, err
		}
		_ = proc // kept alive for the life of the test binary
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for db := sharedDatabases - 1; db >= 0; db-- {
			p.free = append(p.free, slot{addr: addr, db: db})
		}
	}
	s := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return s, nil
}

func (p *pool) release(s slot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, s)
}

// releaseLease deletes a lease only if this test still holds it.
var releaseLease = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// newOnURL leases a database 1..N-1 on the REDIS_URL server. Leases are keys
// in database 0, so separate test binaries (go test runs packages in
// parallel) share the server safely.
func newOnURL(t testing.TB, url string) goredis.UniversalClient {
	t.Helper()
	base, err := goredis.ParseURL(url)
	if err != nil {
		// The URL may carry a password: never print it.
		t.Fatalf("redistest: REDIS_URL is not a valid redis:// or rediss:// URL")
		return nil
	}
	adminOpts := *base
	adminOpts.DB = 0
	admin := newClient(&adminOpts)
	defer admin.Close()

	ctx, cancel := context.WithTimeout(context.Background(), leaseWait)
	defer cancel()
	n := databaseCount(ctx, admin)
	if n < 2 {
		t.Fatalf("redistest: REDIS_URL server has %d databases; need at least 2", n)
		return nil
	}
	token := randomToken()
	db, err := leaseDatabase(ctx, admin, n, token)
	if err != nil {
		t.Fatalf("redistest: lease a database on REDIS_URL server %s: %v", base.Addr, err)
		return nil
	}
	opts := *base
	opts.DB = db
	c := newClient(&opts)
	if err := flush(c); err != nil {
		_ = c.Close()
		t.Fatalf("redistest: flush database %d on REDIS_URL server %s: %v", db, base.Addr, err)
		return nil
	}
	t.Cleanup(func() {
		_ = flush(c)
		_ = c.Close()
		a := newClient(&adminOpts)
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = releaseLease.Run(ctx, a, []string{leaseKey(db)}, token).Err()
	})
	return c
}

func leaseKey(db int) string { return "opsbot:redistest:lease:" + strconv.Itoa(db) }

// databaseCount asks the server how many databases it has; managed servers
// often forbid CONFIG, so it assumes the default 16 then.
func databaseCount(ctx context.Context, c *goredis.Client) int {
	res, err := c.ConfigGet(ctx, "databases").Result()
	if err == nil {
		if n, err := strconv.Atoi(res["databases"]); err == nil {
			return n
		}
	}
	return 16
}

func leaseDatabase(ctx context.Context, admin *goredis.Client, n int, token string) (int, error) {
	// Start at a random database so that concurrent binaries rarely collide.
	start, err := rand.Int(rand.Reader, big.NewInt(int64(n-1)))
	if err != nil {
		return 0, err
	}
	for {
		for i := 0; i < n-1; i++ {
			db := 1 + (int(start.Int64())+i)%(n-1)
			ok, err := admin.SetNX(ctx, leaseKey(db), token, leaseTTL).Result()
			if err != nil {
				return 0, err
			}
			if ok {
				return db, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("all databases are leased by other tests")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Server is a redis-server dedicated to one test, which the test may stop
// and start again on the same address to simulate an outage.
type Server struct {
	t      testing.TB
	spec   procSpec
	mu     sync.Mutex
	proc   *process // nil while stopped
	client *goredis.Client
}

// Option configures NewServer.
type Option func(*procSpec)

// WithAppendOnly turns on the append-only file, so that data survives Stop
// and Start (for persistence tests).
func WithAppendOnly() Option {
	return func(s *procSpec) { s.appendOnly = true }
}

// NewServer starts a dedicated redis-server on a free port, with its data
// directory in t.TempDir(), and kills it when the test ends. Without a
// redis-server binary it skips the test, or fails it under
// OPSBOT_REQUIRE_REAL_REDIS=1. It ignores REDIS_URL: outage tests must own
// their server.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := serverBinary()
	if bin == "" {
		if requireReal() {
			t.Fatalf("redistest: no redis-server binary found and OPSBOT_REQUIRE_REAL_REDIS is set")
			return nil
		}
		t.Skip("redistest: no redis-server binary found; this test needs a real server it can stop and start")
		return nil
	}
	spec := procSpec{bin: bin, dir: t.TempDir()}
	for _, o := range opts {
		o(&spec)
	}
	proc, port, err := startOnFreePort(spec)
	if err != nil {
		t.Fatalf("redistest: %v", err)
		return nil
	}
	spec.port = port
	s := &Server{t: t, spec: spec, proc: proc}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.client != nil {
			_ = s.client.Close()
		}
		if s.proc != nil {
			s.proc.Kill()
			s.proc = nil
		}
	})
	return s
}

// Addr is the server's host:port; it stays the same across Stop and Start.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.spec.port))
}

// URL is the server's redis:// URL, for code that takes REDIS_URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a client for the server, the same one on every call, closed
// when the test ends. It survives Stop and Start: commands fail while the
// server is down and succeed again once it is back.
func (s *Server) Client() goredis.UniversalClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = newClient(&goredis.Options{Addr: s.Addr()})
	}
	return s.client
}

// Stop shuts the server down and waits until it is gone; clients get
// connection errors until Start. With WithAppendOnly the data is flushed to
// disk first. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Stop(stopGrace)
	s.proc = nil
}

// Start starts a stopped server again on the same port. Starting a running
// server does nothing.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return
	}
	var err error
	// The old socket may linger briefly; retry rather than fail the test.
	for attempt := 0; attempt < 20; attempt++ {
		var p *process
		p, err = startProcess(s.spec)
		if err == nil {
			s.proc = p
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart server on %s: %v", s.Addr(), err)
}

// Running reports whether the server is up (between NewServer or Start and
// Stop).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}
