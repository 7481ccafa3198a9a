package runbooks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const validRunbook = `name: restart
description: restart a thing
command: ["/bin/echo", "restart", "deployment/{{deployment}}", "-n", "{{namespace}}"]
params:
  deployment: {pattern: "^[a-z0-9][a-z0-9-]{0,62}$", required: true}
  namespace:  {enum: [staging, prod], default: staging}
timeout: 2m
allow: {usergroups: [S0SRE], users: [U0ALICE], channels: [C0OPS]}
approval: {when: {namespace: prod}, approvers: {usergroups: [S0LEADS]}}
env: [KUBECONFIG]
`

func TestLoadDirValid(t *testing.T) {
	dir := writeFiles(t, map[string]string{"restart.yaml": validRunbook, "README.md": "not a runbook"})
	c, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	rb, ok := c.Get("restart")
	if !ok {
		t.Fatalf("got no runbook restart, want it")
	}
	if rb.Path != "/bin/echo" || rb.Missing != "" {
		t.Errorf("got path %q missing %q, want /bin/echo and nothing missing", rb.Path, rb.Missing)
	}
	if got, want := strings.Join(rb.ParamOrder, ","), "deployment,namespace"; got != want {
		t.Errorf("got param order %q, want %q", got, want)
	}
	if rb.Timeout != 2*time.Minute || rb.Lock != "restart" {
		t.Errorf("got timeout %s lock %q, want 2m0s and the name", rb.Timeout, rb.Lock)
	}
	if got := rb.Approval.When["namespace"]; len(got) != 1 || got[0] != "prod" {
		t.Errorf("got approval.when %v, want [prod]", got)
	}
}

func TestLoadDirProblems(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // substrings, each expected in some problem
	}{
		{"unknown top-level key", validRunbook + "shell: true\n", []string{"r.yaml:11: shell: unknown field"}},
		{"unknown param key", strings.Replace(validRunbook, "required: true}", "required: true, regex: x}", 1), []string{"r.yaml:5: regex: unknown field"}},
		{"unanchored pattern", strings.Replace(validRunbook, `"^[a-z0-9][a-z0-9-]{0,62}$"`, `"[a-z]+"`, 1), []string{"r.yaml:5: params.deployment.pattern: the pattern must be anchored"}},
		{"string without pattern", strings.Replace(validRunbook, `pattern: "^[a-z0-9][a-z0-9-]{0,62}$", `, "", 1), []string{"params.deployment.pattern: a string parameter needs an anchored pattern"}},
		{"undeclared placeholder", strings.Replace(validRunbook, "{{namespace}}", "{{ns}}", 1), []string{"command: placeholder {{ns}} names no declared parameter", `params.namespace: parameter "namespace" is declared but not used`}},
		{"program is a parameter", strings.Replace(validRunbook, `"/bin/echo"`, `"{{deployment}}"`, 1), []string{"command: the program (first element) cannot be a parameter"}},
		{"name as user", strings.Replace(validRunbook, "U0ALICE", "alice", 1), []string{`allow.users: "alice" is not a user ID`}},
		{"channel name", strings.Replace(validRunbook, "C0OPS", `"#ops"`, 1), []string{`allow.channels: "#ops" is not a channel ID`}},
		{"bad enum default", strings.Replace(validRunbook, "default: staging", "default: dev", 1), []string{"params.namespace.default: default is invalid: must be one of staging, prod"}},
		{"approval on unknown param", strings.Replace(validRunbook, "when: {namespace: prod}", "when: {cluster: prod}", 1), []string{`approval.when.cluster: "cluster" is not a declared parameter`}},
		{"approval value never matches", strings.Replace(validRunbook, "when: {namespace: prod}", "when: {namespace: production}", 1), []string{`approval.when.namespace: "production" can never match`}},
		{"approval without approvers", strings.Replace(validRunbook, ", approvers: {usergroups: [S0LEADS]}", "", 1), []string{"approval.approvers: approval needs approvers"}},
		{"bot variable in env", strings.Replace(validRunbook, "env: [KUBECONFIG]", "env: [SLACK_BOT_TOKEN, OPSBOT_CONFIG, PATH]", 1), []string{"env.env[0]: SLACK_BOT_TOKEN belongs to opsbot itself", "env.env[1]: OPSBOT_CONFIG belongs", "env.env[2]: PATH is fixed"}},
		{"bad timeout", strings.Replace(validRunbook, "timeout: 2m", "timeout: soon", 1), []string{`timeout: "soon" is not a duration`}},
		{"optional without default", strings.Replace(validRunbook, ", default: staging", "", 1), []string{"params.namespace.default: an optional parameter needs a default"}},
		{"bad yaml", "name: [", []string{"r.yaml"}},
		{"empty file", "", []string{"r.yaml: file is empty"}},
		{"wrong type", strings.Replace(validRunbook, "timeout: 2m", "timeout: [2m]", 1), []string{"r.yaml:7: cannot unmarshal"}},
		{"int min above max", strings.Replace(validRunbook, "namespace:  {enum: [staging, prod], default: staging}", "namespace: {type: int, min: 5, max: 1, default: 3}", 1), []string{"params.namespace.min: min is greater than max"}},
		{"two documents", validRunbook + "---\nname: other\n", []string{"one runbook per file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"r.yaml": tt.body})
			_, err := LoadDir(dir)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got error %v, want Problems", err)
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("got problems:\n%s\nwant one containing %q", msg, w)
				}
			}
		})
	}
}

func TestLoadDirReportsEveryFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": strings.Replace(validRunbook, "U0ALICE", "alice", 1),
		"b.yml":  strings.Replace(validRunbook, "timeout: 2m", "timeout: -1s", 1),
		"c.yaml": validRunbook, // same name as a and b
	})
	_, err := LoadDir(dir)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	files := map[string]bool{}
	for _, p := range ps {
		files[filepath.Base(p.File)] = true
	}
	if !files["a.yaml"] || !files["b.yml"] {
		t.Errorf("got problems in %v, want both a.yaml and b.yml:\n%v", files, err)
	}
}

func TestLoadDirDuplicateName(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": validRunbook, "b.yaml": validRunbook})
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), `runbook "restart" is already defined in`) {
		t.Fatalf("got %v, want a duplicate-name problem", err)
	}
}

func TestLoadDirMissingCommandIsWarning(t *testing.T) {
	body := strings.Replace(validRunbook, `"/bin/echo"`, `"opsbot-no-such-tool"`, 1)
	c, err := LoadDir(writeFiles(t, map[string]string{"r.yaml": body}))
	if err != nil {
		t.Fatalf("got %v, want a catalogue with a warning", err)
	}
	rb, _ := c.Get("restart")
	if want := "opsbot-no-such-tool is not installed on this host"; rb.Missing != want {
		t.Errorf("got Missing %q, want %q", rb.Missing, want)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].String(), "r.yaml:3: command: opsbot-no-such-tool is not installed") {
		t.Errorf("got warnings %v, want one naming r.yaml:3", c.Warnings)
	}
	inv, err := rb.Prepare(map[string]string{"deployment": "x"})
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := NewExecutor(ExecConfig{})
	if _, err := ex.Start(t.Context(), inv); !errors.Is(err, ErrMissingCommand) {
		t.Errorf("got %v, want ErrMissingCommand", err)
	}
}

func TestExamplesLoad(t *testing.T) {
	c, err := LoadDir("examples")
	if err != nil {
		t.Fatalf("examples must be valid: %v", err)
	}
	want := []string{"flush-cache-key", "http-probe", "restart-deployment", "scale-deployment", "tail-logs"}
	var got []string
	for _, rb := range c.All() {
		got = append(got, rb.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got examples %v, want %v", got, want)
	}
}

// A parameter with a problem of its own is still declared: the placeholder
// naming it is not reported as "names no declared parameter" as well.
func TestLoadDirInvalidParamIsNotUndeclared(t *testing.T) {
	body := strings.Replace(validRunbook, `"^[a-z0-9][a-z0-9-]{0,62}$"`, `"^[a-z$"`, 1)
	dir := writeFiles(t, map[string]string{"r.yaml": body})
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "params.deployment.pattern: invalid regular expression") {
		t.Fatalf("got %v, want the pattern's own problem", err)
	}
	if strings.Contains(err.Error(), "names no declared parameter") {
		t.Errorf("got a second, misleading problem:\n%s", err)
	}
}
