package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

const (
	// connectTimeout bounds a client's start: auth.test, Redis, websocket.
	connectTimeout = 60 * time.Second
	// botGrace is how long a child gets to exit after SIGTERM; opsbot's
	// own shutdown grace is 25 s.
	botGrace = 30 * time.Second
	// pause lets a client's last replies and the machine settle before the
	// next client's turn.
	pause = 200 * time.Millisecond
)

// target is one client under load, over its own fake Slack.
type target struct {
	name    string
	fs      *fakeslack.Server
	ws      workspace
	next    int // the next unused user in ws
	batches []batch
	// pid is the client's process, for its CPU time.
	pid int
	// cpu is the CPU time it used over the rounds; cpuOK says it is known.
	cpu   time.Duration
	cpuOK bool
}

// cpuUsed records the process's CPU time, negated at the start of the
// rounds and added at their end.
func (t *target) cpuUsed(sign time.Duration) {
	d, ok := cpuTime(t.pid)
	t.cpu += sign * d
	t.cpuOK = ok && (t.cpuOK || sign < 0)
}

// finish is the target's Result with its CPU time per command.
func (t *target) finish() Result {
	r := result(t.batches...)
	if n := r.Ack.Count; t.cpuOK && n > 0 {
		r.CPUPerCommand = float64(t.cpu.Microseconds()) / float64(n)
	}
	return r
}

// users takes the next n users of t's workspace.
func (t *target) users(n int) []string {
	u := t.ws.users[t.next : t.next+n]
	t.next += n
	return u
}

