package alerts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

func flush(rs ...*replica) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.svc.Flush(context.Background()) }()
	}
	wg.Wait()
}

// TestOneLiveMessagePerGroup walks a group through its life at fixed
// times: posted once on first firing (whatever the duplicates and
// replicas), edited in place as alerts join and resolve, at most once per
// edit interval, and finally shown resolved.
func TestOneLiveMessagePerGroup(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r1, r2 := w.replica(withClock(clock)), w.replica(withClock(clock))
	s1 := t0.Add(-3 * time.Minute)

	// First firing, delivered twice to each replica (an HA pair and a retry).
	n := diskGroup(disk("db-1", s1), disk("db-2", s1))
	for i := 0; i < 2; i++ {
		r1.notify(n)
		r2.notify(n)
	}
	flush(r1, r2)
	m := w.only(w.alerts)
	text := m.Rendered()
	for _, want := range []string{"FIRING: DiskFull", "2 firing", "Disk almost full on db-1", "instance=db-2", "Acknowledge", "Silence 1h", "Declare incident"} {
		if !strings.Contains(text, want) {
			t.Errorf("first message lacks %q:\n%s", want, text)
		}
	}
	if n := len(w.fs.Calls("chat.update")); n != 0 {
		t.Errorf("%d edits after duplicates only, want 0", n)
	}

	// A third alert joins, then one resolves, within one edit interval:
	// one edit, after the interval.
	clock.Add(50 * time.Millisecond)
	r1.notify(diskGroup(disk("db-1", s1), disk("db-2", s1), disk("db-3", t0)))
	flush(r1, r2)
	clock.Add(50 * time.Millisecond)
	r2.notify(diskGroup(disk("db-1", s1), disk("db-2", s1).resolvedAt(clock.Now()), disk("db-3", t0)))
	flush(r1, r2)
	if n := len(w.fs.Calls("chat.update")); n != 0 {
		t.Fatalf("%d edits within the edit interval, want 0", n)
	}
	clock.Add(200 * time.Millisecond)
	flush(r1, r2)
	if n := len(w.fs.Calls("chat.update")); n != 1 {
		t.Fatalf("%d edits after the interval, want 1", n)
	}
	m = w.only(w.alerts)
	if text := m.Rendered(); !strings.Contains(text, "2 firing*, 1 resolved") || !strings.Contains(text, "db-3") || !m.Edited {
		t.Errorf("edited message:\n%s", text)
	}

	// Everything resolves: one more edit, no buttons.
	clock.Add(time.Second)
	end := clock.Now()
	r1.notify(diskGroup(disk("db-1", s1).resolvedAt(end), disk("db-2", s1).resolvedAt(end.Add(-time.Second)), disk("db-3", t0).resolvedAt(end)))
	flush(r1, r2)
	m = w.only(w.alerts)
	if text := m.Rendered(); !strings.Contains(text, "RESOLVED: DiskFull") || !strings.Contains(text, "All 3 alerts resolved") {
		t.Errorf("resolved message:\n%s", text)
	}
	if _, ok := buttonIn(t, m, ActionAck); ok {
		t.Error("a resolved group still offers Acknowledge")
	}
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}

	// It fires again later: a new episode and a new message; the resolved
	// one stays as it was.
	clock.Add(time.Hour)
	r2.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Second))))
	flush(r1, r2)
	ms := w.messages(w.alerts)
	if len(ms) != 2 || !strings.Contains(ms[0].Rendered(), "RESOLVED") || !strings.Contains(ms[1].Rendered(), "1 firing") {
		t.Fatalf("after re-firing: %d messages", len(ms))
	}
	if strings.Contains(ms[0].Rendered(), "fired again") {
		t.Error("the resolved message of the first episode was overwritten")
	}
}

