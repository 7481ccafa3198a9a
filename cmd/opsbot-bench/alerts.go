package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// The alerts subcommand measures an alert storm end to end: the real
// Alertmanager (found as the tests find it) notifies opsbot replicas (the
// real binary) through a round-robin load balancer in this process; the
// replicas post to the fake Slack, with a real redis-server.
//
//	go run ./cmd/opsbot-bench alerts                          # 10,000 alerts in 100 groups, 2 replicas
//	go run ./cmd/opsbot-bench alerts -ratelimit-updates 50    # the fake Slack answers 429 to 50 chat.update calls
//
// It checks that every group gets exactly one message, that no group's
// message is edited twice within the edit interval (Alertmanager's
// group_interval), that a 429 costs one retry and no more, and reports the
// Slack calls and the latency from a group's first notification reaching
// the load balancer to its chat.postMessage reaching the fake Slack.

// alertOptions are the alerts subcommand's flags.
type alertOptions struct {
	alerts, groups, replicas int
	waves                    int
	groupWait, groupInterval time.Duration
	rateLimitUpdates         int
	bin, redisURL            string
	json                     bool
	timeout                  time.Duration
}

func parseAlertOptions(args []string, stderr io.Writer) (alertOptions, error) {
	var o alertOptions
	fs := flag.NewFlagSet("opsbot-bench alerts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.alerts, "alerts", 10000, "alerts in the storm")
	fs.IntVar(&o.groups, "groups", 100, "alert groups (alertnames) they fall into")
	fs.IntVar(&o.replicas, "replicas", 2, "opsbot replicas behind the load balancer")
	fs.IntVar(&o.waves, "waves", 5, "the alerts are posted to Alertmanager in this many waves, one group_interval apart, so groups grow and their messages are edited")
	fs.DurationVar(&o.groupWait, "group-wait", time.Second, "Alertmanager's group_wait")
	fs.DurationVar(&o.groupInterval, "group-interval", 2*time.Second, "Alertmanager's group_interval, and opsbot's alerts.edit_interval")
	fs.IntVar(&o.rateLimitUpdates, "ratelimit-updates", 20, "chat.update calls the fake Slack answers with 429 (Retry-After 1s)")
	addRunFlags(fs, &o.bin, &o.redisURL, &o.json, &o.timeout)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.groups < 1 || o.groups > 1000:
		return o, errors.New("-groups must be between 1 and 1000")
	case o.alerts < o.groups || o.alerts > 100000:
		return o, errors.New("-alerts must be at least -groups and at most 100000")
	case o.replicas < 1 || o.replicas > 8:
		return o, errors.New("-replicas must be between 1 and 8")
	case o.waves < 1 || o.waves > 50:
		return o, errors.New("-waves must be between 1 and 50")
	case o.groupInterval < time.Second:
		return o, errors.New("-group-interval must be at least 1s (opsbot's smallest edit interval)")
	case o.groupWait <= 0, o.rateLimitUpdates < 0, o.timeout <= 0:
		return o, errors.New("-group-wait and -timeout must be positive, -ratelimit-updates not negative")
	}
	return o, nil
}

// AlertReport is what the alerts subcommand measured.
type AlertReport struct {
	Alerts         int `json:"alerts"`
	Groups         int `json:"groups"`
	Replicas       int `json:"replicas"`
	Notifications  int `json:"notifications"` // webhook deliveries from Alertmanager
	Accepted       int `json:"accepted"`      // answered 200
	Messages       int `json:"messages"`      // alert messages in the channel
	Posts          int `json:"posts"`         // chat.postMessage calls
	Updates        int `json:"updates"`       // chat.update calls that succeeded
	RateLimited    int `json:"rate_limited"`  // chat.update calls answered 429
	MaxEditsGroup  int `json:"max_edits_per_group"`
	MinEditGapMS   int `json:"min_edit_gap_ms"` // shortest time between two edits of one group
	EditIntervalMS int `json:"edit_interval_ms"`
	// MinRetryGapMS is the shortest time from a 429 to the next chat.update
	// of the same message (Retry-After is 1s); -1 without 429s.
	MinRetryGapMS int `json:"min_retry_gap_ms"`
	// FirstPost is from a group's first notification reaching the load
	// balancer to its chat.postMessage reaching the fake Slack.
	FirstPost Summary  `json:"first_post"`
	Elapsed   float64  `json:"elapsed_s"`
	Problems  []string `json:"problems,omitempty"`
}

