package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/commands/oncall"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/integrations/oncallfile"
	opspd "github.com/opsbot/opsbot/integrations/pagerduty"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/slack"
	"github.com/opsbot/opsbot/runbooks"
)

// doctorTimeout bounds each network check, so that one unreachable service
// cannot hang the whole report.
const doctorTimeout = 10 * time.Second

// Result levels of a doctor check.
const (
	levelPass = "PASS"
	levelWarn = "WARN"
	levelFail = "FAIL"
)

// doctor collects check results and prints them as they come, one line each.
type doctor struct {
	out    io.Writer
	counts map[string]int
	http   *http.Client
	// slack is the Slack client once auth.test passed; later checks that
	// need Slack skip when it is nil.
	slack *slack.Client
	// pager is the PagerDuty client once its token was accepted.
	pager *opspd.Client
}

func (d *doctor) report(level, format string, args ...any) {
	d.counts[level]++
	fmt.Fprintf(d.out, "%s  %s\n", level, fmt.Sprintf(format, args...))
}

func (d *doctor) pass(format string, args ...any) { d.report(levelPass, format, args...) }
func (d *doctor) warn(format string, args ...any) { d.report(levelWarn, format, args...) }
func (d *doctor) fail(format string, args ...any) { d.report(levelFail, format, args...) }

// runDoctor checks an installation with its real credentials: the Slack
// tokens and the scopes granted against the shipped manifest, the configured
// channels, user groups and users, Redis reachability and persistence,
// PagerDuty's token, schedules and services, and every runbook's command.
// It prints one PASS/WARN/FAIL line per check and returns 1 when any check
// failed, 0 otherwise.
func runDoctor(ctx context.Context, cfg config.Config, out io.Writer) int {
	d := &doctor{out: out, counts: map[string]int{}, http: &http.Client{Timeout: doctorTimeout}}
	fmt.Fprintf(out, "opsbot doctor %s (commit %s)\n", version, commit)

	refs := d.checkConfig(cfg)
	catalog := d.loadRunbooks(cfg, refs)
	d.checkSlack(ctx, cfg, refs)
	d.checkRedis(ctx, cfg)
	d.checkOnCall(ctx, cfg, refs)
	d.checkOnCallPeople(ctx, cfg, refs)
	d.checkAlerts(ctx, cfg)
	d.reportRunbooks(catalog)
	d.checkRunbookIsolation(ctx, cfg.File.Runbooks.Isolation)
	d.checkRunbookTargets(cfg, catalog)

	fmt.Fprintf(out, "doctor: %d pass, %d warn, %d fail\n", d.counts[levelPass], d.counts[levelWarn], d.counts[levelFail])
	if d.counts[levelFail] > 0 {
		return 1
	}
	return 0
}

// slackRefs are the Slack objects the configuration names, each with where
// it is named, so a failure says what to fix.
type slackRefs struct {
	// channels the bot posts in (it must be a member) and channels only
	// named (runbook allow lists), by ID.
	postChannels, otherChannels map[string][]string
	// alertChannels are the channels alert routes post to: opsbot must be
	// able to read their history to find its own message after a crash.
	alertChannels     map[string]bool
	usergroups, users map[string][]string
	schedules         []bot.ScheduleConfig
	oncallFile        string
}

func newSlackRefs() *slackRefs {
	return &slackRefs{postChannels: map[string][]string{}, otherChannels: map[string][]string{}, alertChannels: map[string]bool{},
		usergroups: map[string][]string{}, users: map[string][]string{}}
}

func addRef(m map[string][]string, id, where string) {
	if id != "" && !slices.Contains(m[id], where) {
		m[id] = append(m[id], where)
	}
}

