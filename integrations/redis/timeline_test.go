package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// event makes a note whose ID is derived from name, so that a test (or its
// re-executed child) can rebuild the same event.
func event(incident, name string) bot.TimelineEvent {
	return bot.TimelineEvent{
		ID:       uuid.NewSHA1(uuid.NameSpaceOID, []byte(incident+"/"+name)),
		Incident: incident,
		Type:     bot.TLNote,
		Actor:    "U0ALICE",
		Time:     t0,
		Text:     name,
	}
}

func timelineConfig(t testing.TB, c Client, dir string, log *zap.Logger) TimelineConfig {
	return TimelineConfig{
		Client:        c,
		SpoolDir:      dir,
		Logger:        log,
		Clock:         bot.ClockFunc(func() time.Time { return t0 }),
		AppendTimeout: 500 * time.Millisecond,
		RetryMin:      5 * time.Millisecond,
		RetryMax:      50 * time.Millisecond,
	}
}

func newTimeline(t testing.TB, c Client, dir string) *Timeline {
	t.Helper()
	tl, err := NewTimeline(timelineConfig(t, c, dir, zaptest.NewLogger(t)))
	if err != nil {
		t.Fatalf("NewTimeline: %v", err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	return tl
}

// startRun runs the flusher until the test ends.
func startRun(t testing.TB, tl *Timeline) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := tl.Run(ctx); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// waitDrained waits until nothing is held. The limit is a hang guard, not a
// speed requirement.
func waitDrained(t testing.TB, tl *Timeline) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for tl.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d events held after 20s", tl.Pending())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func texts(evs []bot.TimelineEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Text
	}
	return out
}

func mustAppend(t testing.TB, tl *Timeline, evs ...bot.TimelineEvent) {
	t.Helper()
	for _, ev := range evs {
		if err := tl.Append(testCtx(t), ev); err != nil {
			t.Fatalf("Append(%s) = %v, want nil", ev.Text, err)
		}
	}
}

func mustEvents(t testing.TB, tl *Timeline, incident string) []bot.TimelineEvent {
	t.Helper()
	evs, err := tl.Events(testCtx(t), incident)
	if err != nil {
		t.Fatalf("Events(%s) = %v", incident, err)
	}
	return evs
}

func TestTimelineAppendAndEvents(t *testing.T) {
	tl := newTimeline(t, redistest.New(t), t.TempDir())
	declared := event("INC-1", "declared")
	declared.Type = bot.TLDeclared
	declared.Time = time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	sev := event("INC-1", "sev")
	sev.Type = bot.TLSeverityChanged
	sev.Details = map[string]string{"from": "sev3", "to": "sev1"}
	other := event("INC-2", "other incident")
	mustAppend(t, tl, declared, other, sev)

	want := []bot.TimelineEvent{declared, sev}
	want[0].Time = declared.Time.UTC()
	if diff := cmp.Diff(want, mustEvents(t, tl, "INC-1")); diff != "" {
		t.Errorf("Events(INC-1) mismatch (-want +got):\n%s", diff)
	}
	if got := texts(mustEvents(t, tl, "INC-2")); !cmp.Equal(got, []string{"other incident"}) {
		t.Errorf("Events(INC-2) = %q, want [other incident]", got)
	}
	if got := mustEvents(t, tl, "INC-99"); len(got) != 0 {
		t.Errorf("Events(INC-99) = %v, want none", got)
	}
	if tl.Pending() != 0 {
		t.Errorf("Pending() = %d with redis up, want 0", tl.Pending())
	}
}

func TestTimelineRejectsInvalidEvents(t *testing.T) {
	c := redistest.New(t)
	tl := newTimeline(t, c, t.TempDir())
	good := event("INC-1", "x")
	tests := []struct {
		name   string
		mutate func(*bot.TimelineEvent)
	}{
		{name: "no id", mutate: func(ev *bot.TimelineEvent) { ev.ID = uuid.Nil }},
		{name: "no incident", mutate: func(ev *bot.TimelineEvent) { ev.Incident = "" }},
		{name: "hash tag breaker", mutate: func(ev *bot.TimelineEvent) { ev.Incident = "INC-1}x" }},
		{name: "no type", mutate: func(ev *bot.TimelineEvent) { ev.Type = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := good
			tt.mutate(&ev)
			if err := tl.Append(testCtx(t), ev); err == nil {
				t.Fatalf("Append(%+v) = nil, want an error", ev)
			}
		})
	}
	if n := c.DBSize(testCtx(t)).Val(); n != 0 {
		t.Errorf("keys after rejected appends = %d, want 0", n)
	}
	if _, err := tl.Events(testCtx(t), "bad key}"); err == nil {
		t.Errorf("Events with an invalid key = nil error, want one")
	}
}