// bench runs the whole measurement.
func bench(ctx context.Context, o options, stderr io.Writer) (rep Report, err error) {
	rep = newReport(o)
	rep.LoadStart = loadAvg()
	defer func() { rep.LoadEnd = loadAvg() }()
	wd, err := prepare(ctx, "opsbot-bench-", o.bin, o.redisURL, stderr)
	if err != nil {
		return rep, err
	}
	defer wd.close()
	dir, bin, redisURL := wd.dir, wd.bin, wd.redisURL
	// A child exiting before the end cancels the run with its output.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// opsbot first: its answer in the ack is what the peers send too.
	bot, err := startOpsbot(ctx, o, bin, redisURL, dir, cancel)
	if err != nil {
		return rep, fmt.Errorf("opsbot: %w", err)
	}
	defer bot.fs.Close()
	botStopped := false
	defer func() {
		if !botStopped {
			bot.proc.stop(5 * time.Second)
		}
	}()
	fmt.Fprintf(stderr, "opsbot-bench: opsbot: %d warm-up commands\n", o.warmup)
	if err := warmUp(ctx, &bot.target, o); err != nil {
		return rep, fmt.Errorf("opsbot: %w", cause(ctx, err))
	}
	answer := firstAnswer(bot.fs, bot.target.ws.users[:o.warmup])
	targets := []*target{&bot.target}

	bare := &target{name: "bare"}
	if bare.fs, err = fakeslack.Start(); err != nil {
		return rep, err
	}
	defer bare.fs.Close()
	bare.ws, _ = setUpWorkspace(bare.fs, o.warmup+o.n)
	bc, err := startBare(bare.fs, answer)
	if err != nil {
		return rep, fmt.Errorf("bare client: %w", err)
	}
	bareStopped := false
	defer func() {
		if !bareStopped {
			bc.stop(5 * time.Second)
		}
	}()
	bare.pid = bc.cmd.Process.Pid
	go watch(ctx, bc, cancel)
	if err := waitConnected(ctx, bare.fs); err != nil {
		return rep, fmt.Errorf("bare client: %w", cause(ctx, err))
	}
	fmt.Fprintf(stderr, "opsbot-bench: bare: %d warm-up commands\n", o.warmup)
	if err := warmUp(ctx, bare, o); err != nil {
		return rep, fmt.Errorf("bare client: %w", err)
	}
	targets = append([]*target{bare}, targets...)

	var bolt *target
	if o.bolt == "off" {
		rep.BoltSkipped = "-bolt=off"
	} else {
		bdir, skip, err := prepareBolt(ctx, stderr)
		switch {
		case err != nil:
			return rep, fmt.Errorf("bolt: %w", err)
		case skip != "" && o.bolt == "on":
			return rep, fmt.Errorf("bolt: %s", skip)
		case skip != "":
			rep.BoltSkipped = skip
			fmt.Fprintf(stderr, "opsbot-bench: Bolt skipped: %s\n", skip)
		default:
			bolt = &target{name: "bolt"}
			if bolt.fs, err = fakeslack.Start(); err != nil {
				return rep, err
			}
			defer bolt.fs.Close()
			bolt.ws, _ = setUpWorkspace(bolt.fs, o.warmup+o.n)
			bp, err := startBolt(ctx, bdir, bolt.fs, answer)
			if err != nil {
				return rep, fmt.Errorf("bolt: %w", err)
			}
			defer bp.proc.stop(5 * time.Second)
			bolt.pid = bp.proc.cmd.Process.Pid
			go watch(ctx, bp.proc, cancel)
			if err := waitConnected(ctx, bolt.fs); err != nil {
				return rep, fmt.Errorf("bolt: %w", cause(ctx, err))
			}
			rep.BoltVersion, rep.NodeVersion = bp.version, bp.node
			fmt.Fprintf(stderr, "opsbot-bench: bolt: %d warm-up commands\n", o.warmup)
			if err := warmUp(ctx, bolt, o); err != nil {
				return rep, fmt.Errorf("bolt: %w", cause(ctx, err))
			}
			targets = append(targets, bolt)
		}
	}

	fmt.Fprintf(stderr, "opsbot-bench: %d rounds of %d commands per client\n", o.rounds, o.n)
	for _, t := range targets {
		t.cpuUsed(-1)
	}
	for r := 0; r < o.rounds; r++ {
		per := o.n / o.rounds
		if r == o.rounds-1 {
			per = o.n - per*(o.rounds-1)
		}
		// Rotated each round, so no client always follows the same one.
		for i := range targets {
			t := targets[(r+i)%len(targets)]
			if err := turn(ctx, t, o, t.users(per), true); err != nil {
				return rep, fmt.Errorf("%s, round %d: %w", t.name, r+1, cause(ctx, err))
			}
			time.Sleep(pause)
		}
	}
	for _, t := range targets {
		t.cpuUsed(1)
	}
	rep.Bare, rep.Opsbot = bare.finish(), bot.finish()
	if bolt != nil {
		b := bolt.finish()
		rep.Bolt = &b
	}
	rep.ratios()

	if o.profile != "" {
		fmt.Fprintf(stderr, "opsbot-bench: profiling opsbot under the same load into %s\n", o.profile)
		if err := profileTurn(ctx, bot, o); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("profile: %v", cause(ctx, err)))
		}
	}
	if o.mixed {
		fmt.Fprintf(stderr, "opsbot-bench: mixed workload: %d requests\n", o.mixedN)
		m, err := mixed(ctx, bot, o, stderr)
		if err != nil {
			return rep, fmt.Errorf("mixed workload: %w", cause(ctx, err))
		}
		rep.Mixed = m
	}

	cancel(nil) // children exiting from here on is expected
	bareStopped = true
	if code, killed := bc.stop(botGrace); code != 0 || killed {
		rep.Problems = append(rep.Problems, fmt.Sprintf("bare client exited %d (killed: %v): %s", code, killed, bc.output))
	}
	botStopped = true
	code, killed := bot.proc.stop(botGrace)
	rep.BotExitCode = code
	switch {
	case killed:
		rep.Problems = append(rep.Problems, fmt.Sprintf("opsbot did not exit within %s of SIGTERM and was killed", botGrace))
	case code != 0:
		rep.Problems = append(rep.Problems, fmt.Sprintf("opsbot exited %d after SIGTERM; its output:\n%s", code, bot.proc.output))
	}
	return rep, nil
}

// opsbotTarget is the opsbot child and its fake.
type opsbotTarget struct {
	target
	proc *child
	// httpAddr serves opsbot's /metrics and, with -profile, its profiles.
	httpAddr string
	// incidentsChannel is the broadcast channel.
	incidentsChannel string
}

