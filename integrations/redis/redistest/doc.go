// Package redistest gives tests a Redis to talk to: a real redis-server when
// one can be had (REDIS_URL, or a throwaway redis-server started on a free
// port), so that tests exercise the same Lua, streams and expiry semantics as
// production, and an embedded miniredis only when no redis-server binary is
// installed.
//
// New hands each test its own logical database on a shared server, flushed
// before and after use, so parallel tests never see each other's keys and the
// suite pays for one server start per test binary rather than one per test.
// NewServer starts a dedicated server that a test may stop and start again,
// for outage and persistence tests.
//
// The other deployments opsbot supports are real processes too: NewSentinel
// starts a primary with two replicas and three Sentinels (redis-server
// --sentinel) that fail over within seconds, with helpers to kill -9 the
// primary and wait for the promotion; NewCluster starts a three-primary
// Cluster (redis-cli --cluster create), with replicas if asked, can move a
// slot while clients use it, and can kill -9 a primary, wait for the
// cluster to promote its replica and restart the killed node, which
// rejoins as a replica. Shared hands a test a target of any kind on processes the whole
// test binary shares, so that suites run on every deployment and pay for
// each once.
//
// Environment:
//
//   - REDIS_URL: use this server instead of starting one. Databases 1 and up
//     are leased to tests (the leases live in database 0), so several test
//     binaries can share it.
//   - OPSBOT_REQUIRE_REAL_REDIS=1: fail instead of falling back to miniredis
//     (New) or skipping (NewServer, NewSentinel, NewCluster, Shared) when no
//     redis-server (or, for a cluster, redis-cli) is available.
//   - REDIS_SERVER_BIN: path of the redis-server binary (default: looked up
//     in PATH); redis-cli is taken from the same directory, else the PATH.
package redistest
