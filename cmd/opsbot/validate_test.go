package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Errors in a family's section name the line in the file, not in the
// section, in validate as when the bot starts.
func TestSectionErrorsCarryFileLines(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "ops.yaml")
	file := "admins: [U0ADMIN]\nincidents:\n  broadcast_channel: C0INC\n  update_reminders: {sev1: soon}\n"
	if err := os.WriteFile(cfgFile, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"validate", "run"} {
		var out, errOut strings.Builder
		code := run([]string{sub, "--config", cfgFile}, envOf(nil), strings.NewReader(""), &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), cfgFile+":4: ") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %s:4:", sub, code, errOut.String(), cfgFile)
		}
	}
}

// A config file with several mistakes gets one file:line message for each,
// in the file's terms (keys, lists) rather than Go's (types), and validate
// goes on to the runbooks instead of stopping at the first.
func TestValidateReportsEveryConfigProblemWithFileLine(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rb, "bad.yaml"), []byte("name: bad\ncommand: [true]\ncolour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "ops.yaml")
	body := strings.Join([]string{
		"admin: [U0ADMIN]", // 1: top-level typo
		"pagerduty:",
		"  from_emial: a@b.c", // 3
		"incidents:",
		"  update_reminders: {sev1: soon}", // 5
		"oncall:",
		"  schedules:",
		"    - {id: P1, name: pay, handof_channel: C0PAY}", // 8
		"runbooks:",
		"  dir: " + rb,
		"  redact: x", // 11: a value where a list belongs
	}, "\n") + "\n"
	if err := os.WriteFile(cfgFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := run([]string{"validate", "--config", cfgFile}, envOf(nil), strings.NewReader(""), &out, &errOut)
	got := errOut.String()
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		cfgFile + `:1: unknown top-level key "admin"`,
		cfgFile + `:3: pagerduty: unknown key "from_emial"`,
		cfgFile + ":5: ",
		cfgFile + `:8: oncall.schedules: unknown key "handof_channel"`,
		cfgFile + ":11: runbooks.redact: expected a list, got text `x`",
		filepath.Join(rb, "bad.yaml") + ":3: colour",
		"6 problem(s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
	for _, internal := range []string{"main.", "bot.", "[]string", "unmarshal"} {
		if strings.Contains(got, internal) {
			t.Errorf("stderr shows Go internals %q:\n%s", internal, got)
		}
	}
	// Outside validate the same file stops the bot with the same lines.
	errOut.Reset()
	if code := run([]string{"export", "INC-1", "--config", cfgFile}, envOf(nil), strings.NewReader(""), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), cfgFile+`:3: pagerduty: unknown key "from_emial"`) {
		t.Errorf("export: exit %d, stderr %q", code, errOut.String())
	}
}

// --help and -h print the usage and succeed, whatever the subcommand.
func TestHelpFlagPrintsUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"validate", "--help"}, {"help"}} {
		var out, errOut strings.Builder
		code := run(args, envOf(nil), strings.NewReader(""), &out, &errOut)
		if code != 0 || !strings.Contains(out.String(), "usage: opsbot") || errOut.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the usage", args, code, out.String(), errOut.String())
		}
	}
}

// validate with nothing to validate says so and fails, rather than passing
// silently (a wrong path in CI would look like a pass).
func TestValidateWithNothingToCheckFails(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./opsbot.yaml
	var out, errOut strings.Builder
	if code := run([]string{"validate"}, envOf(nil), strings.NewReader(""), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "nothing to check") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and \"nothing to check\"", code, out.String(), errOut.String())
	}
}

// validate catches what would stop the bot at start even where no on-call
// provider is configured, and channels given by name rather than ID.
func TestValidateChecksOnCallSchedulesAndIDs(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "ops.yaml")
	body := "incidents:\n  broadcast_channel: \"#incidents\"\noncall:\n  schedules:\n    - {id: P1, name: my payments}\n"
	if err := os.WriteFile(cfgFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := run([]string{"validate", "--config", cfgFile}, envOf(nil), strings.NewReader(""), &out, &errOut)
	for _, want := range []string{
		cfgFile + `:2: incidents.broadcast_channel: "#incidents" is not a channel ID`,
		`name "my payments" must be one word`,
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}
