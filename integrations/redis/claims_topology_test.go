package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// claimKind is one kind of once-only claim opsbot makes, with what a second
// attempt after a failover must see.
type claimKind struct {
	name string
	// first makes the claim and reports whether it won.
	first func(ctx context.Context) (bool, error)
	// again reports whether a second attempt (another replica, a
	// redelivery) wins too, which would break the promise in promise.
	again   func(ctx context.Context) (bool, error)
	promise string
}

func claimKinds(t *testing.T, c Client, d Durability) []claimKind {
	t.Helper()
	dedupe := NewDeduper(c, WithDurability(d))
	oncall := NewOnCall(c, WithDurability(d))
	locker := NewLocker(c, WithDurability(d))
	incidents, err := NewIncidents(c, WithDurability(d))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := NewRunbooks(c, WithDurability(d))
	if err != nil {
		t.Fatal(err)
	}
	holder := bot.RunLockHolder{User: "U0ALICE"}
	var declared string // the key the first declaration got
	return []claimKind{
		{
			name:    "envelope dedupe",
			promise: "a redelivered Slack envelope runs once",
			first:   func(ctx context.Context) (bool, error) { return dedupe.Claim(ctx, "action:trigger-1", time.Hour) },
			again:   func(ctx context.Context) (bool, error) { return dedupe.Claim(ctx, "action:trigger-1", time.Hour) },
		},
		{
			name:    "handoff claim",
			promise: "one handoff message per shift change",
			first: func(ctx context.Context) (bool, error) {
				return oncall.ClaimOnce(ctx, "handoff:P1:1700000000:U1", time.Hour)
			},
			again: func(ctx context.Context) (bool, error) {
				return oncall.ClaimOnce(ctx, "handoff:P1:1700000000:U1", time.Hour)
			},
		},
		{
			name:    "scheduler lease",
			promise: "one replica runs the scheduled work",
			first: func(ctx context.Context) (bool, error) {
				l, err := locker.Lock(ctx, "scheduler", time.Hour)
				return l != nil, err
			},
			again: func(ctx context.Context) (bool, error) {
				l, err := locker.Lock(ctx, "scheduler", time.Hour)
				return l != nil, err
			},
		},
		{
			name:    "incident number",
			promise: "one incident and one channel per declaration",
			first: func(ctx context.Context) (bool, error) {
				inc, created, err := incidents.Create(ctx, "trigger:T1", bot.Incident{Title: "disk full"})
				declared = inc.Key
				return created, err
			},
			again: func(ctx context.Context) (bool, error) {
				inc, created, err := incidents.Create(ctx, "trigger:T1", bot.Incident{Title: "disk full"})
				if err == nil && !created && inc.Key != declared {
					return true, nil // a second number for the same declaration
				}
				return created, err
			},
		},
		{
			name:    "run lock",
			promise: "one run at a time per runbook lock",
			first: func(ctx context.Context) (bool, error) {
				_, _, ok, err := rb.AcquireRunLock(ctx, "deploy-prod", holder, time.Hour)
				return ok, err
			},
			again: func(ctx context.Context) (bool, error) {
				_, _, ok, err := rb.AcquireRunLock(ctx, "deploy-prod", holder, time.Hour)
				return ok, err
			},
		},
		{
			name:    "approval taken",
			promise: "an approval is used once",
			first: func(ctx context.Context) (bool, error) {
				a := bot.PendingApproval{ID: "A1", ExpiresAt: t0.Add(time.Hour)}
				if err := rb.PutApproval(ctx, a, time.Hour); err != nil {
					return false, err
				}
				_, ok, err := rb.TakeApproval(ctx, "A1")
				return ok, err
			},
			again: func(ctx context.Context) (bool, error) {
				_, ok, err := rb.TakeApproval(ctx, "A1")
				return ok, err
			},
		},
	}
}

// TestClaimsSurviveFailover makes every kind of once-only claim, kills the
// primary right after, and tries each again on the promoted replica: none
// can be won twice, because a claim counts only once the replicas have it.
func TestClaimsSurviveFailover(t *testing.T) {
	s := redistest.NewSentinel(t)
	c := sentinelClient(t, s)
	ctx := topoCtx(t)
	kinds := claimKinds(t, c, Durability{})
	for _, k := range kinds {
		won, err := k.first(ctx)
		if err != nil || !won {
			t.Fatalf("%s: first claim = %v, %v; want won", k.name, won, err)
		}
	}
	old, err := s.KillPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitFailover(ctx, old); err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			var won bool
			var err error
			// The client may still be finding the new primary.
			for i := 0; i < 50; i++ {
				if won, err = k.again(ctx); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("second attempt after failover: %v", err)
			}
			if won {
				t.Errorf("second attempt after failover won: the failover lost the claim, breaking %q", k.promise)
			}
		})
	}
}

// TestClaimsFailClosedWithoutReplicas asks for more replicas than there
// are: every claim reports ErrNotReplicated and leaves nothing behind, so
// the work is retried rather than done on a claim a failover could lose.
func TestClaimsFailClosedWithoutReplicas(t *testing.T) {
	s := redistest.NewSentinel(t, redistest.WithReplicas(1))
	c := sentinelClient(t, s)
	ctx := topoCtx(t)
	for _, k := range claimKinds(t, c, Durability{Replicas: 2, Timeout: 20 * time.Millisecond}) {
		t.Run(k.name, func(t *testing.T) {
			won, err := k.first(ctx)
			if !errors.Is(err, ErrNotReplicated) || won {
				t.Fatalf("claim with too few replicas = %v, %v; want ErrNotReplicated", won, err)
			}
		})
	}
	// Nothing is left claimed: with replicas enough, every claim is won.
	for _, k := range claimKinds(t, c, Durability{Replicas: 1}) {
		t.Run(k.name+" retried", func(t *testing.T) {
			if k.name == "approval taken" {
				// Failing closed used the approval up: the requester asks
				// again, and nothing ran.
				if won, err := k.again(ctx); err != nil || won {
					t.Fatalf("take after a failed take = %v, %v; want gone", won, err)
				}
				return
			}
			if won, err := k.first(ctx); err != nil || !won {
				t.Fatalf("claim after a failed one = %v, %v; want won (nothing left behind)", won, err)
			}
		})
	}
}