// TestConcurrentReplicasPostOnce: two replicas rendering the same new
// groups at the same time post each once.
func TestConcurrentReplicasPostOnce(t *testing.T) {
	w := newWorld(t)
	r1, r2 := w.replica(), w.replica()
	r1.run()
	r2.run()
	starts := time.Now().Add(-time.Minute)
	const groups = 20
	var wg sync.WaitGroup
	for i := 0; i < groups; i++ {
		n := amNotification{GroupKey: "{}:{alertname=\"G" + string(rune('A'+i)) + "\"}",
			GroupLabels: map[string]string{"alertname": "G" + string(rune('A'+i))},
			Common:      map[string]string{"alertname": "G" + string(rune('A'+i))},
			Alerts:      []amAlert{{Labels: map[string]string{"alertname": "G" + string(rune('A'+i))}, Starts: starts, Fingerprint: "f"}}}
		for _, r := range []*replica{r1, r2, r1} {
			wg.Add(1)
			go func() { defer wg.Done(); r.notify(n) }()
		}
	}
	wg.Wait()
	w.waitFor("20 messages", func() bool { return len(w.messages(w.alerts)) >= groups })
	// Both replicas are idle once nothing is due; a second message would
	// have been posted by then.
	for _, r := range []*replica{r1, r2} {
		w.poll("nothing due", func() bool {
			ids, err := r.store.Due(context.Background(), time.Now().Add(time.Hour), 10)
			return err == nil && len(ids) == 0
		})
	}
	flush(r1, r2)
	if n := len(w.messages(w.alerts)); n != groups {
		t.Errorf("%d messages for %d groups", n, groups)
	}
	if n := len(w.fs.Calls("chat.postMessage")); n != groups {
		t.Errorf("%d chat.postMessage calls for %d groups", n, groups)
	}
}

// TestRateLimitedEditsDoNotLoop: a 429 on chat.update is waited out once
// by the Slack client; when Slack keeps refusing, the group backs off
// instead of retrying at once.
func TestRateLimitedEditsDoNotLoop(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	s1 := t0.Add(-time.Minute)
	// A group no route escalates, so only its edits call Slack.
	diskGroup := func(alerts ...amAlert) amNotification {
		for i := range alerts {
			alerts[i].Labels["team"] = "ops"
		}
		n := amNotification{GroupKey: `{}:{alertname="DiskFull"}`, GroupLabels: map[string]string{"alertname": "DiskFull"},
			Common: map[string]string{"alertname": "DiskFull", "team": "ops"}, Alerts: alerts}
		return n
	}
	r.notify(diskGroup(disk("db-1", s1)))
	flush(r)

	// One 429 (Retry-After 0): the client retries once, the edit lands.
	w.fs.RateLimitNext("chat.update", 0)
	clock.Add(time.Second)
	r.notify(diskGroup(disk("db-1", s1), disk("db-2", s1)))
	flush(r)
	calls := w.fs.Calls("chat.update")
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Fatalf("got %d chat.update calls, want a 429 and one retry", len(calls))
	}

	// Slack refuses more often than the client retries: the edit fails,
	// and the group is not retried until its backoff has passed.
	for i := 0; i < 10; i++ {
		w.fs.RateLimitNext("chat.update", 0)
	}
	clock.Add(time.Second)
	r.notify(diskGroup(disk("db-1", s1), disk("db-2", s1), disk("db-3", s1)))
	flush(r)
	flush(r)
	flush(r)
	if n := len(w.fs.Calls("chat.update")); n != 2+5 {
		t.Fatalf("got %d chat.update calls, want 7 (one failed edit of 5 attempts, then a backoff)", n)
	}
	clock.Add(maxBackoff)
	flush(r)
	if n := len(w.fs.Calls("chat.update")); n != 2+5+5 {
		t.Fatalf("after the backoff: %d chat.update calls, want 12", n)
	}
	clock.Add(maxBackoff)
	flush(r)
	last := w.fs.Calls("chat.update")
	if last[len(last)-1].Status != 200 || !strings.Contains(w.only(w.alerts).Rendered(), "db-3") {
		t.Errorf("the edit did not land once Slack accepted it")
	}
}