func TestTimelineStoresEachEventOnce(t *testing.T) {
	a := event("INC-1", "a")
	aAgain := a
	aAgain.Text = "a redelivered" // same ID: must not replace or duplicate
	pin1 := event("INC-1", "pin first")
	pin1.DedupeKey = "pin:C1:1700000000.000100"
	pin2 := event("INC-1", "pin again")
	pin2.DedupeKey = pin1.DedupeKey
	pinOther := event("INC-2", "pin elsewhere")
	pinOther.DedupeKey = pin1.DedupeKey
	b := event("INC-1", "b")

	tests := []struct {
		name string
		evs  []bot.TimelineEvent
		want map[string][]string
	}{
		{
			name: "same id twice",
			evs:  []bot.TimelineEvent{a, aAgain, b},
			want: map[string][]string{"INC-1": {"a", "b"}},
		},
		{
			name: "same dedupe key, different ids",
			evs:  []bot.TimelineEvent{pin1, b, pin2},
			want: map[string][]string{"INC-1": {"pin first", "b"}},
		},
		{
			name: "dedupe key is per incident",
			evs:  []bot.TimelineEvent{pin1, pinOther, pin2},
			want: map[string][]string{"INC-1": {"pin first"}, "INC-2": {"pin elsewhere"}},
		},
	}
	for _, mode := range []string{"redis up", "held while down"} {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				srv := redistest.NewServer(t, redistest.WithAppendOnly()) // data must outlive the outage
				tl := newTimeline(t, srv.Client(), t.TempDir())
				if mode == "held while down" {
					srv.Stop()
				}
				mustAppend(t, tl, tt.evs...)
				if mode == "held while down" {
					if tl.Pending() != len(tt.evs) {
						t.Fatalf("Pending() = %d, want %d", tl.Pending(), len(tt.evs))
					}
					srv.Start()
					// Before the flush, Events already deduplicates held events.
					for inc, want := range tt.want {
						if got := texts(mustEvents(t, tl, inc)); !cmp.Equal(got, want) {
							t.Errorf("Events(%s) before flush = %q, want %q", inc, got, want)
						}
					}
					if err := tl.Flush(testCtx(t)); err != nil {
						t.Fatalf("Flush() = %v", err)
					}
				}
				for inc, want := range tt.want {
					if got := texts(mustEvents(t, tl, inc)); !cmp.Equal(got, want) {
						t.Errorf("Events(%s) = %q, want %q", inc, got, want)
					}
					if n := srv.Client().XLen(testCtx(t), StreamKey(inc)).Val(); n != int64(len(want)) {
						t.Errorf("stream %s has %d entries, want %d", inc, n, len(want))
					}
				}
			})
		}
	}
}

func TestTimelineOutageMidStream(t *testing.T) {
	srv := redistest.NewServer(t, redistest.WithAppendOnly()) // data must outlive the outage
	dir := t.TempDir()
	tl := newTimeline(t, srv.Client(), dir)
	startRun(t, tl)

	var want []string
	appendN := func(from, to int) {
		for i := from; i < to; i++ {
			name := fmt.Sprintf("e%03d", i)
			mustAppend(t, tl, event("INC-7", name))
			want = append(want, name)
		}
	}
	appendN(0, 10)
	if tl.Pending() != 0 {
		t.Fatalf("Pending() with redis up = %d, want 0", tl.Pending())
	}
	srv.Stop()
	appendN(10, 40)
	if got := tl.Pending(); got != 30 {
		t.Fatalf("Pending() during outage = %d, want 30", got)
	}
	if n := spoolBytes(t, dir); n == 0 {
		t.Fatalf("spool during outage holds %d bytes; want the held events", n)
	}
	if _, err := tl.Events(testCtx(t), "INC-7"); err == nil {
		t.Errorf("Events() during outage = nil error, want one (stored events are unknown)")
	}
	srv.Start()
	appendN(40, 50) // behind the held events, so they must be held too
	waitDrained(t, tl)

	if diff := cmp.Diff(want, texts(mustEvents(t, tl, "INC-7"))); diff != "" {
		t.Errorf("Events() after outage mismatch (-want +got):\n%s", diff)
	}
	if n := srv.Client().XLen(testCtx(t), StreamKey("INC-7")).Val(); n != 50 {
		t.Errorf("stream length = %d, want 50", n)
	}
	if n := spoolBytes(t, dir); n != 0 {
		t.Errorf("spool after drain holds %d bytes; want none", n)
	}
}