func runAlerts(args []string, stdout, stderr io.Writer) int {
	o, err := parseAlertOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "opsbot-bench alerts: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), o.timeout, fmt.Errorf("-timeout %s reached", o.timeout))
	defer cancel()
	rep, err := benchAlerts(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "opsbot-bench alerts: %v\n", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.WriteTable(stdout)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stderr, "opsbot-bench alerts: problem: %s\n", p)
	}
	if len(rep.Problems) > 0 {
		return 1
	}
	return 0
}

// WriteTable prints the report for people.
func (r AlertReport) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "alerts\t%d in %d groups, %d replicas\n", r.Alerts, r.Groups, r.Replicas)
	fmt.Fprintf(tw, "notifications\t%d from Alertmanager, %d accepted\n", r.Notifications, r.Accepted)
	fmt.Fprintf(tw, "messages\t%d\n", r.Messages)
	fmt.Fprintf(tw, "slack calls\t%d chat.postMessage + %d chat.update (+ %d answered 429)\n", r.Posts, r.Updates, r.RateLimited)
	gap := func(ms int) string {
		if ms < 0 {
			return "—"
		}
		return fmt.Sprintf("%d ms", ms)
	}
	fmt.Fprintf(tw, "edits per group\tmax %d, shortest gap %s (edit interval %d ms)\n", r.MaxEditsGroup, gap(r.MinEditGapMS), r.EditIntervalMS)
	fmt.Fprintf(tw, "after a 429\tnext chat.update of that message %s later at the earliest (Retry-After 1 s)\n", gap(r.MinRetryGapMS))
	fmt.Fprintf(tw, "first notification → post\tp50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.FirstPost.P50, r.FirstPost.P95, r.FirstPost.P99, r.FirstPost.Max)
	fmt.Fprintf(tw, "elapsed\t%.1f s\n", r.Elapsed)
	tw.Flush()
}

