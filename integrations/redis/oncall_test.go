package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func TestOnCallSnapshotRoundTripAndNoRollback(t *testing.T) {
	ctx := context.Background()
	s := redis.NewOnCall(redistest.New(t))
	t0 := time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)

	if _, ok, err := s.Snapshot(ctx, "P1"); err != nil || ok {
		t.Fatalf("Snapshot of an unknown schedule = ok %v, err %v; want not found", ok, err)
	}
	newer := bot.OnCallSnapshot{Schedule: "P1", SyncedAt: t0, Shifts: []bot.Shift{
		{Schedule: "P1", Level: 1, Person: bot.Person{Name: "Anna", Email: "anna@example.com", ProviderID: "PA"}, Start: t0, End: t0.Add(24 * time.Hour)},
		{Schedule: "P1", Level: 2, Person: bot.Person{Name: "Lead", Email: "lead@example.com", ProviderID: "PL"}, Start: t0.Add(-time.Hour)},
	}}
	older := bot.OnCallSnapshot{Schedule: "P1", SyncedAt: t0.Add(-time.Minute)}
	tests := []struct {
		name string
		save bot.OnCallSnapshot
		want bot.OnCallSnapshot
	}{
		{name: "first save is stored", save: newer, want: newer},
		{name: "an older sync does not replace a newer one", save: older, want: newer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SaveSnapshot(ctx, tc.save); err != nil {
				t.Fatalf("SaveSnapshot: %v", err)
			}
			got, ok, err := s.Snapshot(ctx, "P1")
			if err != nil || !ok {
				t.Fatalf("Snapshot = ok %v, err %v; want found", ok, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOnCallClaimOnceAcrossClients(t *testing.T) {
	ctx := context.Background()
	c := redistest.New(t)
	// Two stores on one Redis stand for two replicas.
	stores := []*redis.OnCall{redis.NewOnCall(c), redis.NewOnCall(c)}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(s *redis.OnCall) {
			defer wg.Done()
			ok, err := s.ClaimOnce(ctx, "handoff:P1:1774767600", time.Hour)
			if err != nil {
				t.Errorf("ClaimOnce: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		}(stores[i%2])
	}
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Errorf("got %d winners, want exactly 1", got)
	}
	if err := stores[0].ReleaseClaim(ctx, "handoff:P1:1774767600"); err != nil {
		t.Fatalf("ReleaseClaim: %v", err)
	}
	if ok, err := stores[1].ClaimOnce(ctx, "handoff:P1:1774767600", time.Hour); err != nil || !ok {
		t.Errorf("ClaimOnce after release = %v, %v; want true", ok, err)
	}
	if _, err := stores[0].ClaimOnce(ctx, "", time.Hour); err == nil {
		t.Errorf("got no error for an empty key, want one")
	}
}

func TestOnCallHandoffRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := redis.NewOnCall(redistest.New(t))
	t0 := time.Date(2026, 10, 25, 8, 0, 0, 0, time.UTC)
	h := bot.Handoff{Schedule: "P1", ShiftStart: t0, Incoming: []string{"U1"}, Ref: bot.MessageRef{Channel: "C1", TS: "1.2"},
		Message:  bot.Message{Channel: "C1", Title: "Handoff", Buttons: []bot.Button{{ID: "oncall.ack", Text: "Acknowledge", Value: "P1|1"}}},
		PostedAt: t0.Add(time.Second)}
	if err := s.SaveHandoff(ctx, h); err != nil {
		t.Fatalf("SaveHandoff: %v", err)
	}
	got, ok, err := s.LatestHandoff(ctx, "P1")
	if err != nil || !ok {
		t.Fatalf("LatestHandoff = ok %v, err %v; want found", ok, err)
	}
	if diff := cmp.Diff(h, got); diff != "" {
		t.Errorf("handoff (-want +got):\n%s", diff)
	}
	if _, ok, err := s.LatestHandoff(ctx, "P2"); err != nil || ok {
		t.Errorf("LatestHandoff of another schedule = ok %v, err %v; want not found", ok, err)
	}
}
