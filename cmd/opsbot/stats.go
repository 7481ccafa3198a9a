package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/integrations/console"
)

// statsOptions are the arguments of opsbot stats.
type statsOptions struct {
	since  string
	format string
	// chart, when set, is a file the PNG chart is written to.
	chart string
}

// parseStatsArgs takes --since, --format and --chart from args, leaving the
// common flags.
func parseStatsArgs(args []string) (statsOptions, []string, error) {
	o := statsOptions{since: "30d", format: "text"}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "since" && name != "format" && name != "chart") {
			rest = append(rest, a)
			if strings.HasPrefix(a, "-") && !hasVal && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return o, nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		switch name {
		case "since":
			o.since = val
		case "format":
			o.format = strings.ToLower(val)
		case "chart":
			o.chart = val
		}
	}
	if _, err := incident.ParseStatsWindow(o.since); err != nil {
		return o, nil, fmt.Errorf("--since %q: use 7d, 30d or 90d", o.since)
	}
	switch o.format {
	case "text", "json", "csv":
	default:
		return o, nil, fmt.Errorf("--format must be text, json or csv, not %q", o.format)
	}
	return o, rest, nil
}

// runStats prints the incident statistics that /incident stats shows, for
// scripts.
func runStats(ctx context.Context, cfg config.Config, o statsOptions, stdout, stderr io.Writer) int {
	log := newLogger(cfg.LogLevel, stderr, true)
	if cfg.RedisURL == "" && len(cfg.File.Redis.Addrs) == 0 {
		fmt.Fprintln(stderr, "opsbot stats: set REDIS_URL (or redis.addrs in the config file): incidents live in Redis")
		return 1
	}
	rdb, spool, cleanup, err := storeWithTempSpool(ctx, &cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "opsbot stats: %v\n", err)
		return 1
	}
	defer cleanup()
	cfg.RunbooksDir = ""
	cfg.GitHubToken = "" // reading statistics never talks to GitHub
	a, err := buildApp(cfg, appDeps{Chat: console.NewWorkspace(io.Discard, bot.SystemClock, ""), Redis: rdb, Logger: log, SpoolDir: spool})
	if err != nil {
		fmt.Fprintf(stderr, "opsbot stats: %v\n", err)
		return 1
	}
	defer a.shutdown(context.Background())
	window, _ := incident.ParseStatsWindow(o.since)
	st, err := a.incidents.Stats(ctx, window)
	if err != nil {
		fmt.Fprintf(stderr, "opsbot stats: %v\n", err)
		return 1
	}
	var out []byte
	switch o.format {
	case "json":
		out, err = st.JSON()
	case "csv":
		out, err = st.CSV()
	default:
		m := st.Message(strings.ToLower(o.since))
		out = []byte(fmt.Sprintf("%s\n%s\n\n%s\n\n%s\n", m.Title, strings.ReplaceAll(bot.DateFallbacks(m.Text), "*", ""), m.Code, m.Context))
	}
	if err != nil {
		fmt.Fprintf(stderr, "opsbot stats: %v\n", err)
		return 1
	}
	if o.chart != "" {
		png, err := incident.Chart(st)
		if err == nil {
			err = os.WriteFile(o.chart, png, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "opsbot stats: chart: %v\n", err)
			return 1
		}
	}
	stdout.Write(out)
	return 0
}
