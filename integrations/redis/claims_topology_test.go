package redis

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// claimKind is one kind of once-only claim opsbot makes, with what a second
// attempt after a failover must see.
type claimKind struct {
	name string
	// setup, if set, writes what the claim is made on (with every
	// replica confirming it), once.
	setup func(ctx context.Context) error
	// first makes the claim and reports whether it won.
	first func(ctx context.Context) (bool, error)
	// again reports whether a second attempt (another replica, a
	// redelivery) wins too, which would break the promise in promise.
	again   func(ctx context.Context) (bool, error)
	promise string
	// left, if set, reports whether a first attempt that failed left
	// anything behind.
	left func(ctx context.Context) (bool, error)
}

// claimKinds lists every kind of claim, on stores confirming with d; the
// setups write with the automatic count, which every topology here meets.
func claimKinds(t *testing.T, c Client, d Durability) []claimKind {
	t.Helper()
	kinds := olderClaimKinds(t, c, d)
	kinds = append(kinds, alertClaimKinds(t, c, d)...)
	kinds = append(kinds, onCallClaimKinds(c, d)...)
	kinds = append(kinds, followupClaimKinds(t, c, d)...)
	return append(kinds, runbookClaimKinds(t, c, d)...)
}

func olderClaimKinds(t *testing.T, c Client, d Durability) []claimKind {
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

// alertClaimKinds are the alert store's: an acknowledgement and the
// auto-declare rule (ClaimState), and an escalation taken (ClaimTimers).
func alertClaimKinds(t *testing.T, c Client, d Durability) []claimKind {
	t.Helper()
	newStore := func(d Durability) *Alerts {
		a, err := NewAlerts(AlertsConfig{Client: c, SpoolDir: t.TempDir(), Durability: d})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	}
	a, setup := newStore(d), newStore(Durability{})
	group := func(id string) func(ctx context.Context) error {
		return func(ctx context.Context) error { return setup.Record(ctx, id, note(at0, firing("fp-"+id, at0))) }
	}
	ack := func(ctx context.Context) (bool, error) {
		won := false
		_, err := a.ClaimState(ctx, "claim-ack", true, func(st *bot.AlertGroupState) error {
			won = st.AckedBy == ""
			if won {
				st.AckedBy, st.AckedAt = "U0ALICE", at0
			}
			return nil
		})
		return won, err
	}
	autoDeclare := func(ctx context.Context) (bool, error) {
		won := false
		_, err := a.ClaimState(ctx, "claim-declare", false, func(st *bot.AlertGroupState) error {
			won = !st.AutoDeclared
			st.AutoDeclared = true
			return nil
		})
		return won, err
	}
	escalate := func(ctx context.Context) (bool, error) {
		ids, err := a.ClaimTimers(ctx, "escalate", at0.Add(time.Minute), time.Hour, 10)
		return slices.Contains(ids, "claim-page"), err
	}
	return []claimKind{
		{name: "alert acknowledged", promise: "one acknowledgement per alert group, as its message says",
			setup: group("claim-ack"), first: ack, again: ack},
		{name: "alert auto-declared", promise: "a route's declare rule applied once per episode",
			setup: group("claim-declare"), first: autoDeclare, again: autoDeclare},
		{name: "escalation taken", promise: "one replica pages for an unacknowledged group",
			setup: func(ctx context.Context) error { return setup.ScheduleTimer(ctx, "escalate", "claim-page", at0) },
			first: escalate, again: escalate},
	}
}

// onCallClaimKinds are the cover requests' and the rotation file's
// overrides.
func onCallClaimKinds(c Client, d Durability) []claimKind {
	covers, setup := NewCovers(c, WithDurability(d)), NewCovers(c)
	overrides := NewFileOverrides(c, WithDurability(d))
	now := at0
	request := func(id string) bot.CoverRequest {
		return bot.CoverRequest{ID: id, Schedule: "P1", Requester: "U0REQ", Start: now.Add(time.Hour), End: now.Add(5 * time.Hour)}
	}
	// Another person tries after every lease has run out: only a request
	// that is open (again) can be claimed.
	otherClaims := func(id string) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			later := now.Add(3 * time.Hour)
			_, won, err := covers.ClaimCover(ctx, id, "U0BOB", later, later.Add(time.Minute))
			return won, err
		}
	}
	var added bot.Override
	return []claimKind{
		{name: "cover claimed", promise: "one click takes a cover request",
			setup: func(ctx context.Context) error { return setup.CreateCover(ctx, request("CV1"), now) },
			first: func(ctx context.Context) (bool, error) {
				_, won, err := covers.ClaimCover(ctx, "CV1", "U0ALICE", now, now.Add(4*time.Hour))
				return won, err
			},
			again: func(ctx context.Context) (bool, error) {
				_, won, err := covers.ClaimCover(ctx, "CV1", "U0BOB", now, now.Add(time.Minute))
				return won, err
			}},
		{name: "cover taken", promise: "a cover taken once makes one override",
			setup: func(ctx context.Context) error {
				if err := setup.CreateCover(ctx, request("CV2"), now); err != nil {
					return err
				}
				_, _, err := setup.ClaimCover(ctx, "CV2", "U0ALICE", now, now.Add(time.Minute))
				return err
			},
			first: func(ctx context.Context) (bool, error) {
				_, ok, err := covers.CompleteCover(ctx, "CV2", "U0ALICE", "PO1", now)
				return ok, err
			},
			again: otherClaims("CV2")},
		{name: "cover cancelled", promise: "a request its requester cancelled cannot be taken",
			setup: func(ctx context.Context) error { return setup.CreateCover(ctx, request("CV3"), now) },
			first: func(ctx context.Context) (bool, error) {
				_, ok, err := covers.CancelCover(ctx, "CV3", "U0REQ")
				return ok, err
			},
			again: otherClaims("CV3")},
		{name: "cover requested", promise: "a request its requester was told about stays",
			first: func(ctx context.Context) (bool, error) {
				return true, covers.CreateCover(ctx, request("CV4"), now)
			},
			again: func(ctx context.Context) (bool, error) {
				_, found, err := covers.Cover(ctx, "CV4")
				return !found, err
			},
			left: func(ctx context.Context) (bool, error) {
				_, found, err := covers.Cover(ctx, "CV4")
				return found, err
			}},
		{name: "file override", promise: "an override its person was told about stays, and its number is not reused",
			first: func(ctx context.Context) (bool, error) {
				var err error
				added, err = overrides.AddOverride(ctx, bot.Override{Schedule: "rota", Person: bot.Person{Email: "a@example.com"},
					Start: now, End: now.Add(time.Hour)})
				return err == nil, err
			},
			again: func(ctx context.Context) (bool, error) {
				next, err := overrides.AddOverride(ctx, bot.Override{Schedule: "rota", Person: bot.Person{Email: "b@example.com"},
					Start: now, End: now.Add(time.Hour)})
				if err != nil || next.ID == added.ID {
					return true, err
				}
				all, err := overrides.Overrides(ctx, "rota", now, now.Add(time.Hour))
				return !slices.ContainsFunc(all, func(o bot.Override) bool { return o.ID == added.ID }), err
			},
			left: func(ctx context.Context) (bool, error) {
				all, err := overrides.Overrides(ctx, "rota", now, now.Add(time.Hour))
				return len(all) > 0, err
			}},
	}
}