func (d *doctor) checkConfig(cfg config.Config) *slackRefs {
	refs := newSlackRefs()
	if cfg.ConfigPath == "" {
		d.warn("config: no config file (OPSBOT_CONFIG or --config): no broadcast channel, responders or schedules")
	} else {
		d.pass("config: %s", cfg.ConfigPath)
	}
	inc, oc := cfg.File.Incidents, cfg.File.OnCall
	for _, id := range cfg.File.Admins {
		addRef(refs.users, id, "admins")
	}
	addRef(refs.postChannels, inc.BroadcastChannel, "incidents.broadcast_channel")
	for _, id := range inc.Responders.Users {
		addRef(refs.users, id, "incidents.responders.users")
	}
	for _, id := range inc.Responders.Usergroups {
		addRef(refs.usergroups, id, "incidents.responders.usergroups")
	}
	for _, s := range oc.Schedules {
		where := fmt.Sprintf("oncall.schedules[%s]", scheduleLabel(s))
		addRef(refs.postChannels, s.HandoffChannel, where+".handoff_channel")
		addRef(refs.usergroups, s.Usergroup, where+".usergroup")
	}
	refs.schedules, refs.oncallFile = oc.Schedules, oc.File
	if al := cfg.File.Alerts; cfg.File.AlertsEnabled() {
		addRef(refs.postChannels, al.DefaultChannel, "alerts.default_channel")
		refs.alertChannels[al.DefaultChannel] = true
		for i, r := range al.Routes {
			where := fmt.Sprintf("alerts.routes[%d]", i)
			addRef(refs.postChannels, r.Channel, where+".channel")
			if r.Channel != "" {
				refs.alertChannels[r.Channel] = true
			}
			switch {
			case strings.HasPrefix(r.Mention, "S"):
				addRef(refs.usergroups, r.Mention, where+".mention")
			case r.Mention != "":
				addRef(refs.users, r.Mention, where+".mention")
			}
		}
	}
	return refs
}

func scheduleLabel(s bot.ScheduleConfig) string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// loadRunbooks loads the catalogue early so that the Slack checks cover the
// channels and user groups runbooks name; its results are reported last.
func (d *doctor) loadRunbooks(cfg config.Config, refs *slackRefs) *runbookResult {
	if cfg.RunbooksDir == "" {
		return &runbookResult{}
	}
	cat, err := runbooks.LoadDir(cfg.RunbooksDir)
	res := &runbookResult{dir: cfg.RunbooksDir, catalog: cat, err: err}
	for _, rb := range cat.All() {
		where := "runbook " + rb.Name
		if a := rb.Allow; a != nil {
			for _, id := range a.Users {
				addRef(refs.users, id, where+" allow.users")
			}
			for _, id := range a.Usergroups {
				addRef(refs.usergroups, id, where+" allow.usergroups")
			}
			for _, id := range a.Channels {
				addRef(refs.otherChannels, id, where+" allow.channels")
			}
		}
		if ap := rb.Approval; ap != nil {
			for _, id := range ap.Approvers.Users {
				addRef(refs.users, id, where+" approval.approvers.users")
			}
			for _, id := range ap.Approvers.Usergroups {
				addRef(refs.usergroups, id, where+" approval.approvers.usergroups")
			}
		}
	}
	return res
}

type runbookResult struct {
	dir     string
	catalog *runbooks.Catalog
	err     error
}

func (d *doctor) reportRunbooks(r *runbookResult) {
	if r.dir == "" {
		d.warn("runbooks: no directory configured (OPSBOT_RUNBOOKS or runbooks.dir): /runbook has nothing to run")
		return
	}
	if r.err != nil {
		var probs runbooks.Problems
		if errors.As(r.err, &probs) {
			for _, p := range probs {
				d.fail("runbooks: %s", p)
			}
		} else {
			d.fail("runbooks: %v", r.err)
		}
		return
	}
	all := r.catalog.All()
	if len(all) == 0 {
		d.warn("runbooks: %s holds no runbook", r.dir)
	}
	for _, rb := range all {
		if rb.Missing != "" {
			d.fail("runbook %s: %s (%s)", rb.Name, rb.Missing, rb.File)
			continue
		}
		d.pass("runbook %s: %s", rb.Name, rb.Path)
	}
}

