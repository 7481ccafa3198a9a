package redis

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

func TestRunSlotsLimitPerPerson(t *testing.T) {
	s, rdb := newRunbooks(t)
	ctx := t.Context()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	slot := func(id string) bot.RunSlot { return bot.RunSlot{RunID: id, Runbook: "deploy", Since: now} }

	rel1, _, ok, err := s.AcquireRunSlot(ctx, "U1", 2, slot("r1"), now, time.Minute)
	if err != nil || !ok {
		t.Fatalf("first slot: ok %v err %v", ok, err)
	}
	if _, _, ok, _ := s.AcquireRunSlot(ctx, "U1", 2, slot("r2"), now, 10*time.Minute); !ok {
		t.Fatal("second slot refused under a limit of 2")
	}
	_, running, ok, err := s.AcquireRunSlot(ctx, "U1", 2, slot("r3"), now, time.Minute)
	if err != nil || ok {
		t.Fatalf("third slot: got ok %v err %v, want refused", ok, err)
	}
	if diff := cmp.Diff([]bot.RunSlot{slot("r1"), slot("r2")}, running); diff != "" {
		t.Errorf("running runs (-want +got):\n%s", diff)
	}
	// Someone else is not affected.
	if _, _, ok, _ := s.AcquireRunSlot(ctx, "U2", 2, slot("other"), now, time.Minute); !ok {
		t.Errorf("another person was refused")
	}
	// The set lives as long as its longest run, not for ever.
	if ttl := rdb.PTTL(ctx, runbookRunningPre+"U1").Val(); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("got TTL %s on the running set, want about 10m (its longest run)", ttl)
	}

	rel1()
	rel1() // twice is harmless
	if _, _, ok, _ := s.AcquireRunSlot(ctx, "U1", 2, slot("r4"), now, time.Minute); !ok {
		t.Errorf("slot freed by release was not given out")
	}
	// A run whose replica died is dropped once its expiry has passed:
	// r4 expires after a minute, r2 after ten.
	later := now.Add(2 * time.Minute)
	if _, running, ok, _ := s.AcquireRunSlot(ctx, "U1", 2, slot("r5"), later, time.Minute); !ok {
		t.Errorf("got refused with %v, want the expired run dropped", running)
	}
}

// TestRunSlotsAcrossReplicas: many concurrent starts by one person on two
// replicas get exactly the limit.
func TestRunSlotsAcrossReplicas(t *testing.T) {
	s, rdb := newRunbooks(t)
	other, err := NewRunbooks(rdb)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var got atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		st := s
		if i%2 == 1 {
			st = other
		}
		go func(i int) {
			defer wg.Done()
			_, _, ok, err := st.AcquireRunSlot(t.Context(), "U1", 3, bot.RunSlot{RunID: string(rune('a' + i)), Runbook: "x", Since: now}, now, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				got.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if got.Load() != 3 {
		t.Errorf("got %d concurrent runs, want the limit of 3", got.Load())
	}
}