func TestTimelineEventsMergesStoredAndHeld(t *testing.T) {
	srv := redistest.NewServer(t, redistest.WithAppendOnly()) // data must outlive the outage
	tl := newTimeline(t, srv.Client(), t.TempDir())
	mustAppend(t, tl, event("INC-3", "stored"))
	srv.Stop()
	mustAppend(t, tl, event("INC-3", "held 1"), event("INC-3", "held 2"))
	srv.Start()
	// As after a crash mid-drain: the first held event is already stored.
	if _, err := tl.store(testCtx(t), event("INC-3", "held 1"), mustJSON(t, event("INC-3", "held 1"))); err != nil {
		t.Fatalf("store: %v", err)
	}
	want := []string{"stored", "held 1", "held 2"}
	if got := texts(mustEvents(t, tl, "INC-3")); !cmp.Equal(got, want) {
		t.Fatalf("Events() before flush = %q, want %q", got, want)
	}
	if err := tl.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	if got := texts(mustEvents(t, tl, "INC-3")); !cmp.Equal(got, want) {
		t.Fatalf("Events() after flush = %q, want %q", got, want)
	}
}

// spoolBytes is the size of every spool file in dir together.
func spoolBytes(t testing.TB, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+spoolSuffix))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// TestTimelineSpoolSurvivesRestart holds events in one Timeline, closes it
// with Redis still down, and has another one on the same directory adopt
// them: held events outlive the process that accepted them.
func TestTimelineSpoolSurvivesRestart(t *testing.T) {
	srv := redistest.NewServer(t)
	srv.Stop()
	dir := t.TempDir()
	first, err := NewTimeline(timelineConfig(t, srv.Client(), dir, zaptest.NewLogger(t)))
	if err != nil {
		t.Fatalf("NewTimeline: %v", err)
	}
	mustAppend(t, first, event("INC-4", "a"), event("INC-4", "b"))
	// A second process on the same directory starts beside the first and
	// leaves its spool alone while it runs.
	second := newTimeline(t, srv.Client(), dir)
	if got := second.Pending(); got != 0 {
		t.Fatalf("Pending() of a second Timeline beside a live one = %d, want 0", got)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := first.Append(testCtx(t), event("INC-4", "late")); !errors.Is(err, ErrTimelineClosed) {
		t.Fatalf("Append after Close = %v, want ErrTimelineClosed", err)
	}
	srv.Start()
	restarted := newTimeline(t, srv.Client(), dir)
	if got := restarted.Pending(); got != 2 {
		t.Fatalf("Pending() after restart = %d, want 2", got)
	}
	startRun(t, restarted)
	waitDrained(t, restarted)
	if got := texts(mustEvents(t, restarted, "INC-4")); !cmp.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Events() = %q, want [a b]", got)
	}
	if n := spoolBytes(t, dir); n != 0 {
		t.Errorf("spools after the drain hold %d bytes, want none", n)
	}
}

func TestTimelineCloseFlushesWhenRedisIsBack(t *testing.T) {
	srv := redistest.NewServer(t)
	tl, err := NewTimeline(timelineConfig(t, srv.Client(), t.TempDir(), zaptest.NewLogger(t)))
	if err != nil {
		t.Fatalf("NewTimeline: %v", err)
	}
	srv.Stop()
	mustAppend(t, tl, event("INC-5", "a"))
	srv.Start()
	if err := tl.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if n := srv.Client().XLen(testCtx(t), StreamKey("INC-5")).Val(); n != 1 {
		t.Fatalf("stream length after Close = %d, want 1", n)
	}
}

func mustJSON(t testing.TB, ev bot.TimelineEvent) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func TestTimelineTornAndCorruptSpool(t *testing.T) {
	dir := t.TempDir()
	good1 := spoolLine(mustJSON(t, event("INC-6", "one")))
	corrupt := spoolLine(mustJSON(t, event("INC-6", "corrupt")))
	corrupt[12] ^= 0x20 // flip a bit in the JSON: checksum mismatch
	good2 := spoolLine(mustJSON(t, event("INC-6", "two")))
	torn := spoolLine(mustJSON(t, event("INC-6", "torn")))
	torn = torn[:len(torn)/2]
	var content []byte
	for _, part := range [][]byte{good1, corrupt, []byte("garbage without checksum\n"), good2, torn} {
		content = append(content, part...)
	}
	// The single spool file of earlier versions is adopted like any other.
	if err := os.WriteFile(filepath.Join(dir, "timeline.spool"), content, 0o600); err != nil {
		t.Fatal(err)
	}

	srv := redistest.NewServer(t)
	srv.Stop()
	core, logs := observer.New(zap.InfoLevel)
	tl, err := NewTimeline(timelineConfig(t, srv.Client(), dir, zap.New(core)))
	if err != nil {
		t.Fatalf("NewTimeline on a torn spool = %v, want nil", err)
	}
	if got := tl.Pending(); got != 2 {
		t.Fatalf("Pending() = %d, want 2 (the intact lines)", got)
	}
	for _, msg := range []string{"dropping torn last line", "skipping corrupted line"} {
		if logs.FilterMessageSnippet(msg).Len() == 0 {
			t.Errorf("no log %q; logs: %v", msg, logs.All())
		}
	}
	if n := logs.FilterMessageSnippet("skipping corrupted line").Len(); n != 2 {
		t.Errorf("corrupted-line logs = %d, want 2", n)
	}
	// The next line must start cleanly after the cut, not glued to the torn one.
	mustAppend(t, tl, event("INC-6", "three"))
	if err := tl.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	srv.Start()
	core2, logs2 := observer.New(zap.InfoLevel)
	reopened, err := NewTimeline(timelineConfig(t, srv.Client(), dir, zap.New(core2)))
	if err != nil {
		t.Fatalf("NewTimeline: %v", err)
	}
	t.Cleanup(func() { _ = reopened.Close() })
	if n := logs2.FilterMessageSnippet("torn").Len(); n != 0 {
		t.Errorf("reopened spool still has a torn line")
	}
	if err := reopened.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	want := []string{"one", "two", "three"}
	if got := texts(mustEvents(t, reopened, "INC-6")); !cmp.Equal(got, want) {
		t.Fatalf("Events() = %q, want %q", got, want)
	}
}