// followupClaimKinds are a follow-up added and its reminder taken.
func followupClaimKinds(t *testing.T, c Client, d Durability) []claimKind {
	t.Helper()
	fs, err := NewFollowups(c, WithDurability(d))
	if err != nil {
		t.Fatal(err)
	}
	setup, err := NewFollowups(c)
	if err != nil {
		t.Fatal(err)
	}
	add := func(ctx context.Context) (bool, error) {
		_, created, err := fs.Add(ctx, "request:F1", bot.Followup{Incident: "INC-7", Text: "rotate the keys", CreatedAt: at0})
		return created, err
	}
	remind := func(ctx context.Context) (bool, error) {
		won := false
		_, err := fs.Claim(ctx, "INC-8", 1, func(f *bot.Followup) error {
			won = !f.RemindAt.IsZero() && !at0.Before(f.RemindAt)
			f.RemindAt = time.Time{}
			if won {
				f.Reminders++
			}
			return nil
		})
		return won, err
	}
	return []claimKind{
		{name: "follow-up added", promise: "a follow-up its owner was told about stays, once per request",
			first: add, again: add,
			left: func(ctx context.Context) (bool, error) {
				got, err := fs.ForIncident(ctx, "INC-7")
				return len(got) > 0, err
			}},
		{name: "follow-up reminder", promise: "one reminder DM per reminder due",
			setup: func(ctx context.Context) error {
				_, _, err := setup.Add(ctx, "request:F2", bot.Followup{Incident: "INC-8", Text: "write the review",
					Owner: "U0ALICE", RemindAt: at0, CreatedAt: at0})
				return err
			},
			first: remind, again: remind},
	}
}

// runbookClaimKinds are a run slot and the audit record a run starts on.
func runbookClaimKinds(t *testing.T, c Client, d Durability) []claimKind {
	t.Helper()
	rb, err := NewRunbooks(c, WithDurability(d))
	if err != nil {
		t.Fatal(err)
	}
	slot := func(run string) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			_, _, ok, err := rb.AcquireRunSlot(ctx, "U0ALICE", 1, bot.RunSlot{RunID: run, Runbook: "probe", Since: at0}, at0, time.Hour)
			return ok, err
		}
	}
	audited := func(ctx context.Context) (bool, error) {
		recs, err := rb.RecentAudit(ctx, 100)
		return slices.ContainsFunc(recs, func(r bot.AuditRecord) bool { return r.RunID == "RUN1" }), err
	}
	return []claimKind{
		{name: "run slot", promise: "no more runs at once per person than the limit",
			first: slot("RUN0"), again: slot("RUN9")},
		{name: "run audited", promise: "nothing runs unaudited",
			first: func(ctx context.Context) (bool, error) {
				return true, rb.AppendAudit(ctx, bot.AuditRecord{ID: "AUD1", RunID: "RUN1", Event: bot.AuditStarted, Runbook: "probe"})
			},
			again: func(ctx context.Context) (bool, error) {
				ok, err := audited(ctx)
				return !ok, err
			},
			left: audited},
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
		if k.setup != nil {
			if err := k.setup(ctx); err != nil {
				t.Fatalf("%s: setup: %v", k.name, err)
			}
		}
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
			if k.setup != nil {
				if err := k.setup(ctx); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			won, err := k.first(ctx)
			if !errors.Is(err, ErrNotReplicated) {
				t.Fatalf("claim with too few replicas = %v, %v; want ErrNotReplicated", won, err)
			}
			if k.left != nil {
				if left, err := k.left(ctx); err != nil || left {
					t.Fatalf("failed claim left something behind = %v, %v; want nothing", left, err)
				}
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
