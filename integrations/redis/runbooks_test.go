package redis

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func newRunbooks(t *testing.T) (*Runbooks, Client) {
	t.Helper()
	rdb := redistest.New(t)
	s, err := NewRunbooks(rdb)
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

func TestRunbookApprovalSingleUse(t *testing.T) {
	s, rdb := newRunbooks(t)
	ctx := t.Context()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	a := bot.PendingApproval{ID: "run-1", Runbook: "restart", Params: map[string]string{"ns": "prod"},
		Argv: []string{"kubectl", "x"}, ArgvHash: "abc", Requester: "U1", TeamID: "T1", Channel: "C1",
		Rule: "ns=prod", CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	if err := s.PutApproval(ctx, a, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.PutApproval(ctx, a, time.Hour); err == nil {
		t.Errorf("got a second put with the same ID accepted, want refused")
	}
	if ttl := rdb.PTTL(ctx, runbookApprovalPre+"run-1").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("got TTL %s, want about 1h", ttl)
	}
	got, ok, err := s.PeekApproval(ctx, "run-1")
	if err != nil || !ok {
		t.Fatalf("peek: got ok %v err %v, want the approval", ok, err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("peek mismatch (-want +got):\n%s", diff)
	}

	// Two replicas (two clients) and many clicks: exactly one take wins.
	other, err := NewRunbooks(rdb)
	if err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		st := s
		if i%2 == 1 {
			st = other
		}
		go func() {
			defer wg.Done()
			if _, ok, err := st.TakeApproval(ctx, "run-1"); err == nil && ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("got %d successful takes, want exactly 1", wins.Load())
	}
	if _, ok, _ := s.PeekApproval(ctx, "run-1"); ok {
		t.Errorf("got the approval still there after take, want it gone")
	}
	if _, ok, err := s.TakeApproval(ctx, "never"); ok || err != nil {
		t.Errorf("take unknown: got ok %v err %v, want false nil", ok, err)
	}
}

func TestRunbookAuditAppendOnly(t *testing.T) {
	s, rdb := newRunbooks(t)
	ctx := t.Context()
	code := 3
	recs := []bot.AuditRecord{
		{ID: "a1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Event: bot.AuditRefused, User: "U1", Channel: "C1", Runbook: "r", Decision: "refused", Rule: "guest accounts are refused"},
		{ID: "a2", Time: time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), Event: bot.AuditStarted, RunID: "x", User: "U1", Channel: "C1", Runbook: "r", Argv: []string{"a", "b c"}, ArgvHash: "h"},
		{ID: "a3", Time: time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC), Event: bot.AuditFinished, RunID: "x", User: "U1", Channel: "C1", Runbook: "r", ExitCode: &code, Duration: 1500 * time.Millisecond, OutputDigest: "sha256:00", OutputBytes: 12, Incident: "INC-1"},
	}
	for _, r := range recs {
		if err := s.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RecentAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recs, got); diff != "" {
		t.Errorf("audit mismatch (-want +got):\n%s", diff)
	}
	last, err := s.RecentAudit(ctx, 1)
	if err != nil || len(last) != 1 || last[0].ID != "a3" {
		t.Errorf("got %v %v, want only the newest record", last, err)
	}
	if n := rdb.XLen(ctx, AuditStream).Val(); n != 3 {
		t.Errorf("got stream length %d, want 3", n)
	}
	msgs := rdb.XRange(ctx, AuditStream, "-", "+").Val()
	if msgs[2].Values["exit_code"] != "3" || msgs[0].Values["event"] != "refused" {
		t.Errorf("got fields %v / %v, want readable event and exit_code", msgs[0].Values, msgs[2].Values)
	}
}

func TestRunbookLocks(t *testing.T) {
	s, rdb := newRunbooks(t)
	ctx := t.Context()
	since := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	alice := bot.RunLockHolder{User: "U0ALICE", Runbook: "restart", RunID: "r1", Since: since}
	bob := bot.RunLockHolder{User: "U0BOB", Runbook: "restart", RunID: "r2", Since: since}

	release, _, ok, err := s.AcquireRunLock(ctx, "restart", alice, time.Minute)
	if err != nil || !ok {
		t.Fatalf("first acquire: got ok %v err %v, want the lock", ok, err)
	}
	_, held, ok, err := s.AcquireRunLock(ctx, "restart", bob, time.Minute)
	if err != nil || ok {
		t.Fatalf("second acquire: got ok %v err %v, want refused", ok, err)
	}
	if diff := cmp.Diff(alice, held); diff != "" {
		t.Errorf("holder mismatch (-want +got):\n%s", diff)
	}
	if _, _, ok, _ := s.AcquireRunLock(ctx, "other-key", bob, time.Minute); !ok {
		t.Errorf("got another key refused, want it free")
	}
	if ttl := rdb.PTTL(ctx, runbookLockPre+"restart").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("got lock TTL %s, want at most 1m", ttl)
	}

	// Alice's lock is lost (expired) and Bob takes it: Alice's late release
	// must not free Bob's lock.
	rdb.Del(ctx, runbookLockPre+"restart")
	releaseBob, _, ok, _ := s.AcquireRunLock(ctx, "restart", bob, time.Minute)
	if !ok {
		t.Fatal("bob could not take the free lock")
	}
	release()
	release() // safe twice
	if _, held, ok, _ := s.AcquireRunLock(ctx, "restart", alice, time.Minute); ok || held.User != "U0BOB" {
		t.Errorf("got ok %v holder %q after alice's stale release, want bob still holding", ok, held.User)
	}
	releaseBob()
	if _, _, ok, _ := s.AcquireRunLock(ctx, "restart", alice, time.Minute); !ok {
		t.Errorf("got refused after bob released, want the lock")
	}
}

func TestRunbookExpiredApprovals(t *testing.T) {
	s, rdb := newRunbooks(t)
	ctx := t.Context()
	t0 := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	for i, exp := range []time.Duration{time.Minute, 2 * time.Minute, 10 * time.Minute} {
		a := bot.PendingApproval{ID: "a" + string(rune('1'+i)), Runbook: "r", ArgvHash: "h", CreatedAt: t0, ExpiresAt: t0.Add(exp)}
		if err := s.PutApproval(ctx, a, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"none yet", t0.Add(30 * time.Second), 10, nil},
		{"exactly at expiry is not expired", t0.Add(time.Minute), 10, []string{}},
		{"two", t0.Add(5 * time.Minute), 10, []string{"a1", "a2"}},
		{"limit", t0.Add(time.Hour), 1, []string{"a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ExpiredApprovals(ctx, tt.now, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && cmp.Diff(tt.want, got) != "") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, ok, _ := s.TakeApproval(ctx, "a1"); !ok {
		t.Fatal("take a1 failed")
	}
	got, _ := s.ExpiredApprovals(ctx, t0.Add(time.Hour), 10)
	if cmp.Diff([]string{"a2", "a3"}, got) != "" {
		t.Errorf("got %v after taking a1, want a2 a3", got)
	}
	// An approval gone by TTL leaves its index entry until a take.
	rdb.Del(ctx, runbookApprovalPre+"a2")
	if _, ok, _ := s.TakeApproval(ctx, "a2"); ok {
		t.Errorf("got a2 taken after deletion, want gone")
	}
	if got, _ := s.ExpiredApprovals(ctx, t0.Add(time.Hour), 10); cmp.Diff([]string{"a3"}, got) != "" {
		t.Errorf("got %v, want only a3 left", got)
	}
}

func TestRunbookSetApprovalMessage(t *testing.T) {
	s, rdb := newRunbooks(t)
	ctx := t.Context()
	a := bot.PendingApproval{ID: "m1", Runbook: "r", ArgvHash: "h", ExpiresAt: time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC)}
	if err := s.PutApproval(ctx, a, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	ref := bot.MessageRef{Channel: "C1", TS: "1.2"}
	if ok, err := s.SetApprovalMessage(ctx, "m1", ref); err != nil || !ok {
		t.Fatalf("got ok %v err %v, want the message set", ok, err)
	}
	got, _, _ := s.PeekApproval(ctx, "m1")
	if got.Message != ref || got.ArgvHash != "h" {
		t.Errorf("got %+v, want the ref added and the rest kept", got)
	}
	if ttl := rdb.PTTL(ctx, runbookApprovalPre+"m1").Val(); ttl <= 29*time.Minute {
		t.Errorf("got TTL %s, want the original 30m kept", ttl)
	}
	if _, ok, _ := s.TakeApproval(ctx, "m1"); !ok {
		t.Fatal("take failed")
	}
	if ok, err := s.SetApprovalMessage(ctx, "m1", ref); err != nil || ok {
		t.Errorf("got ok %v err %v after take, want false", ok, err)
	}
	if n := rdb.Exists(ctx, runbookApprovalPre+"m1").Val(); n != 0 {
		t.Errorf("a taken approval was written back")
	}
}
