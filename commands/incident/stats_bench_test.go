package incident

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// BenchmarkStats90d answers `/incident stats 90d` — text and chart, the
// chart uploaded — over 2,000 incidents with 50 timeline events each in a
// real Redis. cpu-ms/op is the CPU time of this process (user + system,
// all goroutines) per answer; Redis's own CPU is not in it.
//
//	go test -run '^$' -bench BenchmarkStats90d -benchtime 20x ./commands/incident/
func BenchmarkStats90d(b *testing.B) {
	ctx := context.Background()
	rdb := redistest.New(b)
	store, err := redis.NewIncidents(rdb)
	if err != nil {
		b.Fatal(err)
	}
	tl, err := redis.NewTimeline(redis.TimelineConfig{Client: rdb, SpoolDir: b.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tl.Close() })
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	seedIncidents(b, store, tl, now, 2000, 50)
	chat := bottest.NewChat()
	svc, err := New(Config{Chat: chat, Store: store, Timeline: tl, Clock: bot.ClockFunc(func() time.Time { return now }),
		Logger: zap.NewNop(), Settings: Settings{Timezone: time.UTC}})
	if err != nil {
		b.Fatal(err)
	}
	r := bot.NewRouter()
	svc.Register(r)
	req := &bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: "stats 90d", UserID: "UALICE", ChannelID: "CGENERAL"}
	handler, _ := r.Route(req)

	b.ReportAllocs()
	b.ResetTimer()
	before := cpuTime()
	for i := 0; i < b.N; i++ {
		resp, err := handler(ctx, req)
		if err != nil || resp.Message.Code == "" {
			b.Fatalf("stats: %v %+v", err, resp)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N)/float64(time.Millisecond), "cpu-ms/op")
	if n := len(chat.Uploads()); n != b.N {
		b.Fatalf("%d charts uploaded, want %d", n, b.N)
	}
	st, _ := svc.Stats(ctx, 90*24*time.Hour)
	b.ReportMetric(float64(st.Total+st.Drills), "incidents")
}

// BenchmarkStatsCompute is the calculator and the chart alone, on the same
// 2,000 records in memory.
//
//	go test -run '^$' -bench BenchmarkStatsCompute ./commands/incident/
func BenchmarkStatsCompute(b *testing.B) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	incs := make([]bot.Incident, 2000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range incs {
		incs[i] = fakeIncident(rng, i+1, now)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		st := ComputeStats(incs, now.Add(-90*24*time.Hour), now, time.UTC)
		if _, err := Chart(st); err != nil {
			b.Fatal(err)
		}
		_ = st.Message("90d")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fakeIncident is incident n of a steady stream over 90 days: mixed
// severities, most resolved, a few drills and some detected by alerts.
func fakeIncident(rng *rand.Rand, n int, now time.Time) bot.Incident {
	at := now.Add(-time.Duration(rng.Int64N(int64(89 * 24 * time.Hour))))
	sev := bot.Severities[rng.IntN(4)]
	inc := bot.Incident{Key: bot.IncidentKey(int64(n)), Number: int64(n), Title: fmt.Sprintf("incident %d", n), Severity: sev,
		Status: bot.StatusResolved, DeclaredAt: at, Channel: fmt.Sprintf("C%06d", n), ChannelName: fmt.Sprintf("inc-%d", n),
		Commander: "UALICE", DeclaredBy: "UALICE", Drill: n%25 == 0}
	if n%3 == 0 {
		inc.DetectedAt = at.Add(-time.Duration(rng.IntN(30)+1) * time.Minute)
	}
	inc.AcknowledgedAt = at.Add(time.Duration(rng.IntN(20)+1) * time.Minute)
	inc.MitigatedAt = at.Add(time.Duration(rng.IntN(180)+20) * time.Minute)
	inc.ResolvedAt = inc.MitigatedAt.Add(time.Duration(rng.IntN(600)) * time.Minute)
	if n%40 == 0 {
		inc.Status, inc.ResolvedAt = bot.StatusMonitoring, time.Time{}
	}
	return inc
}

// seedIncidents stores n incidents, in declaration order as numbers are
// allocated, each with events timeline events.
func seedIncidents(b *testing.B, store *redis.Incidents, tl *redis.Timeline, now time.Time, n, events int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	incs := make([]bot.Incident, n)
	for i := range incs {
		incs[i] = fakeIncident(rng, i+1, now)
	}
	// Numbers follow declaration time, as they do when people declare.
	sortByDeclared(incs)
	for i := range incs {
		if _, _, err := store.Create(ctx, fmt.Sprintf("seed-%d", i), incs[i]); err != nil {
			b.Fatal(err)
		}
		incs[i].Key = bot.IncidentKey(int64(i + 1))
	}
	var wg sync.WaitGroup
	jobs := make(chan bot.Incident)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for inc := range jobs {
				for e := 0; e < events; e++ {
					ev := bot.TimelineEvent{ID: bot.RandomIDs.New(), Incident: inc.Key, Type: bot.TLNote, Actor: "UBOB",
						Time: inc.DeclaredAt.Add(time.Duration(e) * time.Minute), Text: "checked the dashboards, nothing new"}
					if err := tl.Append(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	for _, inc := range incs {
		jobs <- inc
	}
	close(jobs)
	wg.Wait()
}

func sortByDeclared(incs []bot.Incident) {
	slices.SortFunc(incs, func(a, b bot.Incident) int { return a.DeclaredAt.Compare(b.DeclaredAt) })
}
