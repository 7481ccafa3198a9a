// Command opsbot is the ChatOps bot for incident response: run with Slack
// tokens it connects in Socket Mode; run with none it starts console mode, an
// interactive terminal session on an embedded store. Subcommands: run
// (default), console, validate, export, stats, doctor, version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "none"
)

func main() {
	// First, before any secret is read and any runbook started: see
	// hardenProcess for why.
	if err := hardenProcess(); err != nil {
		fmt.Fprintf(os.Stderr, "opsbot: cannot make the process non-dumpable, so runbooks could read its secrets: %v\n", err)
		os.Exit(1)
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: opsbot [run|console|validate|export|stats|doctor|version] [flags]

  opsbot                      Socket Mode when SLACK_APP_TOKEN and SLACK_BOT_TOKEN are set, else console mode
  opsbot console              console mode: type slash commands as a Slack user would
  opsbot validate [--config F] [--runbooks DIR]
                              check the config file and every runbook; exit 1 on error
  opsbot export INC-N [--format md|json]
                              print an incident's post-mortem from Redis
  opsbot stats [--since 7d|30d|90d] [--format text|json|csv] [--chart FILE.png]
                              incident statistics from Redis (drills left out)
  opsbot doctor               check Slack scopes, channels, Redis, PagerDuty and runbooks
  opsbot version              print version and commit

flags: --config FILE  --runbooks DIR  --http-addr ADDR  --log-level LEVEL
`

// run is main with its dependencies passed in, so the whole program is
// tested in-process.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	sub := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch sub {
	case "version":
		fmt.Fprintf(stdout, "opsbot %s (commit %s)\n", version, commit)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "console", "validate", "export", "stats", "doctor":
	default:
		fmt.Fprintf(stderr, "opsbot: unknown command %q\n\n%s", sub, usage)
		return 2
	}

	var exportArgs exportOptions
	if sub == "export" {
		var err error
		exportArgs, args, err = parseExportArgs(args)
		if err != nil {
			fmt.Fprintf(stderr, "opsbot export: %v\n", err)
			return 2
		}
	}
	var statsArgs statsOptions
	if sub == "stats" {
		var err error
		statsArgs, args, err = parseStatsArgs(args)
		if err != nil {
			fmt.Fprintf(stderr, "opsbot stats: %v\n", err)
			return 2
		}
	}
	cfg, rest, err := config.Load(args, getenv, os.ReadFile)
	var problems config.Problems
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case sub == "validate" && errors.As(err, &problems) && len(rest) == 0:
		// Validate goes on to the on-call file and the runbooks, and
		// lists every problem at once.
		return runValidate(cfg, stdout, stderr, problems...)
	case err != nil:
		fmt.Fprintf(stderr, "opsbot: %v\n", err)
		return 1
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "opsbot %s: unexpected arguments %q\n", sub, rest)
		return 2
	}
	switch sub {
	case "validate":
		return runValidate(cfg, stdout, stderr)
	case "export":
		return runExport(ctx, cfg, exportArgs, stdout, stderr)
	case "stats":
		return runStats(ctx, cfg, statsArgs, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, cfg, stdout)
	case "console":
		return runConsole(ctx, cfg, stdin, stdout, stderr)
	}
	if cfg.Console() {
		return runConsole(ctx, cfg, stdin, stdout, stderr)
	}
	return runSlack(ctx, cfg, stderr)
}

type exportOptions struct {
	incident string
	format   string
}

// parseExportArgs takes the incident key and --format from args, leaving the
// common flags.
func parseExportArgs(args []string) (exportOptions, []string, error) {
	o := exportOptions{format: "md"}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--format" || a == "-format":
			if i+1 >= len(args) {
				return o, nil, fmt.Errorf("--format needs md or json")
			}
			i++
			o.format = args[i]
		case strings.HasPrefix(a, "--format="):
			o.format = strings.TrimPrefix(a, "--format=")
		case !strings.HasPrefix(a, "-") && o.incident == "":
			o.incident = strings.ToUpper(a)
		default:
			rest = append(rest, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && strings.HasPrefix(a, "-") {
				i++
				rest = append(rest, args[i])
			}
		}
	}
	if o.incident == "" {
		return o, nil, fmt.Errorf("which incident? usage: opsbot export INC-N [--format md|json]")
	}
	if o.format != "md" && o.format != "json" {
		return o, nil, fmt.Errorf("--format must be md or json, not %q", o.format)
	}
	return o, rest, nil
}
