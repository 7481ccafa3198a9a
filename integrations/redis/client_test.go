package redis

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "url", cfg: Config{URL: "redis://localhost:6379/0"}},
		{name: "single addr", cfg: Config{Addrs: []string{"localhost:6379"}, DB: 2}},
		{name: "sentinel", cfg: Config{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 1}},
		{name: "cluster", cfg: Config{Addrs: []string{"n1:6379", "n2:6379"}}},
		{name: "nothing", cfg: Config{}, wantErr: "set a URL or addrs"},
		{name: "both", cfg: Config{URL: "redis://x:1", Addrs: []string{"y:1"}}, wantErr: "not both"},
		{name: "sentinel by url", cfg: Config{URL: "redis://x:1", MasterName: "m"}, wantErr: "master_name"},
		{name: "cluster with db", cfg: Config{Addrs: []string{"n1:1", "n2:1"}, DB: 3}, wantErr: "only db 0"},
		{name: "negative db", cfg: Config{Addrs: []string{"n1:1"}, DB: -1}, wantErr: "negative"},
		{name: "empty addr", cfg: Config{Addrs: []string{"n1:1", " "}}, wantErr: "empty address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewConnects(t *testing.T) {
	srv := redistest.NewServer(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "url", cfg: Config{URL: "redis://" + srv.Addr() + "/3"}},
		{name: "addrs", cfg: Config{Addrs: []string{srv.Addr()}, DB: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			c, err := New(ctx, tt.cfg)
			if err != nil {
				t.Fatalf("New() = %v, want nil", err)
			}
			defer c.Close()
			if err := c.Set(ctx, "probe", tt.name, 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			if err := Ping(ctx, c); err != nil {
				t.Fatalf("Ping() = %v, want nil", err)
			}
		})
	}
	// Both writes landed in the databases the configs named.
	ctx := testCtx(t)
	for db, want := range map[int]string{3: "url", 4: "addrs"} {
		c, err := New(ctx, Config{Addrs: []string{srv.Addr()}, DB: db})
		if err != nil {
			t.Fatalf("New(db %d) = %v", db, err)
		}
		got, err := c.Get(ctx, "probe").Result()
		c.Close()
		if err != nil || got != want {
			t.Errorf("db %d probe = %q, %v; want %q", db, got, err, want)
		}
	}
}

func TestNewErrorsNeverContainPassword(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	srv := redistest.NewServer(t)
	ctx := testCtx(t)
	// A second server that requires a password, to get an auth failure.
	authSrv := redistest.NewServer(t)
	if err := authSrv.Client().ConfigSet(ctx, "requirepass", "the-right-one").Err(); err != nil {
		t.Fatalf("CONFIG SET requirepass: %v", err)
	}
	down := closedAddr(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "url to closed port", cfg: Config{URL: "redis://opsbot:" + secret + "@" + down + "/0"}},
		{name: "addrs to closed port", cfg: Config{Addrs: []string{down}, Password: secret}},
		{name: "malformed url", cfg: Config{URL: "redis://opsbot:" + secret + "@[::1/0"}},
		{name: "wrong scheme", cfg: Config{URL: "http://opsbot:" + secret + "@" + srv.Addr()}},
		{name: "bad db in url", cfg: Config{URL: "redis://opsbot:" + secret + "@" + srv.Addr() + "/notanumber"}},
		{name: "wrong password", cfg: Config{URL: "redis://:" + secret + "@" + authSrv.Addr() + "/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(ctx, tt.cfg)
			if err == nil {
				c.Close()
				t.Fatalf("New() = nil error, want one")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("New() error %q contains the password", err)
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	c, stop, err := Embedded()
	if err != nil {
		t.Fatalf("Embedded() = %v", err)
	}
	ctx := testCtx(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want %q", got, err, "v")
	}
	stop()
	if err := Ping(ctx, c); err == nil {
		t.Fatalf("Ping after stop = nil, want an error")
	}
	if !strings.Contains(EmbeddedWarning, "NOT persisted") {
		t.Errorf("EmbeddedWarning = %q; it must say data is not persisted", EmbeddedWarning)
	}
}

func TestConfigOptions(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		wantAddrs    []string
		wantUser     string
		wantPassword string
		wantDB       int
		wantTLS      bool
	}{
		{
			name:      "plain url",
			cfg:       Config{URL: "redis://redis.internal:6380/2"},
			wantAddrs: []string{"redis.internal:6380"}, wantDB: 2,
		},
		{
			name:      "rediss url with credentials",
			cfg:       Config{URL: "rediss://opsbot:pw@redis.internal:6380/1"},
			wantAddrs: []string{"redis.internal:6380"}, wantUser: "opsbot", wantPassword: "pw", wantDB: 1, wantTLS: true,
		},
		{
			name:      "config overrides url credentials and db",
			cfg:       Config{URL: "redis://u:old@h:1/1", Username: "v", Password: "new", DB: 5},
			wantAddrs: []string{"h:1"}, wantUser: "v", wantPassword: "new", wantDB: 5,
		},
		{
			name:      "sentinel with tls",
			cfg:       Config{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m", Password: "p", TLS: true},
			wantAddrs: []string{"s1:26379", "s2:26379"}, wantPassword: "p", wantTLS: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.cfg.options()
			if err != nil {
				t.Fatalf("options() = %v", err)
			}
			if !slices.Equal(o.Addrs, tt.wantAddrs) {
				t.Errorf("Addrs = %v, want %v", o.Addrs, tt.wantAddrs)
			}
			if o.Username != tt.wantUser || o.Password != tt.wantPassword {
				t.Errorf("credentials = %q/%q, want %q/%q", o.Username, o.Password, tt.wantUser, tt.wantPassword)
			}
			if o.DB != tt.wantDB {
				t.Errorf("DB = %d, want %d", o.DB, tt.wantDB)
			}
			if got := o.TLSConfig != nil; got != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", got, tt.wantTLS)
			}
			if o.DialTimeout != DialTimeout || o.ReadTimeout != ReadTimeout || o.WriteTimeout != WriteTimeout {
				t.Errorf("timeouts = %v/%v/%v, want %v/%v/%v", o.DialTimeout, o.ReadTimeout, o.WriteTimeout,
					DialTimeout, ReadTimeout, WriteTimeout)
			}
		})
	}
}