func (d *doctor) checkSlack(ctx context.Context, cfg config.Config, refs *slackRefs) {
	if cfg.SlackBotToken == "" || cfg.SlackAppToken == "" {
		d.fail("slack: SLACK_APP_TOKEN and SLACK_BOT_TOKEN must both be set: doctor checks the real workspace")
		return
	}
	sc, err := slack.New(slack.Config{AppToken: cfg.SlackAppToken.Reveal(), BotToken: cfg.SlackBotToken.Reveal(),
		APIURL: cfg.SlackAPIURL, HTTPClient: d.http})
	if err != nil {
		d.fail("slack: %v", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	id, err := sc.Identity(cctx)
	cancel()
	if err != nil {
		d.fail("slack auth.test: %s", slackErrorHint(err))
		return
	}
	d.pass("slack auth.test: bot @%s (%s) in team %s (%s)", id.UserName, id.UserID, id.TeamName, id.TeamID)
	d.slack = sc
	if cfg.File.TeamID != "" && cfg.File.TeamID != id.TeamID {
		d.fail("config team_id %s: the bot token belongs to team %s; runbooks would refuse everyone", cfg.File.TeamID, id.TeamID)
	}
	d.checkScopes(id.Scopes)

	cctx, cancel = context.WithTimeout(ctx, doctorTimeout)
	err = sc.CheckAppToken(cctx)
	cancel()
	if err != nil {
		d.fail("slack app token: apps.connections.open: %s", slackErrorHint(err))
	} else {
		d.pass("slack app token: Socket Mode connections can be opened")
	}

	d.checkChannels(ctx, refs)
	d.checkUsergroups(ctx, refs)
	d.checkUsers(ctx, refs)
}

// checkScopes compares the scopes Slack reports as granted (nil when it
// reported none) with the manifest this binary ships.
func (d *doctor) checkScopes(scopes []string) {
	if scopes == nil {
		d.warn("slack scopes: Slack did not report the granted scopes (no X-OAuth-Scopes header); compare OAuth & Permissions with deploy/slack-app-manifest.yaml by hand")
		return
	}
	granted := map[string]bool{}
	for _, s := range scopes {
		granted[s] = true
	}
	want := deploy.BotScopes()
	missing := 0
	for _, s := range want {
		if !granted[s] {
			d.fail("slack scope missing: %s (add it in OAuth & Permissions or update the app from deploy/slack-app-manifest.yaml, then reinstall the app)", s)
			missing++
		}
	}
	var extra []string
	for s := range granted {
		if !slices.Contains(want, s) {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	for _, s := range extra {
		d.warn("slack scope not needed: %s is granted but opsbot does not use it (least privilege: remove it)", s)
	}
	if missing == 0 {
		d.pass("slack scopes: all %d scopes of the manifest are granted", len(want))
	}
}

func (d *doctor) checkChannels(ctx context.Context, refs *slackRefs) {
	ids := map[string]bool{}
	for id := range refs.postChannels {
		ids[id] = true
	}
	for id := range refs.otherChannels {
		ids[id] = true
	}
	for _, id := range sortedKeys(ids) {
		where := strings.Join(append(slices.Clone(refs.postChannels[id]), refs.otherChannels[id]...), ", ")
		cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
		ch, err := d.slack.Channel(cctx, id)
		cancel()
		alerts := refs.alertChannels[id]
		switch {
		case err != nil && alerts && slack.ErrorCode(err) == "missing_scope":
			d.warn("slack channel %s (%s): Slack answered missing_scope, which it may for a private channel when the app lacks groups:read (opsbot does not request it); doctor cannot check the channel. If it is private, %s",
				id, where, privateAlertChannel)
		case err != nil && alerts && slack.ErrorCode(err) == "channel_not_found":
			d.fail("slack channel %s (%s): channel_not_found: no such channel, or a private channel the bot is not in or cannot see without groups:read, which opsbot does not request. If it is private, %s",
				id, where, privateAlertChannel)
		case err != nil:
			d.fail("slack channel %s (%s): %s", id, where, slackErrorHint(err))
		case ch.Archived:
			d.fail("slack channel %s #%s (%s): archived; unarchive it or configure another channel", id, ch.Name, where)
		case len(refs.postChannels[id]) > 0 && !ch.Member:
			d.fail("slack channel %s #%s (%s): the bot is not a member and cannot post there; type /invite @opsbot in #%s", id, ch.Name, where, ch.Name)
		case alerts && ch.Private:
			d.warn("slack channel %s #%s (%s): a private channel: %s", id, ch.Name, where, privateAlertChannel)
		default:
			d.pass("slack channel %s #%s (%s)", id, ch.Name, where)
		}
	}
}

// privateAlertChannel is what a private alert channel costs: after a crash
// right after posting, opsbot looks for its own message with
// conversations.history, which for a private channel needs groups:history.
const privateAlertChannel = "opsbot can post there once invited, but its crash recovery cannot search it " +
	"(conversations.history needs groups:history, which opsbot does not request), so a crash right after posting " +
	"may leave two messages for one alert group; use a public channel for alerts"

func (d *doctor) checkUsergroups(ctx context.Context, refs *slackRefs) {
	if len(refs.usergroups) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	groups, err := d.slack.Usergroups(cctx)
	cancel()
	if err != nil {
		d.fail("slack usergroups.list: %s", slackErrorHint(err))
		return
	}
	byID := map[string]slack.Usergroup{}
	for _, g := range groups {
		byID[g.ID] = g
	}
	for _, id := range sortedKeys(refs.usergroups) {
		where := strings.Join(refs.usergroups[id], ", ")
		g, ok := byID[id]
		switch {
		case !ok:
			d.fail("slack user group %s (%s): not found in this workspace", id, where)
		case g.Disabled:
			d.fail("slack user group %s @%s (%s): disabled; enable it or configure another group", id, g.Handle, where)
		default:
			d.pass("slack user group %s @%s (%s)", id, g.Handle, where)
		}
	}
}

func (d *doctor) checkUsers(ctx context.Context, refs *slackRefs) {
	for _, id := range sortedKeys(refs.users) {
		where := strings.Join(refs.users[id], ", ")
		cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
		u, err := d.slack.User(cctx, id)
		cancel()
		switch {
		case err != nil:
			d.fail("slack user %s (%s): %s", id, where, slackErrorHint(err))
		case u.Deleted:
			d.fail("slack user %s @%s (%s): deactivated", id, u.Name, where)
		default:
			d.pass("slack user %s @%s (%s)", id, u.Name, where)
		}
	}
}

// slackErrorHint turns a Slack error into a line an operator can act on.
func slackErrorHint(err error) string {
	code := slack.ErrorCode(err)
	if code == "" {
		return err.Error()
	}
	hints := map[string]string{
		"invalid_auth":           "invalid_auth: the token is wrong or was revoked; copy it again from the app's settings",
		"not_authed":             "not_authed: no token was sent",
		"account_inactive":       "account_inactive: the app was uninstalled or the token revoked; reinstall the app",
		"token_revoked":          "token_revoked: reinstall the app and copy the new token",
		"not_allowed_token_type": "not_allowed_token_type: SLACK_APP_TOKEN must be the app-level token (xapp-) and SLACK_BOT_TOKEN the bot token (xoxb-)",
		"missing_scope":          "missing_scope: the app lacks a scope; see the scope lines above",
		"channel_not_found":      "channel_not_found: no such channel, or a private channel the bot is not in",
		"user_not_found":         "user_not_found: no such user in this workspace",
	}
	if h, ok := hints[code]; ok {
		return h
	}
	return code
}

func (d *doctor) checkRedis(ctx context.Context, cfg config.Config) {
	rc := redisConfig(cfg)
	if rc.URL == "" && len(rc.Addrs) == 0 {
		if !cfg.AllowEphemeralStore() {
			d.fail("redis: not configured (REDIS_URL, or redis.addrs in the config file): Socket Mode refuses to start without Redis " +
				"(OPSBOT_ALLOW_EPHEMERAL_STORE=1 runs it on an in-memory store, for a throwaway trial)")
			return
		}
		d.warn("redis: not configured (REDIS_URL, or redis.addrs in the config file): with OPSBOT_ALLOW_EPHEMERAL_STORE incidents and " +
			"timelines live in memory and are lost on restart, and replicas cannot coordinate")
		return
	}
	what := redisLabel(rc)
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	client, err := oredis.New(cctx, rc)
	if err != nil {
		d.fail("redis %s: unreachable: %v", what, err)
		return
	}
	defer client.Close()
	key := "opsbot:doctor:" + randomHex(8)
	if err := client.Set(cctx, key, "1", time.Minute).Err(); err != nil {
		d.fail("redis %s: reachable but not writable: %v", what, err)
		return
	}
	_ = client.Del(cctx, key).Err()
	d.pass("redis %s: reachable and writable", what)

	aof, errA := client.ConfigGet(cctx, "appendonly").Result()
	save, errS := client.ConfigGet(cctx, "save").Result()
	switch {
	case errA != nil || errS != nil:
		d.warn("redis %s: cannot read the persistence settings (CONFIG GET refused: %v); make sure AOF or RDB snapshots are on", what, errors.Join(errA, errS))
	case aof["appendonly"] == "yes":
		d.pass("redis %s: persistence on (appendonly yes)", what)
	case strings.TrimSpace(save["save"]) != "":
		d.pass("redis %s: persistence by RDB snapshots (save %q, appendonly no); events since the last snapshot are lost if Redis crashes", what, save["save"])
	default:
		d.warn("redis %s: no persistence (appendonly %s, save %q): a Redis restart loses every incident and timeline; set appendonly yes", what, aof["appendonly"], save["save"])
	}

	// The spool the bot would use (spoolDir), which must survive a restart
	// and so cannot live on a read-only or temporary file system.
	dir := spoolDir(cfg)
	if err := checkWritableDir(dir); err != nil {
		d.fail("redis spool_dir %s: %v; timeline events cannot be held while Redis is down", dir, err)
	} else {
		d.pass("redis spool_dir %s: writable", dir)
	}
}

// redisLabel names the Redis deployment for messages: addresses only, never
// the URL, which may carry a password.
func redisLabel(rc oredis.Config) string {
	if rc.URL == "" {
		return strings.Join(rc.Addrs, ",")
	}
	u, err := url.Parse(rc.URL)
	switch {
	case err != nil:
		return "(REDIS_URL)"
	case u.Host != "":
		return u.Host
	}
	return u.Path
}

func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create: %w", err)
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// checkOnCall checks the on-call source: PagerDuty when a token is set,
// else the on-call file.
func (d *doctor) checkOnCall(ctx context.Context, cfg config.Config, refs *slackRefs) {
	services := cfg.File.PagerDuty.Services
	if cfg.PagerDutyToken == "" {
		switch {
		case refs.oncallFile != "":
			d.checkOnCallFile(refs)
		case len(refs.schedules) > 0:
			d.fail("oncall: schedules are configured but neither PAGERDUTY_TOKEN nor oncall.file is set")
		default:
			d.pass("oncall: no PagerDuty token and no schedules: /oncall and handoffs are off")
		}
		if len(services) > 0 {
			d.fail("pagerduty: pagerduty.services are configured but PAGERDUTY_TOKEN is not set: /incident page cannot page")
		}
		return
	}
	pd, err := opspd.New(opspd.Config{Token: cfg.PagerDutyToken.Reveal(), APIURL: cfg.PagerDutyAPIURL,
		HTTPClient: d.http, Timeout: doctorTimeout, MaxAttempts: 1})
	if err != nil {
		d.fail("pagerduty: %v", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	schedules, err := pd.Schedules(cctx)
	cancel()
	if err != nil {
		d.fail("pagerduty token: %s", pagerDutyErrorHint(err))
		return
	}
	d.pass("pagerduty token: accepted by %s", cfg.PagerDutyAPIURL)
	d.pager = pd
	scheduleNames := map[string]string{}
	for _, s := range schedules {
		scheduleNames[s.ID] = s.Name
	}
	for _, s := range refs.schedules {
		if name, ok := scheduleNames[s.ID]; ok {
			d.pass("pagerduty schedule %s (%s): %q", s.ID, scheduleLabel(s), name)
		} else {
			d.fail("pagerduty schedule %s (%s): not found", s.ID, scheduleLabel(s))
		}
	}

	if len(services) > 0 {
		if cfg.File.PagerDuty.FromEmail == "" {
			d.fail("pagerduty.from_email is not set: PagerDuty requires it to create incidents for /incident page")
		}
		cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
		list, err := pd.Services(cctx)
		cancel()
		if err != nil {
			d.fail("pagerduty services: %s", pagerDutyErrorHint(err))
			return
		}
		byID := map[string]string{}
		for _, svc := range list {
			byID[svc.ID] = svc.Name
		}
		for _, name := range sortedKeys(services) {
			id := services[name]
			if n, ok := byID[id]; ok {
				d.pass("pagerduty service %s (pagerduty.services.%s): %q", id, name, n)
			} else {
				d.fail("pagerduty service %s (pagerduty.services.%s): not found", id, name)
			}
		}
	}
}

// onCallHorizon is how far ahead doctor looks for people on call.
const onCallHorizon = 14 * 24 * time.Hour

// checkOnCallPeople maps everyone on call in the next two weeks to a Slack
// user the way the bot does, through the on-call service, whose Unmapped
// then lists who has none. An unmapped person is shown by name in /oncall,
// cannot be mentioned in a handoff or put in a user group, and is not
// invited to incidents: worth fixing before their shift.
func (d *doctor) checkOnCallPeople(ctx context.Context, cfg config.Config, refs *slackRefs) {
	if d.slack == nil || len(refs.schedules) == 0 {
		return
	}
	var provider bot.OnCallProvider
	switch {
	case cfg.PagerDutyToken != "":
		if d.pager == nil {
			return // reported by checkOnCall
		}
		provider = d.pager
	case refs.oncallFile != "":
		fp, err := oncallfile.Load(refs.oncallFile)
		if err != nil {
			return // reported by checkOnCallFile
		}
		provider = fp
	default:
		return
	}
	// The service needs a store to be built; mapping people uses none, so
	// a throwaway one keeps the real on-call state untouched.
	store, stop, err := oredis.Embedded()
	if err != nil {
		d.warn("oncall: cannot check the people on call: %v", err)
		return
	}
	defer stop()
	lookups := &lookupRecorder{Client: d.slack, failed: map[string]error{}}
	svc, err := oncall.New(oncall.Config{Provider: provider, Chat: lookups, Cache: oredis.NewOnCall(store),
		Settings: cfg.File.OnCall, ProviderTimeout: doctorTimeout})
	if err != nil {
		d.fail("oncall: %v", err)
		return
	}
	people, err := svc.MapAhead(ctx, onCallHorizon)
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			d.warn("oncall: cannot read the next shifts: %v", e)
		}
	} else if err != nil {
		d.warn("oncall: cannot read the next shifts: %v", err)
	}
	unmapped := map[bot.Person]bool{}
	for _, p := range svc.Unmapped() {
		unmapped[p] = true
	}
	mapped := 0
	for _, sp := range people {
		p, where := sp.Person, strings.Join(sp.Schedules, ", ")
		switch failed := lookups.failure(p.Email); {
		case failed != nil:
			d.fail("oncall %s <%s>: users.lookupByEmail: %s", p.Name, p.Email, slackErrorHint(failed))
		case unmapped[p] && p.Email == "":
			d.warn("oncall %s (%s): has no e-mail address, so no Slack user can be found", p.Name, where)
		case unmapped[p]:
			d.warn("oncall %s <%s> (%s): no Slack user has this e-mail; /oncall shows the name only, handoffs cannot mention them, user groups and incidents leave them out", p.Name, p.Email, where)
		default:
			mapped++
		}
	}
	if mapped > 0 {
		d.pass("oncall: %d of %d people on call in the next 14 days map to Slack users", mapped, len(people))
	}
}

// lookupRecorder is the Slack client the doctor's on-call service maps
// people through. The service logs a look-up that failed for another reason
// than "no such user" and moves on, since a Slack hiccup is no verdict on
// the person; the doctor notes it, to report it.
type lookupRecorder struct {
	*slack.Client
	mu     sync.Mutex
	failed map[string]error
}

func (r *lookupRecorder) UserByEmail(ctx context.Context, email string) (bot.User, error) {
	u, err := r.Client.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, bot.ErrNotFound) {
		r.mu.Lock()
		r.failed[strings.ToLower(strings.TrimSpace(email))] = err
		r.mu.Unlock()
	}
	return u, err
}

func (r *lookupRecorder) failure(email string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed[strings.ToLower(strings.TrimSpace(email))]
}

func (d *doctor) checkOnCallFile(refs *slackRefs) {
	p, err := oncallfile.Load(refs.oncallFile)
	if err != nil {
		d.fail("oncall file: %v", err)
		return
	}
	have := map[string]bool{}
	for _, s := range p.Schedules() {
		have[s.ID] = true
	}
	d.pass("oncall file %s: %d schedule(s)", refs.oncallFile, len(have))
	for _, s := range refs.schedules {
		if !have[s.ID] {
			d.fail("oncall schedule %s (%s): not in %s", s.ID, scheduleLabel(s), refs.oncallFile)
		}
	}
}

// pagerDutyErrorHint turns a PagerDuty error into a line an operator can
// act on.
func pagerDutyErrorHint(err error) string {
	var pe *opspd.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Status == http.StatusUnauthorized:
			return "401 unauthorized: the token is wrong or was revoked; create a REST API token in PagerDuty"
		case pe.Status == http.StatusForbidden:
			return "403 forbidden: the token may not read this; use a token with read access to schedules and services"
		case errors.Is(err, bot.ErrNotFound):
			return "not found"
		case pe.Status != 0:
			return fmt.Sprintf("HTTP %d: %s", pe.Status, pe.Detail)
		}
	}
	return err.Error()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkRunbookIsolation reports how runbook processes are kept apart from
// opsbot: whether a run gets its own PID namespace (so that setsid cannot
// outlive it) and whether a runbook process can read opsbot's environment
// and memory, tried for real where a cat program exists.
func (d *doctor) checkRunbookIsolation(ctx context.Context, iso runbooks.Isolation) {
	ex, err := runbooks.NewExecutor(runbooks.ExecConfig{Isolation: iso})
	if err != nil {
		d.fail("runbook isolation: %v", err)
		return
	}
	probe, args := firstExisting("/usr/bin/true", "/bin/true"), []string(nil)
	if probe == "" {
		// Distroless images have no true: opsbot itself is a program that
		// starts and ends at once.
		if self, err := os.Executable(); err == nil {
			probe, args = self, []string{"version"}
		}
	}
	st := ex.Probe(ctx, probe, args...)
	switch {
	case st.Err != nil:
		d.fail("runbook isolation: %v", st.Err)
	case st.Mode == runbooks.IsolationNamespace:
		d.pass("runbook isolation: each run in its own PID namespace (%s); killing a run kills every process it started", st.Detail)
	case st.Mode == runbooks.IsolationGroup:
		d.warn("runbook isolation: process group only (%s): a runbook that calls setsid and clears its environment can outlive its run; allow user namespaces (e.g. a seccomp profile that permits clone with CLONE_NEWUSER) to close this", st.Reason)
	default:
		d.warn("runbook isolation: could not be determined (%s)", st.Reason)
	}

	// main makes opsbot non-dumpable first thing; doing it again is a
	// no-op there and makes this check mean the same in every caller.
	if err := hardenProcess(); err != nil {
		d.fail("runbook processes: opsbot cannot make itself non-dumpable (%v): runbooks can read its environment and memory", err)
		return
	}
	if dumpable, err := processDumpable(); err != nil || dumpable {
		d.fail("runbook processes: opsbot is still dumpable (%v): runbooks can read its environment and memory", err)
		return
	}
	cat := firstExisting("/usr/bin/cat", "/bin/cat")
	if cat == "" {
		if os.Geteuid() == 0 && st.Mode != runbooks.IsolationNamespace {
			d.fail("runbook processes: opsbot runs as root without namespaces, so its runbooks run as root and can read its environment; run it as an unprivileged user")
			return
		}
		d.pass("runbook processes: opsbot is not dumpable, so runbooks cannot read its environment or memory (not tried: no cat here)")
		return
	}
	rb := &runbooks.Runbook{Name: "doctor-read-opsbot", Path: cat, Timeout: 10 * time.Second, Lock: "doctor",
		Command: []string{cat, fmt.Sprintf("/proc/%d/environ", os.Getpid())}}
	p, err := ex.Start(ctx, &runbooks.Invocation{Runbook: rb, Argv: rb.Command})
	if err != nil {
		d.warn("runbook processes: could not try to read opsbot's environment: %v", err)
		return
	}
	res := p.Wait()
	switch {
	case res.ExitCode == 0:
		d.fail("runbook processes: a runbook process read opsbot's environment (%s isolation, uid %d): run opsbot as an unprivileged user or allow user namespaces", res.Isolation, os.Geteuid())
	case strings.Contains(res.Output, "Permission denied"):
		d.pass("runbook processes: a runbook process cannot read opsbot's environment or memory (tried with %s)", cat)
	default:
		d.warn("runbook processes: trying to read opsbot's environment failed for another reason: %s", strings.TrimSpace(res.Output))
	}
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// checkRunbookTargets warns about runbooks whose parameters can name
// opsbot's own Redis (an enum value or default equal to its host): such a
// runbook could delete the bot's incidents, locks or audit trail.
func (d *doctor) checkRunbookTargets(cfg config.Config, r *runbookResult) {
	if r == nil || r.catalog == nil {
		return
	}
	own := map[string]bool{}
	rc := redisConfig(cfg)
	addHost := func(hostport string) {
		h := hostport
		if host, _, err := net.SplitHostPort(hostport); err == nil {
			h = host
		}
		h = strings.ToLower(strings.Trim(h, "[]"))
		if h == "" {
			return
		}
		own[h] = true
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			for _, alias := range []string{"localhost", "127.0.0.1", "::1"} {
				own[alias] = true
			}
		}
	}
	if rc.URL != "" {
		if u, err := url.Parse(rc.URL); err == nil {
			addHost(u.Host)
		}
	}
	for _, a := range rc.Addrs {
		addHost(a)
	}
	if len(own) == 0 {
		return
	}
	for _, rb := range r.catalog.All() {
		for _, name := range rb.ParamOrder {
			p := rb.Params[name]
			values := append([]string{p.Default}, p.Enum...)
			for _, v := range values {
				if own[strings.ToLower(v)] {
					d.warn("runbook %s: parameter %s can be %s, opsbot's own Redis: a runbook could change the bot's incidents, locks or audit trail (%s)", rb.Name, name, v, rb.File)
					break
				}
			}
		}
	}
}