// TestMessageQuotesAlertText: labels and annotations with Slack markup are
// shown as text (no mention, no broadcast, no hidden link), only http(s)
// URLs become links, and a big group stays within Slack's limits.
func TestMessageQuotesAlertText(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	evil := amNotification{GroupKey: `{}:{alertname="Evil"}`,
		GroupLabels: map[string]string{"alertname": "Evil <!channel>"},
		Common:      map[string]string{"alertname": "Evil <!channel>"},
		Alerts: []amAlert{{Labels: map[string]string{"alertname": "Evil <!channel>", "instance": "<@U0ALICE>", "team": "<https://evil.example.com|payments>"},
			Annotations: map[string]string{"summary": "<!here> hi <!subteam^S0SRE|@sre>", "description": "*x* & <#C0GENERAL>",
				"runbook_url": "javascript:alert(1)"},
			Starts: t0.Add(-time.Minute), Fingerprint: "evil", Generator: "https://prom.example.com/graph?a=1&b=2"}}}
	r.notify(evil)
	flush(r)
	m := w.only(w.alerts)
	raw := m.Rendered()
	for _, bad := range []string{"<!channel>", "<!here>", "<@U0ALICE>", "<!subteam^S0SRE", "<https://evil.example.com|", "<#C0GENERAL>", "javascript:"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the message contains live markup %q", bad)
		}
	}
	for _, want := range []string{"&lt;!channel&gt;", "&lt;@U0ALICE&gt;", "&amp;", "<https://prom.example.com/graph?a=1&amp;b=2|source>"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the message lacks %q", want)
		}
	}

	// 1,000 alerts: the first ten and "and 990 more"; Slack accepts it.
	big := bigNotification(1000, t0.Add(-time.Minute))
	big.Truncated = 4000
	r.notify(big)
	flush(r)
	var text string
	for _, m := range w.messages(w.alerts) {
		if strings.Contains(m.Rendered(), "DiskFull") {
			text = m.Rendered()
		}
	}
	for _, want := range []string{"1000 firing", "…and 990 more (990 firing, 0 resolved)", "+4000 more alerts not sent by Alertmanager"} {
		if !strings.Contains(text, want) {
			t.Errorf("big group message lacks %q", want)
		}
	}
	for _, c := range w.fs.Calls("chat.postMessage") {
		if c.Error != "" {
			t.Errorf("Slack refused a message: %s", c.Error)
		}
	}
}

// TestMentionOnFirstFiring: the route's user group is mentioned in the
// message posted when the group starts firing, and the route's channel is
// used.
func TestMentionOnFirstFiring(t *testing.T) {
	w := newWorld(t)
	r := w.replica()
	n := amNotification{GroupKey: `{}:{alertname="CheckoutLatency"}`, GroupLabels: map[string]string{"alertname": "CheckoutLatency"},
		Common: map[string]string{"alertname": "CheckoutLatency", "team": "payments"},
		Alerts: []amAlert{{Labels: map[string]string{"alertname": "CheckoutLatency", "team": "payments", "severity": "warning"},
			Starts: time.Now().Add(-time.Minute), Fingerprint: "c1"}}}
	r.notify(n)
	flush(r)
	m := w.only(w.payments)
	if !strings.Contains(m.Rendered(), "<!subteam^S0ONCALLPAY>") {
		t.Errorf("no mention of the route's user group:\n%s", m.Rendered())
	}
	if len(w.messages(w.alerts)) != 0 {
		t.Error("posted in the default channel too")
	}
	_ = bot.Sev1
}

// stateFailing fails the next n state updates, as when Redis fails over
// right after a post.
type stateFailing struct {
	bot.AlertStore
	mu         sync.Mutex
	skip, fail int
}

// failAfter lets skip updates through, then fails the next n.
func (s *stateFailing) failAfter(skip, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skip, s.fail = skip, n
}

func (s *stateFailing) UpdateState(ctx context.Context, id string, touch bool, fn func(*bot.AlertGroupState) error) (bot.AlertGroupState, error) {
	s.mu.Lock()
	fail := false
	switch {
	case s.skip > 0:
		s.skip--
	case s.fail > 0:
		s.fail--
		fail = true
	}
	s.mu.Unlock()
	if fail {
		return bot.AlertGroupState{}, errors.New("READONLY You can't write against a read only replica")
	}
	return s.AlertStore.UpdateState(ctx, id, touch, fn)
}