// balancer spreads webhook deliveries over the replicas, round robin, and
// notes when the first notification of each group arrived.
type balancer struct {
	mu       sync.Mutex
	targets  []string
	next     int
	seen     int
	accepted int
	first    map[string]time.Time // alertname -> first delivery
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, _ := io.ReadAll(r.Body)
	var n struct {
		GroupLabels map[string]string `json:"groupLabels"`
	}
	_ = json.Unmarshal(body, &n)
	b.mu.Lock()
	target := b.targets[b.next%len(b.targets)]
	b.next++
	b.seen++
	if name := n.GroupLabels["alertname"]; name != "" {
		if _, ok := b.first[name]; !ok {
			b.first[name] = arrived
		}
	}
	b.mu.Unlock()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		b.mu.Lock()
		b.accepted++
		b.mu.Unlock()
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

const benchAlertsToken = "opsbot-bench-alerts-token"

func benchAlerts(ctx context.Context, o alertOptions, stderr io.Writer) (AlertReport, error) {
	rep := AlertReport{Alerts: o.alerts, Groups: o.groups, Replicas: o.replicas, EditIntervalMS: int(o.groupInterval / time.Millisecond)}
	wd, err := prepare(ctx, "opsbot-bench-alerts-", o.bin, o.redisURL, stderr)
	if err != nil {
		return rep, err
	}
	defer wd.close()
	dir, bin, redisURL := wd.dir, wd.bin, wd.redisURL
	fs, err := fakeslack.Start()
	if err != nil {
		return rep, err
	}
	defer fs.Close()
	fs.AddUser(fakeslack.User{ID: benchAdmin, Name: "bench-admin", Email: "bench-admin@example.com"})
	channel := fs.AddChannel("alerts", benchAdmin)
	broadcast := fs.AddChannel("incidents", benchAdmin)
	for i := 0; i < o.rateLimitUpdates; i++ {
		fs.RateLimitNext("chat.update", time.Second)
	}

	lb := &balancer{first: map[string]time.Time{}}
	lbSrv := httptest.NewServer(lb)
	defer lbSrv.Close()
	am, err := amtest.Start(amtest.Config{WebhookURL: lbSrv.URL + "/hooks/alertmanager", Token: benchAlertsToken,
		GroupWait: o.groupWait, GroupInterval: o.groupInterval, RepeatInterval: 24 * time.Hour})
	if err != nil {
		return rep, err
	}
	defer am.Close()

	conf := filepath.Join(dir, "opsbot.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("admins: [%s]\nincidents:\n  broadcast_channel: %s\n"+
		"alerts:\n  default_channel: %s\n  edit_interval: %s\n", benchAdmin, broadcast, channel, o.groupInterval)), 0o600); err != nil {
		return rep, err
	}
	runbooks := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(runbooks, 0o700); err != nil {
		return rep, err
	}
	var bots []*child
	defer func() {
		for _, b := range bots {
			b.stop(botGrace)
		}
	}()
	for i := 0; i < o.replicas; i++ {
		port, err := freePort()
		if err != nil {
			return rep, err
		}
		spool := filepath.Join(dir, fmt.Sprintf("spool-%d", i))
		cmd := exec.Command(bin)
		cmd.Dir = dir
		cmd.Env = botEnv("SLACK_APP_TOKEN="+fs.AppToken(), "SLACK_BOT_TOKEN="+fs.BotToken(),
			"SLACK_API_URL="+fs.APIURL(), "REDIS_URL="+redisURL, fmt.Sprintf("OPSBOT_HTTP_ADDR=127.0.0.1:%d", port),
			"OPSBOT_LOG_LEVEL=warn", "OPSBOT_CONFIG="+conf, "OPSBOT_RUNBOOKS="+runbooks,
			"OPSBOT_ALERTS_TOKEN="+benchAlertsToken, "STATE_DIRECTORY="+spool)
		b, err := startChild(fmt.Sprintf("opsbot-%d", i), cmd)
		if err != nil {
			return rep, err
		}
		bots = append(bots, b)
		lb.targets = append(lb.targets, fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err = fs.WaitConnections(cctx, o.replicas)
	cancel()
	if err != nil {
		return rep, fmt.Errorf("waiting for the bots' Socket Mode connections: %w (output: %s)", err, bots[0].output)
	}

	// The storm: each wave adds alerts to every group, one group_interval
	// apart; Alertmanager posts a group at group_wait, then every
	// group_interval while it changes.
	start := time.Now()
	starts := start.Add(-time.Minute).UTC()
	perGroup := o.alerts / o.groups
	name := func(g int) string { return fmt.Sprintf("Storm%03d", g) }
	var all []amtest.PostableAlert
	for w := 0; w < o.waves; w++ {
		var wave []amtest.PostableAlert
		for g := 0; g < o.groups; g++ {
			n := perGroup
			if g < o.alerts%o.groups {
				n++
			}
			for j := w * n / o.waves; j < (w+1)*n/o.waves; j++ {
				wave = append(wave, amtest.PostableAlert{
					Labels:      map[string]string{"alertname": name(g), "instance": fmt.Sprintf("host-%03d-%04d", g, j), "severity": "warning"},
					Annotations: map[string]string{"summary": "storm alert"}, StartsAt: starts})
			}
		}
		all = append(all, wave...)
		// Alertmanager keeps alerts it was sent until they end: each wave
		// re-sends everything so far, as Prometheus does on every
		// evaluation.
		for i := 0; i < len(all); i += 2000 {
			if err := am.PostAlerts(ctx, all[i:min(i+2000, len(all))]...); err != nil {
				return rep, err
			}
		}
		if w < o.waves-1 {
			if err := sleep(ctx, o.groupInterval); err != nil {
				return rep, err
			}
		}
	}
	fmt.Fprintf(stderr, "opsbot-bench: %d alerts posted to Alertmanager in %d waves; waiting for every group to show them\n", len(all), o.waves)
	counts := map[int]int{}
	for g := 0; g < o.groups; g++ {
		counts[g] = perGroup
		if g < o.alerts%o.groups {
			counts[g]++
		}
	}
	full := regexp.MustCompile(`FIRING: (Storm\d{3})\s+\*(\d+) firing\*`)
	err = fs.WaitUntil(ctx, func() bool {
		done := 0
		for _, m := range fs.Messages(channel) {
			if mm := full.FindStringSubmatch(m.Rendered()); mm != nil {
				var g, n int
				fmt.Sscanf(mm[1], "Storm%d", &g)
				fmt.Sscanf(mm[2], "%d", &n)
				if n == counts[g] {
					done++
				}
			}
		}
		return done == o.groups
	})
	if err != nil {
		return rep, fmt.Errorf("not every group shows all its alerts: %w", err)
	}
	rep.Elapsed = time.Since(start).Seconds()
	// Let any edit in flight land before counting.
	if err := sleep(ctx, o.groupInterval+time.Second); err != nil {
		return rep, err
	}

	lb.mu.Lock()
	rep.Notifications, rep.Accepted = lb.seen, lb.accepted
	first := make(map[string]time.Time, len(lb.first))
	for k, v := range lb.first {
		first[k] = v
	}
	lb.mu.Unlock()
	titleRE := regexp.MustCompile(`Storm\d{3}`)
	edits := map[string][]time.Time{}
	limited := map[string]time.Time{} // message ts -> last 429
	rep.MinRetryGapMS = -1
	var latencies []time.Duration
	for _, c := range fs.Calls("chat.postMessage", "chat.update") {
		g := titleRE.FindString(c.Params.Get("text"))
		if c.Method == "chat.update" {
			if t, ok := limited[c.Params.Get("ts")]; ok {
				if gap := int(c.Time.Sub(t) / time.Millisecond); rep.MinRetryGapMS < 0 || gap < rep.MinRetryGapMS {
					rep.MinRetryGapMS = gap
				}
				delete(limited, c.Params.Get("ts"))
			}
		}
		switch {
		case c.Method == "chat.postMessage" && c.Error == "":
			rep.Posts++
			if t, ok := first[g]; ok {
				latencies = append(latencies, c.Time.Sub(t))
			}
		case c.Method == "chat.update" && c.Status == http.StatusTooManyRequests:
			rep.RateLimited++
			limited[c.Params.Get("ts")] = c.Time
		case c.Method == "chat.update" && c.Error == "":
			rep.Updates++
			edits[g] = append(edits[g], c.Time)
		}
	}
	for _, m := range fs.Messages(channel) {
		if m.BotID != "" && titleRE.MatchString(m.Rendered()) {
			rep.Messages++
		}
	}
	rep.MinEditGapMS = -1
	for _, ts := range edits {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		rep.MaxEditsGroup = max(rep.MaxEditsGroup, len(ts))
		for i := 1; i < len(ts); i++ {
			if gap := int(ts[i].Sub(ts[i-1]) / time.Millisecond); rep.MinEditGapMS < 0 || gap < rep.MinEditGapMS {
				rep.MinEditGapMS = gap
			}
		}
	}
	rep.FirstPost = summarize(latencies)
	if rep.Messages != o.groups || rep.Posts != o.groups {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d messages and %d posts for %d groups", rep.Messages, rep.Posts, o.groups))
	}
	// The edit interval is enforced from the start of a render; the calls
	// are timed on arrival, so allow the Slack round trip's jitter.
	if rep.MinEditGapMS >= 0 && time.Duration(rep.MinEditGapMS)*time.Millisecond < o.groupInterval-100*time.Millisecond {
		rep.Problems = append(rep.Problems, fmt.Sprintf("a group was edited twice within %d ms (edit interval %s)", rep.MinEditGapMS, o.groupInterval))
	}
	// A retry loop would come back at once; the client waits Retry-After.
	if rep.MinRetryGapMS >= 0 && rep.MinRetryGapMS < 900 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("a message was edited again %d ms after a 429 with Retry-After 1s", rep.MinRetryGapMS))
	}
	for i, b := range bots {
		if b.exited() {
			rep.Problems = append(rep.Problems, fmt.Sprintf("opsbot-%d exited during the run: %s", i, strings.TrimSpace(b.output.String())))
		}
	}
	return rep, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
