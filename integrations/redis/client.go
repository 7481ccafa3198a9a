package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/opsbot/opsbot/integrations/redis/internal/minitime"
)

// Client is the Redis client every store in this package takes: a single
// server, Sentinel-managed failover or a Cluster, behind one interface.
type Client = goredis.UniversalClient

// Timeouts the client uses. Short, because a chat bot must answer within
// Slack's 3 seconds and degrade (hold timeline events, answer from memory)
// rather than hang when Redis is slow.
const (
	DialTimeout  = 2 * time.Second
	ReadTimeout  = time.Second
	WriteTimeout = time.Second
	// PingTimeout bounds the connection check in New and Ping.
	PingTimeout = 3 * time.Second
)

// EmbeddedWarning is what the caller should log, loudly, when it runs on the
// store from Embedded.
const EmbeddedWarning = "REDIS_URL is not set: using an embedded in-memory store. " +
	"Incidents, timelines and approvals are NOT persisted and are lost when opsbot exits, " +
	"and replicas do not share state. Set REDIS_URL for anything but a demo."

// Config says how to reach Redis. Set either URL or Addrs.
type Config struct {
	// URL is a redis:// or rediss:// URL (redis://[user:password@]host:port/db).
	// Username, Password, DB and TLS, when set, override what it says.
	URL string `yaml:"url"`
	// Addrs are host:port addresses: of Sentinels when MasterName is set,
	// of Cluster nodes when there are several and no MasterName, else of
	// the one server.
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master name; it turns on Sentinel mode.
	MasterName string `yaml:"master_name"`
	// Username is the ACL user; empty means the default user.
	Username string `yaml:"username"`
	// Password authenticates Username. It never appears in errors.
	Password string `yaml:"password"`
	// DB is the database number; Cluster supports only 0.
	DB int `yaml:"db"`
	// TLS connects with TLS (the rediss:// scheme does too).
	TLS bool `yaml:"tls"`
}

// Validate checks that cfg describes one deployment. Its errors never
// contain the password.
func (cfg Config) Validate() error {
	switch {
	case cfg.URL == "" && len(cfg.Addrs) == 0:
		return errors.New("redis: set a URL or addrs")
	case cfg.URL != "" && len(cfg.Addrs) > 0:
		return errors.New("redis: set either a URL or addrs, not both (use addrs for Sentinel and Cluster)")
	case cfg.URL != "" && cfg.MasterName != "":
		return errors.New("redis: master_name needs addrs of the Sentinels, not a URL")
	case cfg.DB < 0:
		return fmt.Errorf("redis: db %d is negative", cfg.DB)
	case len(cfg.Addrs) > 1 && cfg.MasterName == "" && cfg.DB != 0:
		return fmt.Errorf("redis: cluster mode (several addrs, no master_name) supports only db 0, not %d", cfg.DB)
	}
	for _, a := range cfg.Addrs {
		if strings.TrimSpace(a) == "" {
			return errors.New("redis: empty address in addrs")
		}
	}
	return nil
}

// options turns cfg into go-redis options.
func (cfg Config) options() (*goredis.UniversalOptions, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &goredis.UniversalOptions{
		Addrs:      cfg.Addrs,
		MasterName: cfg.MasterName,
		Username:   cfg.Username,
		Password:   cfg.Password,
		DB:         cfg.DB,
	}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil {
			// url.Parse quotes the whole URL, password included.
			return nil, errors.New("redis: URL is malformed (want redis://[user:password@]host:port/db or rediss://…)")
		}
		po, err := goredis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: URL %s: %s", u.Redacted(), redact(err.Error(), u))
		}
		o.Addrs = []string{po.Addr}
		o.TLSConfig = po.TLSConfig
		if o.Username == "" {
			o.Username = po.Username
		}
		if o.Password == "" {
			o.Password = po.Password
		}
		if o.DB == 0 {
			o.DB = po.DB
		}
	}
	if cfg.TLS && o.TLSConfig == nil {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	o.DialTimeout = DialTimeout
	o.ReadTimeout = ReadTimeout
	o.WriteTimeout = WriteTimeout
	// Fail fast while Redis is down so callers can fall back (the timeline
	// spools); go-redis would otherwise retry dials for seconds per command.
	o.DialerRetries = 1
	o.MaxRetries = 1
	// Plain servers reject the maintenance-notification handshake, and
	// go-redis logs that on every connection.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return o, nil
}

// redact removes the URL's password from an error message.
func redact(msg string, u *url.URL) string {
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
		if esc := url.QueryEscape(pw); esc != pw {
			msg = strings.ReplaceAll(msg, esc, "xxxxx")
		}
	}
	return msg
}

// New connects to Redis as cfg says and checks the connection with PING.
// Errors name the address, never the password.
func New(ctx context.Context, cfg Config) (Client, error) {
	o, err := cfg.options()
	if err != nil {
		return nil, err
	}
	c := goredis.NewUniversalClient(o)
	if cc, ok := c.(*goredis.ClusterClient); ok {
		// On every node, so that transactions (WATCH) and the pinned
		// connections that confirm writes on replicas follow too.
		cc.OnNewNode(func(n *goredis.Client) { n.AddHook(followFailovers{cc}) })
	}
	if err := Ping(ctx, c); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connect to redis at %s: %s", strings.Join(o.Addrs, ","), redactPassword(err, o.Password))
	}
	return c, nil
}

// redactPassword returns err with password removed, wrapping the same chain
// so errors.Is still works.
func redactPassword(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Ping checks that Redis answers, for readiness probes. It waits at most
// PingTimeout even if ctx allows longer.
func Ping(ctx context.Context, c Client) error {
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Embedded starts an in-process, in-memory Redis-compatible store (miniredis)
// for console mode and returns a client on it and a function that stops both.
// Nothing is persisted; the caller must log EmbeddedWarning.
func Embedded() (Client, func(), error) {
	m, err := miniredis.Run()
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded redis: %w", err)
	}
	c := goredis.NewClient(&goredis.Options{
		Addr:                     m.Addr(),
		DialTimeout:              DialTimeout,
		ReadTimeout:              ReadTimeout,
		WriteTimeout:             WriteTimeout,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	unfollow := minitime.Follow(m)
	stop := func() {
		_ = c.Close()
		unfollow()
		m.Close()
	}
	return c, stop, nil
}

// withTimeout gives ctx a deadline of d unless it already has an earlier one,
// so that no Redis call in this package waits unbounded.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