func startOpsbot(ctx context.Context, o options, bin, redisURL, dir string, cancel context.CancelCauseFunc) (*opsbotTarget, error) {
	fs, err := fakeslack.Start()
	if err != nil {
		return nil, err
	}
	t := &opsbotTarget{target: target{name: "opsbot", fs: fs}}
	users := o.warmup + o.n
	if o.profile != "" {
		users += profileCommands(o)
	}
	t.ws, t.incidentsChannel = setUpWorkspace(fs, users)
	conf, err := writeBotConfig(dir, benchAdmin, t.incidentsChannel)
	if err != nil {
		fs.Close()
		return nil, err
	}
	runbooks := filepath.Join(dir, "runbooks")
	if err := writeRunbooks(runbooks); err != nil {
		fs.Close()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		fs.Close()
		return nil, err
	}
	t.httpAddr = fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	env := []string{"SLACK_APP_TOKEN=" + fs.AppToken(), "SLACK_BOT_TOKEN=" + fs.BotToken(),
		"SLACK_API_URL=" + fs.APIURL(), "REDIS_URL=" + redisURL, "OPSBOT_HTTP_ADDR=" + t.httpAddr,
		"OPSBOT_LOG_LEVEL=warn", "OPSBOT_CONFIG=" + conf, "OPSBOT_RUNBOOKS=" + runbooks}
	if o.profile != "" {
		env = append(env, "OPSBOT_PPROF=true")
	}
	cmd.Env = botEnv(env...)
	if t.proc, err = startChild("opsbot", cmd); err != nil {
		fs.Close()
		return nil, err
	}
	t.pid = t.proc.cmd.Process.Pid
	go watch(ctx, t.proc, cancel)
	if err := waitConnected(ctx, fs); err != nil {
		t.proc.stop(5 * time.Second)
		fs.Close()
		return nil, fmt.Errorf("waiting for the Socket Mode connection: %w", cause(ctx, err))
	}
	return t, nil
}

// watch cancels the run when a child exits before it is stopped.
func watch(ctx context.Context, c *child, cancel context.CancelCauseFunc) {
	select {
	case <-c.done:
		cancel(fmt.Errorf("%s exited (%v); its output:\n%s", c.name, c.err, c.output))
	case <-ctx.Done():
	}
}

func waitConnected(ctx context.Context, fs *fakeslack.Server) error {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return fs.WaitConnections(cctx, 1)
}

// warmUp sends the warm-up commands and waits for their acks and answers,
// so the measured turns start on a client that has loaded its code, and a
// command that does not answer fails before the run.
func warmUp(ctx context.Context, t *target, o options) error {
	if o.warmup == 0 {
		return nil
	}
	l := load{command: o.command, text: o.text, concurrency: o.concurrency, users: t.users(o.warmup)}
	samples, err := send(ctx, t.fs, t.ws.channel, l)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if _, err := collectAcks(ctx, t.fs, samples); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if _, err := collectReplies(ctx, t.fs, samples); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return nil
}

// turn sends one batch to t at -rate (or closed-loop) and records it.
func turn(ctx context.Context, t *target, o options, users []string, replies bool) error {
	l := load{command: o.command, text: o.text, concurrency: o.concurrency, rate: o.rate, users: users}
	samples, err := send(ctx, t.fs, t.ws.channel, l)
	if err != nil {
		return err
	}
	acks, err := collectAcks(ctx, t.fs, samples)
	if err != nil {
		return err
	}
	b := batch{samples: samples, acks: acks}
	if replies {
		if b.replies, err = collectReplies(ctx, t.fs, samples); err != nil {
			return err
		}
	}
	t.batches = append(t.batches, b)
	return nil
}

// firstAnswer is the answer opsbot sent in the ack of its first warm-up
// command, for the peers to send the same; defaultAnswer when it answered
// outside the ack.
func firstAnswer(fs *fakeslack.Server, warm []string) json.RawMessage {
	if len(warm) == 0 {
		return defaultAnswer
	}
	for _, e := range fs.Ephemerals("", warm[0]) {
		if e.Via == "ack" {
			for _, a := range fs.Acks() {
				if len(a.Payload) > 0 && string(a.Payload) != "null" {
					return a.Payload
				}
			}
		}
	}
	return defaultAnswer
}

// cause prefers the reason ctx was cancelled (a child exiting) over the
// bare "context canceled" it produced.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, context.DeadlineExceeded) {
		return c
	}
	return err
}