func TestTimelineConcurrentAppendsThroughOutage(t *testing.T) {
	srv := redistest.NewServer(t, redistest.WithAppendOnly()) // data must outlive the outage
	tl := newTimeline(t, srv.Client(), t.TempDir())
	startRun(t, tl)
	const writers, perWriter = 8, 40
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < perWriter; i++ {
				if err := tl.Append(testCtx(t), event("INC-8", fmt.Sprintf("w%d-%03d", w, i))); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if w == 0 && i == perWriter/4+1 && tl.Pending() == 0 {
					t.Errorf("nothing held right after an append with redis down")
				}
				if w == 0 && i == perWriter/4 {
					srv.Stop()
				}
				if w == 0 && i == perWriter/2 {
					srv.Start()
				}
			}
		}()
	}
	readers := make(chan struct{})
	go func() { // Events and Pending race with appends and the flusher.
		defer close(readers)
		for i := 0; i < 20; i++ {
			_, _ = tl.Events(testCtx(t), "INC-8")
			_ = tl.Pending()
		}
	}()
	close(start)
	wg.Wait()
	<-readers
	waitDrained(t, tl)

	got := texts(mustEvents(t, tl, "INC-8"))
	if len(got) != writers*perWriter {
		t.Fatalf("Events() has %d events, want %d", len(got), writers*perWriter)
	}
	seen := map[string]bool{}
	last := map[string]string{}
	for _, name := range got {
		if seen[name] {
			t.Fatalf("event %s stored twice", name)
		}
		seen[name] = true
		writer, _, _ := strings.Cut(name, "-")
		if prev := last[writer]; prev > name {
			t.Fatalf("writer %s: %s stored after %s; want append order", writer, name, prev)
		}
		last[writer] = name
	}
}

// meetHook holds every script call until two are in flight at once.
type meetHook struct {
	mu      sync.Mutex
	inside  int
	met     chan struct{}
	metOnce sync.Once
}

func (h *meetHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *meetHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func (h *meetHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			h.mu.Lock()
			h.inside++
			if h.inside >= 2 {
				h.metOnce.Do(func() { close(h.met) })
			}
			h.mu.Unlock()
			select {
			case <-h.met:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return next(ctx, cmd)
	}
}

// TestTimelineAppendsRunSideBySide: appends to Redis do not wait for one
// another (they used to queue behind one lock held over the round trip).
// Each store is held until a second is in flight; were they serialised, the
// first would time out and be held in the spool.
func TestTimelineAppendsRunSideBySide(t *testing.T) {
	c := redistest.New(t)
	h := &meetHook{met: make(chan struct{})}
	c.AddHook(h)
	tl := newTimeline(t, c, t.TempDir())
	var wg sync.WaitGroup
	for _, inc := range []string{"INC-21", "INC-22"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tl.Append(testCtx(t), event(inc, "side by side")); err != nil {
				t.Errorf("Append to %s: %v", inc, err)
			}
		}()
	}
	wg.Wait()
	select {
	case <-h.met:
	default:
		t.Fatal("the two appends never ran at the same time")
	}
	if n := tl.Pending(); n != 0 {
		t.Errorf("%d events held, want both stored in Redis directly", n)
	}
	for _, inc := range []string{"INC-21", "INC-22"} {
		if got := texts(mustEvents(t, tl, inc)); !cmp.Equal(got, []string{"side by side"}) {
			t.Errorf("Events(%s) = %q", inc, got)
		}
	}
}
