package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

const (
	// connectTimeout bounds the bot's start: auth.test, Redis, websocket.
	connectTimeout = 30 * time.Second
	// botGrace is how long the bot gets to exit after SIGTERM; opsbot's own
	// shutdown grace is 25 s.
	botGrace = 30 * time.Second
)

// bench runs the whole measurement: the bot, then the floor.
func bench(ctx context.Context, o options, stderr io.Writer) (Report, error) {
	rep := newReport(o)
	dir, err := os.MkdirTemp("", "opsbot-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)

	bin := o.bin
	if bin == "" {
		fmt.Fprintf(stderr, "opsbot-bench: building %s\n", botPackage)
		if bin, err = buildBot(ctx, dir); err != nil {
			return rep, err
		}
	}
	redisURL := o.redisURL
	if redisURL == "" {
		redis, url, err := startRedis(ctx, dir)
		if err != nil {
			return rep, err
		}
		defer redis.stop(5 * time.Second)
		redisURL = url
	}

	fmt.Fprintf(stderr, "opsbot-bench: bot: %d warm-up + %d commands\n", o.warmup, o.n)
	if err := benchBot(ctx, o, bin, redisURL, dir, &rep); err != nil {
		return rep, fmt.Errorf("bot: %w", err)
	}
	fmt.Fprintf(stderr, "opsbot-bench: floor: %d warm-up + %d commands\n", o.warmup, o.n)
	if err := benchFloor(ctx, o, &rep); err != nil {
		return rep, fmt.Errorf("floor: %w", err)
	}
	rep.Ratio = ratio(rep.Bot.Ack, rep.Floor.Ack)
	return rep, nil
}

// benchBot runs the opsbot binary against a fresh fake and measures it.
func benchBot(ctx context.Context, o options, bin, redisURL, dir string, rep *Report) error {
	fs, err := fakeslack.Start()
	if err != nil {
		return err
	}
	defer fs.Close()
	ws, broadcast := setUpWorkspace(fs, o.warmup+o.n)

	conf, err := writeBotConfig(dir, benchAdmin, broadcast)
	if err != nil {
		return err
	}
	runbooks := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(runbooks, 0o700); err != nil {
		return err
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = botEnv("SLACK_APP_TOKEN="+fs.AppToken(), "SLACK_BOT_TOKEN="+fs.BotToken(),
		"SLACK_API_URL="+fs.APIURL(), "REDIS_URL="+redisURL, "OPSBOT_HTTP_ADDR=127.0.0.1:0",
		"OPSBOT_LOG_LEVEL=warn", "OPSBOT_CONFIG="+conf, "OPSBOT_RUNBOOKS="+runbooks)
	bot, err := startChild("opsbot", cmd)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			bot.stop(5 * time.Second)
		}
	}()

	// Fail fast when the bot dies instead of waiting out every timeout.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-bot.done:
			cancel(fmt.Errorf("opsbot exited (%v); its output:\n%s", bot.err, bot.output))
		case <-ctx.Done():
		}
	}()
	cctx, ccancel := context.WithTimeout(ctx, connectTimeout)
	err = fs.WaitConnections(cctx, 1)
	ccancel()
	if err != nil {
		return fmt.Errorf("waiting for the bot's Socket Mode connection: %w", cause(ctx, err))
	}

	samples, acks, err := measure(ctx, fs, ws, o, true)
	if err != nil {
		return cause(ctx, err)
	}
	replies, err := collectReplies(ctx, fs, samples)
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("bot: %v", cause(ctx, err)))
	}
	rep.Bot = result(samples, acks, replies)

	cancel(nil) // the bot exiting from here on is expected
	stopped = true
	code, killed := bot.stop(botGrace)
	rep.BotExitCode = code
	switch {
	case killed:
		rep.Problems = append(rep.Problems, fmt.Sprintf("bot did not exit within %s of SIGTERM and was killed", botGrace))
	case code != 0:
		rep.Problems = append(rep.Problems, fmt.Sprintf("bot exited %d after SIGTERM; its output:\n%s", code, bot.output))
	}
	return nil
}

// benchFloor runs the echo client against a fresh fake with the same load.
func benchFloor(ctx context.Context, o options, rep *Report) error {
	fs, err := fakeslack.Start()
	if err != nil {
		return err
	}
	defer fs.Close()
	ws, _ := setUpWorkspace(fs, o.warmup+o.n)
	echo := startEcho(ctx, fs)
	defer echo.stop()
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err = fs.WaitConnections(cctx, 1)
	cancel()
	if err != nil {
		return fmt.Errorf("waiting for the echo client's connection: %w", err)
	}
	samples, acks, err := measure(ctx, fs, ws, o, false)
	if err != nil {
		return err
	}
	if n := echo.ackErrors.Load(); n > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("floor: %d acks failed", n))
	}
	rep.Floor = result(samples, acks, nil)
	return nil
}

// measure sends the warm-up and then the measured commands, waiting for
// every ack of each. With replies, the warm-up's replies are awaited too, so
// the measured run starts on an idle bot, and a command that does not answer
// fails before the run rather than after it.
func measure(ctx context.Context, fs *fakeslack.Server, ws workspace, o options, replies bool) ([]sample, map[string]ackTimes, error) {
	base := load{command: o.command, text: o.text, concurrency: o.concurrency}
	if o.warmup > 0 {
		warm := base
		warm.users = ws.users[:o.warmup]
		samples, err := send(ctx, fs, ws.channel, warm)
		if err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
		if _, err := collectAcks(ctx, fs, samples); err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
		if replies {
			if _, err := collectReplies(ctx, fs, samples); err != nil {
				return nil, nil, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	run := base
	run.users, run.rate = ws.users[o.warmup:], o.rate
	samples, err := send(ctx, fs, ws.channel, run)
	if err != nil {
		return nil, nil, err
	}
	acks, err := collectAcks(ctx, fs, samples)
	return samples, acks, err
}

// cause prefers the reason ctx was cancelled (the bot exiting) over the
// bare "context canceled" it produced.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, context.DeadlineExceeded) {
		return c
	}
	return err
}