// TestPostedButNotRecordedIsNotPostedAgain: the store fails just after a
// message is posted. The replica that posted keeps the message and the
// group's lock, records it once the store answers, and nobody posts a
// second message.
func TestPostedButNotRecordedIsNotPostedAgain(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	var flaky *stateFailing
	r1 := w.replica(withClock(clock), func(c *Config) { flaky = &stateFailing{AlertStore: c.Store}; c.Store = flaky })
	r2 := w.replica(withClock(clock))
	id := r1.notify(diskGroup(disk("db-1", t0.Add(-time.Minute))))
	flaky.failAfter(2, 1) // the new episode's state and the post's claim, then the record of the post
	flush(r1)
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Fatalf("%d posts, want 1", n)
	}
	if g := r1.group(id); g.State.Message.TS != "" {
		t.Fatalf("the failed update recorded the message: %+v", g.State)
	}
	// Past the backoff: the other replica's publisher finds the group due
	// but locked; the one that posted records its message.
	clock.Add(maxBackoff)
	r2.svc.render(context.Background(), id)
	flush(r1)
	r2.svc.render(context.Background(), id)
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Fatalf("%d posts after the store came back, want 1", n)
	}
	g := r1.group(id)
	m := w.only(w.alerts)
	if g.State.Message.TS != m.TS || g.State.Message.Channel != w.alerts {
		t.Errorf("state %+v, want the message %s recorded", g.State, m.TS)
	}
	// The group is rendered as usual afterwards.
	clock.Add(time.Second)
	r2.notify(diskGroup(disk("db-1", t0.Add(-time.Minute)), disk("db-2", t0)))
	flush(r2)
	if m := w.only(w.alerts); !strings.Contains(m.Rendered(), "2 firing") {
		t.Errorf("message after the next notification:\n%s", m.Rendered())
	}
}

// TestHugeAlertTextStaysWithinSlackLimits: every field at its worst (URLs
// of 2,000 characters, annotations and label values of 3,000 full of Slack
// markup, thirty labels an alert), within the 1 MiB a notification may be,
// still makes a message Slack accepts, with the markup quoted.
func TestHugeAlertTextStaysWithinSlackLimits(t *testing.T) {
	w := newWorld(t)
	r := w.replica(withClock(bottest.NewClock(t0)))
	long := strings.Repeat("<!channel> *x* ", 200)
	url := "https://prom.example.com/graph?q=" + strings.Repeat("a", 1960)
	n := amNotification{GroupKey: `{}:{alertname="Huge"}`, GroupLabels: map[string]string{"alertname": "Huge " + long},
		Common: map[string]string{"alertname": "Huge " + long}}
	for i := 0; i < 12; i++ {
		labels := map[string]string{"alertname": "Huge " + long, "instance": fmt.Sprintf("i-%d %s", i, long)}
		for j := 0; j < 30; j++ {
			labels[fmt.Sprintf("label_%02d", j)] = long[:300]
		}
		n.Alerts = append(n.Alerts, amAlert{Labels: labels, Starts: t0.Add(-time.Minute), Fingerprint: fmt.Sprintf("h%d", i),
			Annotations: map[string]string{"summary": long, "description": long, "runbook_url": url, "dashboard_url": url},
			Generator:   url})
	}
	if code, body := r.post(PathAlertmanager, n.JSON(), nil); code != 200 {
		t.Fatalf("refused: %d %s", code, body)
	}
	flush(r)
	m := w.only(w.alerts)
	if !strings.Contains(m.Rendered(), "12 firing") || strings.Contains(m.Rendered(), "<!channel>") {
		t.Errorf("message:\n%s", clip(m.Rendered(), 2000))
	}
	for _, c := range w.fs.Calls("chat.postMessage") {
		if c.Error != "" {
			t.Errorf("Slack refused the message: %s", c.Error)
		}
	}
}

// TestEditAfterAnotherReplicasEdit: one replica shows the group, another
// edits the message, and then the group comes back to what the first
// showed. The first must edit the message again: what it showed last is
// not what the message shows once another replica has edited it.
func TestEditAfterAnotherReplicasEdit(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r1, r2 := w.replica(withClock(clock)), w.replica(withClock(clock))
	s1 := t0.Add(-3 * time.Minute)
	with := func(description string) amNotification {
		a := disk("db-1", s1)
		a.Annotations = map[string]string{"summary": "Disk almost full on db-1", "description": description}
		return diskGroup(a)
	}
	shows := func(step, want, not string) {
		t.Helper()
		if text := w.only(w.alerts).Rendered(); !strings.Contains(text, want) || strings.Contains(text, not) {
			t.Fatalf("%s: message shows\n%s\nwant %q, not %q", step, text, want, not)
		}
	}
	r1.notify(with("92% used"))
	flush(r1)
	shows("posted by r1", "92% used", "97% used")
	r2.notify(with("97% used"))
	clock.Add(time.Second)
	flush(r2)
	shows("edited by r2", "97% used", "92% used")
	r1.notify(with("92% used"))
	clock.Add(time.Second)
	flush(r1)
	shows("edited by r1", "92% used", "97% used")
}
