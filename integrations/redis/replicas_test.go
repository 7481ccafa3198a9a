package redis

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
)

// INFO replication as redis-server 7 answers it (lines end in CRLF), on a
// Cluster primary with one replica, on that replica once the cluster
// promoted it, and on the old primary back as its replica.
var (
	infoPrimaryA = crlf(`# Replication
role:master
connected_slaves:1
slave0:ip=127.0.0.1,port=38657,state=online,offset=706,lag=0
master_failover_state:no-failover
master_replid:2168041880f151fcf887bc730f387d267a7ac22e
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:743
second_repl_offset:-1
`)
	infoPromotedB = crlf(`# Replication
role:master
connected_slaves:0
master_failover_state:no-failover
master_replid:c789148cbdb359c8bc4e473da7de97feb6bc15bf
master_replid2:2168041880f151fcf887bc730f387d267a7ac22e
master_repl_offset:743
second_repl_offset:744
`)
	infoPromotedBWithA = crlf(`# Replication
role:master
connected_slaves:1
slave0:ip=127.0.0.1,port=34749,state=online,offset=1965,lag=0
master_failover_state:no-failover
master_replid:c789148cbdb359c8bc4e473da7de97feb6bc15bf
master_replid2:2168041880f151fcf887bc730f387d267a7ac22e
master_repl_offset:2002
second_repl_offset:744
`)
	infoReplicaA = crlf(`# Replication
role:slave
master_host:127.0.0.1
master_port:38657
master_link_status:up
slave_read_only:1
connected_slaves:0
master_replid:c789148cbdb359c8bc4e473da7de97feb6bc15bf
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:2002
second_repl_offset:-1
`)
	// A primary that never had replicas, at an address not seen before.
	infoLoneC = crlf(`# Replication
role:master
connected_slaves:0
master_replid:5f0c6f6d1c1a4e0e9b8e7f9a0b1c2d3e4f5a6b7c
master_replid2:0000000000000000000000000000000000000000
`)
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestParseReplication(t *testing.T) {
	for _, tc := range []struct {
		name, info string
		want       replication
	}{
		{"primary with a replica", infoPrimaryA, replication{primary: true, online: 1, replid: "2168041880f151fcf887bc730f387d267a7ac22e"}},
		{"promoted replica", infoPromotedB, replication{primary: true, replid: "c789148cbdb359c8bc4e473da7de97feb6bc15bf",
			replid2: "2168041880f151fcf887bc730f387d267a7ac22e"}},
		{"replica", infoReplicaA, replication{replid: "c789148cbdb359c8bc4e473da7de97feb6bc15bf"}},
		{"replica still syncing is not online", crlf("role:master\nslave0:ip=127.0.0.1,port=1,state=wait_bgsave,offset=0,lag=0\n"),
			replication{primary: true}},
		{"nothing", "", replication{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseReplication(tc.info), cmp.AllowUnexported(replication{})); diff != "" {
				t.Errorf("parseReplication (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReplicaCountFollowsClusterFailover steps the automatic counts of a
// Cluster shard through a failover: the primary the cluster promotes has a
// new address and no replica, yet it is waited on as its predecessor was
// (by the timeline, holding events; by claims, failing closed) until the
// old primary is back as its replica, or has been gone ReplicaForgetAfter.
// A primary that never had replicas is not.
func TestReplicaCountFollowsClusterFailover(t *testing.T) {
	r := &replicas{log: zap.NewNop(), counts: map[string]replicaCount{}}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const a, b, c = "127.0.0.1:34749", "127.0.0.1:38657", "127.0.0.1:40001"
	steps := []struct {
		name      string
		at        time.Duration
		addr      string
		info      string // "" when INFO could not be read
		wantAll   int    // what the timeline waits for
		wantClaim int    // what a claim waits for
	}{
		{"primary A with its replica", 0, a, infoPrimaryA, 1, 1},
		{"A killed: INFO unreachable keeps the count", time.Second, a, "", 1, 1},
		{"B promoted, no replica yet", 3 * time.Second, b, infoPromotedB, 1, 1},
		{"a stale slot map still asks A, now B's replica", 6 * time.Second, a, infoReplicaA, 1, 1},
		{"A back as B's replica", 7 * time.Second, b, infoPromotedBWithA, 1, 1},
		{"A gone for good", time.Minute, b, infoPromotedB, 1, 1},
		{"forgotten after ReplicaForgetAfter", time.Minute + ReplicaForgetAfter, b, infoPromotedB, 0, 0},
		{"a primary that never had replicas", 0, c, infoLoneC, 0, 0},
	}
	for _, s := range steps {
		rs, read := parseReplication(s.info), s.info != ""
		rc := r.observeLocked(s.addr, rs, read, at(s.at))
		if got := rc.wanted(true); got != s.wantAll {
			t.Errorf("%s: the timeline waits for %d replicas, want %d", s.name, got, s.wantAll)
		}
		if got := rc.wanted(false); got != s.wantClaim {
			t.Errorf("%s: a claim waits for %d replicas, want %d", s.name, got, s.wantClaim)
		}
	}
}
