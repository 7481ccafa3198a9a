package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/runbooks"
)

// The chart tests run helm itself, which is not on an ordinary developer
// machine and takes a while to build: they run only when OPSBOT_HELM names a
// helm binary. deploy/ci.sh builds one from the Go module proxy
// (helm.sh/helm/v3/cmd/helm@v3.22.0), runs `helm lint` and then these tests.

const chartDir = "helm/opsbot"

// k8sObject is the generic shape of a rendered Kubernetes object.
type k8sObject map[string]any

func (o k8sObject) kind() string { return str(o, "kind") }
func (o k8sObject) name() string { return str(o, "metadata", "name") }

// get walks nested maps and lists (by int index) and returns what it finds.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				if o, ok2 := v.(k8sObject); ok2 {
					m = o
				} else {
					return nil
				}
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

func helmBinary(t *testing.T) string {
	t.Helper()
	h := os.Getenv("OPSBOT_HELM")
	if h == "" {
		t.Skip("set OPSBOT_HELM to a helm binary to render the chart (deploy/ci.sh does)")
	}
	return h
}

// render runs `helm template` with the given --set values (or raw flags,
// starting with --) and returns the objects, or helm's error output.
func render(t *testing.T, helm string, sets ...string) ([]k8sObject, error) {
	t.Helper()
	args := []string{"template", "rel", chartDir, "--namespace", "ops"}
	for _, s := range sets {
		if strings.HasPrefix(s, "--") {
			args = append(args, s)
		} else {
			args = append(args, "--set", s)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	var objs []k8sObject
	dec := yaml.NewDecoder(&stdout)
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered chart is not YAML: %v", err)
		}
		if o != nil {
			objs = append(objs, k8sObject(o))
		}
	}
	return objs, nil
}

func find(objs []k8sObject, kind string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func one(t *testing.T, objs []k8sObject, kind string) k8sObject {
	t.Helper()
	found := find(objs, kind)
	if len(found) != 1 {
		t.Fatalf("got %d %s objects, want 1", len(found), kind)
	}
	return found[0]
}

var baseSets = []string{"slack.appToken=xapp-1-test", "slack.botToken=xoxb-test", "redis.url=redis://redis:6379/0"}

func TestHelmChartRenders(t *testing.T) {
	helm := helmBinary(t)
	objs, err := render(t, helm, baseSets...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	dep := one(t, objs, "Deployment")
	pod := get(dep, "spec", "template", "spec")
	ctr := get(pod, "containers", 0)
	podLabels, _ := get(dep, "spec", "template", "metadata", "labels").(map[string]any)

	t.Run("objects", func(t *testing.T) {
		var kinds []string
		for _, o := range objs {
			kinds = append(kinds, o.kind())
		}
		slices.Sort(kinds)
		want := []string{"ConfigMap", "ConfigMap", "Deployment", "Pod", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"}
		if !slices.Equal(kinds, want) {
			t.Errorf("got kinds %v, want %v (no ServiceMonitor by default)", kinds, want)
		}
	})
	t.Run("two replicas by default", func(t *testing.T) {
		if got := get(dep, "spec", "replicas"); got != 2 {
			t.Errorf("replicas = %v, want 2", got)
		}
	})
	t.Run("security context", func(t *testing.T) {
		checks := []struct {
			path []any
			want any
		}{
			{[]any{"securityContext", "readOnlyRootFilesystem"}, true},
			{[]any{"securityContext", "allowPrivilegeEscalation"}, false},
			{[]any{"securityContext", "privileged"}, false},
			{[]any{"securityContext", "capabilities", "drop", 0}, "ALL"},
		}
		for _, c := range checks {
			if got := get(ctr, c.path...); got != c.want {
				t.Errorf("container %v = %v, want %v", c.path, got, c.want)
			}
		}
		if got := get(pod, "securityContext", "runAsNonRoot"); got != true {
			t.Errorf("pod runAsNonRoot = %v, want true", got)
		}
		if got := get(pod, "automountServiceAccountToken"); got != false {
			t.Errorf("automountServiceAccountToken = %v, want false", got)
		}
	})
	t.Run("probes", func(t *testing.T) {
		for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			if got := str(ctr, probe, "httpGet", "path"); got != path {
				t.Errorf("%s path = %q, want %q", probe, got, path)
			}
			if got := get(ctr, probe, "httpGet", "port"); got != "http" {
				t.Errorf("%s port = %v, want the named port http", probe, got)
			}
		}
		if got := get(ctr, "ports", 0, "containerPort"); got != 8080 {
			t.Errorf("containerPort = %v, want 8080", got)
		}
	})
	t.Run("resources", func(t *testing.T) {
		if get(ctr, "resources", "requests", "memory") == nil || get(ctr, "resources", "limits", "memory") == nil {
			t.Errorf("resources = %v, want memory request and limit", get(ctr, "resources"))
		}
	})
	t.Run("tokens come from the secret", func(t *testing.T) {
		secret := one(t, objs, "Secret")
		env := envByName(ctr)
		for _, name := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "REDIS_URL", "PAGERDUTY_TOKEN", "GITHUB_TOKEN"} {
			ref := str(env[name], "valueFrom", "secretKeyRef", "name")
			if ref != secret.name() {
				t.Errorf("%s from secret %q, want %q", name, ref, secret.name())
			}
			if v := get(env[name], "value"); v != nil {
				t.Errorf("%s has a literal value in the pod spec", name)
			}
		}
		if got := str(secret, "stringData", "SLACK_BOT_TOKEN"); got != "xoxb-test" {
			t.Errorf("secret SLACK_BOT_TOKEN = %q, want the value set", got)
		}
	})
	t.Run("env names are ones the code reads", func(t *testing.T) {
		known := codeEnvNames(t)
		for name := range envByName(ctr) {
			if !known[name] {
				t.Errorf("pod sets %s, which cmd/opsbot does not read", name)
			}
		}
	})
	t.Run("config and runbooks mounted where the env points", func(t *testing.T) {
		env := envByName(ctr)
		mounts := map[string]string{}
		for _, m := range asList(get(ctr, "volumeMounts")) {
			mounts[str(m, "name")] = str(m, "mountPath")
		}
		if got := str(env["OPSBOT_CONFIG"], "value"); got != mounts["config"] {
			t.Errorf("OPSBOT_CONFIG = %q, config mounted at %q", got, mounts["config"])
		}
		if got := str(env["OPSBOT_RUNBOOKS"], "value"); got != mounts["runbooks"] {
			t.Errorf("OPSBOT_RUNBOOKS = %q, runbooks mounted at %q", got, mounts["runbooks"])
		}
		cms := map[string]k8sObject{}
		for _, cm := range find(objs, "ConfigMap") {
			cms[cm.name()] = cm
		}
		for _, v := range asList(get(pod, "volumes")) {
			if name := str(v, "configMap", "name"); name != "" && cms[name] == nil {
				t.Errorf("volume %s uses ConfigMap %q, which the chart does not render", str(v, "name"), name)
			}
		}
		var cfg struct {
			Redis struct {
				SpoolDir string `yaml:"spool_dir"`
			} `yaml:"redis"`
		}
		if err := yaml.Unmarshal([]byte(str(cms["rel-opsbot"], "data", "opsbot.yaml")), &cfg); err != nil {
			t.Fatalf("opsbot.yaml in the ConfigMap: %v", err)
		}
		if cfg.Redis.SpoolDir == "" || mounts["spool"] != cfg.Redis.SpoolDir {
			t.Errorf("redis.spool_dir = %q, spool volume mounted at %q: want them equal (the root file system is read-only)", cfg.Redis.SpoolDir, mounts["spool"])
		}
	})
	t.Run("helm test runs the doctor like the bot", func(t *testing.T) {
		pod := one(t, objs, "Pod")
		if got := str(pod, "metadata", "annotations", "helm.sh/hook"); got != "test" {
			t.Errorf("doctor pod hook %q, want test", got)
		}
		doc := get(pod, "spec", "containers", 0)
		if got := asList(get(doc, "args")); len(got) != 1 || got[0] != "doctor" {
			t.Errorf("doctor pod args %v, want [doctor]", got)
		}
		if got := get(pod, "spec", "restartPolicy"); got != "Never" {
			t.Errorf("restartPolicy %v, want Never", got)
		}
		if diff := cmp.Diff(get(ctr, "env"), get(doc, "env")); diff != "" {
			t.Errorf("env (-bot +doctor):\n%s", diff)
		}
		if diff := cmp.Diff(get(ctr, "volumeMounts"), get(doc, "volumeMounts")); diff != "" {
			t.Errorf("mounts (-bot +doctor):\n%s", diff)
		}
		if diff := cmp.Diff(get(ctr, "securityContext"), get(doc, "securityContext")); diff != "" {
			t.Errorf("securityContext (-bot +doctor):\n%s", diff)
		}
	})
	t.Run("pdb, service and pods agree on labels", func(t *testing.T) {
		pdb := one(t, objs, "PodDisruptionBudget")
		svc := one(t, objs, "Service")
		for what, sel := range map[string]any{
			"deployment selector": get(dep, "spec", "selector", "matchLabels"),
			"pdb selector":        get(pdb, "spec", "selector", "matchLabels"),
			"service selector":    get(svc, "spec", "selector"),
		} {
			m, _ := sel.(map[string]any)
			if len(m) == 0 {
				t.Errorf("%s is empty", what)
			}
			for k, v := range m {
				if podLabels[k] != v {
					t.Errorf("%s %s=%v does not match the pod labels %v", what, k, v, podLabels)
				}
			}
		}
		if get(pdb, "spec", "maxUnavailable") != 1 {
			t.Errorf("pdb maxUnavailable = %v, want 1", get(pdb, "spec", "maxUnavailable"))
		}
	})
}

func TestHelmChartVariants(t *testing.T) {
	helm := helmBinary(t)
	tests := []struct {
		name    string
		sets    []string
		wantErr string
		check   func(t *testing.T, objs []k8sObject)
	}{
		{
			name: "service monitor",
			sets: append(slices.Clone(baseSets), "serviceMonitor.enabled=true"),
			check: func(t *testing.T, objs []k8sObject) {
				sm := one(t, objs, "ServiceMonitor")
				svc := one(t, objs, "Service")
				if got := str(sm, "spec", "endpoints", 0, "port"); got != str(svc, "spec", "ports", 0, "name") {
					t.Errorf("ServiceMonitor port %q, want the service port name %q", got, str(svc, "spec", "ports", 0, "name"))
				}
				if got := str(sm, "spec", "endpoints", 0, "path"); got != "/metrics" {
					t.Errorf("ServiceMonitor path %q, want /metrics", got)
				}
				sel, _ := get(sm, "spec", "selector", "matchLabels").(map[string]any)
				svcLabels, _ := get(svc, "metadata", "labels").(map[string]any)
				for k, v := range sel {
					if svcLabels[k] != v {
						t.Errorf("ServiceMonitor selects %s=%v, service has %v", k, v, svcLabels[k])
					}
				}
			},
		},
		{
			name: "existing secret",
			sets: []string{"existingSecret=opsbot-tokens"},
			check: func(t *testing.T, objs []k8sObject) {
				if s := find(objs, "Secret"); len(s) != 0 {
					t.Errorf("got %d Secrets, want none with existingSecret", len(s))
				}
				ctr := get(one(t, objs, "Deployment"), "spec", "template", "spec", "containers", 0)
				if got := str(envByName(ctr)["SLACK_BOT_TOKEN"], "valueFrom", "secretKeyRef", "name"); got != "opsbot-tokens" {
					t.Errorf("SLACK_BOT_TOKEN from %q, want opsbot-tokens", got)
				}
			},
		},
		{
			name: "sentinel",
			sets: []string{"slack.appToken=xapp-1", "slack.botToken=xoxb-1", "redis.sentinel.masterName=opsbot",
				"redis.sentinel.addrs={s-0.redis:26379,s-1.redis:26379,s-2.redis:26379}", "redis.password=pw", "redis.minReplicas=1"},
			check: func(t *testing.T, objs []k8sObject) {
				var file string
				for _, cm := range find(objs, "ConfigMap") {
					if cm.name() == "rel-opsbot" {
						file = str(cm, "data", "opsbot.yaml")
					}
				}
				f, err := config.ParseFile("opsbot.yaml", []byte(file))
				if err != nil {
					t.Fatalf("rendered opsbot.yaml does not load: %v\n%s", err, file)
				}
				if got := f.Redis; len(got.Addrs) != 3 || got.MasterName != "opsbot" || got.MinReplicas != 1 || got.SpoolDir == "" {
					t.Errorf("rendered redis section %+v, want the 3 sentinels, master opsbot, min_replicas 1 and the spool dir", got)
				}
				if got := str(one(t, objs, "Secret"), "stringData", "REDIS_PASSWORD"); got != "pw" {
					t.Errorf("Secret REDIS_PASSWORD = %q, want the password", got)
				}
				ctr := get(one(t, objs, "Deployment"), "spec", "template", "spec", "containers", 0)
				if got := str(envByName(ctr)["REDIS_PASSWORD"], "valueFrom", "secretKeyRef", "key"); got != "REDIS_PASSWORD" {
					t.Errorf("REDIS_PASSWORD comes from %q, want the Secret", got)
				}
			},
		},
		{
			name: "runbooks are valid runbook files",
			sets: append(slices.Clone(baseSets), "--set-file=runbooks.disk-usage\\.yaml="+writeTemp(t, `name: disk-usage
description: Disk usage of the bot's file systems
command: ["df", "-h"]
timeout: 10s
`)),
			check: func(t *testing.T, objs []k8sObject) {
				var body string
				for _, cm := range find(objs, "ConfigMap") {
					if cm.name() == "rel-opsbot-runbooks" {
						body = str(cm, "data", "disk-usage.yaml")
					}
				}
				if body == "" {
					t.Fatal("runbooks ConfigMap has no disk-usage.yaml")
				}
				rb, problems, _ := runbooks.Parse("disk-usage.yaml", []byte(body))
				if len(problems) > 0 || rb == nil {
					t.Fatalf("runbook from the ConfigMap does not parse: %v", problems)
				}
				if rb.Name != "disk-usage" {
					t.Errorf("runbook name %q, want disk-usage", rb.Name)
				}
			},
		},
		{
			name: "alert hooks: token in the Secret, NetworkPolicy for Alertmanager",
			sets: append(slices.Clone(baseSets), "alerts.token=alerts-token-0123456789", "pagerduty.eventsURL=https://events.eu.pagerduty.com",
				"networkPolicy.enabled=true", "networkPolicy.from[0].namespaceSelector.matchLabels.team=monitoring"),
			check: func(t *testing.T, objs []k8sObject) {
				if got := str(one(t, objs, "Secret"), "stringData", "OPSBOT_ALERTS_TOKEN"); got != "alerts-token-0123456789" {
					t.Errorf("Secret OPSBOT_ALERTS_TOKEN = %q", got)
				}
				env := envByName(get(one(t, objs, "Deployment"), "spec", "template", "spec", "containers", 0))
				if got := str(env["OPSBOT_ALERTS_TOKEN"], "valueFrom", "secretKeyRef", "key"); got != "OPSBOT_ALERTS_TOKEN" {
					t.Errorf("OPSBOT_ALERTS_TOKEN from key %q", got)
				}
				if got := str(env["PAGERDUTY_EVENTS_URL"], "value"); got != "https://events.eu.pagerduty.com" {
					t.Errorf("PAGERDUTY_EVENTS_URL = %q", got)
				}
				np := one(t, objs, "NetworkPolicy")
				if got := str(np, "spec", "ingress", 0, "from", 0, "namespaceSelector", "matchLabels", "team"); got != "monitoring" {
					t.Errorf("NetworkPolicy peer %q", got)
				}
				if got := get(np, "spec", "ingress", 0, "ports", 0, "port"); got != "http" {
					t.Errorf("NetworkPolicy port %v, want the named container port", got)
				}
			},
		},
		{name: "short alerts token", sets: append(slices.Clone(baseSets), "alerts.token=short"), wantErr: "/alerts/token"},
		{name: "network policy without peers", sets: append(slices.Clone(baseSets), "networkPolicy.enabled=true"), wantErr: "networkPolicy.enabled needs networkPolicy.from"},
		{name: "no tokens", sets: nil, wantErr: "set existingSecret, or both slack.appToken and slack.botToken"},
		{name: "wrong token kind", sets: []string{"slack.appToken=xoxb-1", "slack.botToken=xoxb-1", "replicaCount=1"}, wantErr: "slack.appToken must be an app-level token"},
		{name: "no redis", sets: []string{"slack.appToken=xapp-1", "slack.botToken=xoxb-1", "replicaCount=1"}, wantErr: "opsbot does not run in Socket Mode without Redis"},
		{name: "url and sentinel", sets: append(slices.Clone(baseSets), "redis.sentinel.addrs={s:26379}", "redis.sentinel.masterName=m"), wantErr: "set redis.url or redis.sentinel, not both"},
		{name: "sentinel without a name", sets: []string{"slack.appToken=xapp-1", "slack.botToken=xoxb-1", "redis.sentinel.addrs={s:26379}"}, wantErr: "redis.sentinel.masterName is required"},
		{name: "min replicas word", sets: append(slices.Clone(baseSets), "redis.minReplicas=most"), wantErr: "minReplicas"},
		{name: "typo in a values key", sets: append(slices.Clone(baseSets), "replicas=3"), wantErr: "additional properties 'replicas' not allowed"},
		{name: "bad log level", sets: append(slices.Clone(baseSets), "logLevel=verbose"), wantErr: "value must be one of"},
		{name: "runbook file name", sets: append(slices.Clone(baseSets), "runbooks.restart=x"), wantErr: `runbooks key "restart" must end in .yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := render(t, helm, tt.sets...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			tt.check(t, objs)
		})
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func asList(v any) []any { l, _ := v.([]any); return l }

func envByName(ctr any) map[string]any {
	env := map[string]any{}
	for _, e := range asList(get(ctr, "env")) {
		env[str(e, "name")] = e
	}
	return env
}

// TestHelmLintValuesExist keeps deploy/ci.sh's lint input in the chart.
func TestHelmLintValuesExist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "ci", "lint-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("ci/lint-values.yaml: %v", err)
	}
}

// TestHelmRenderedConfigValidates feeds the config file and runbooks the
// chart renders from ci/lint-values.yaml to `opsbot validate`, so the chart's
// ConfigMaps hold what the binary accepts. It needs a built binary:
// OPSBOT_BIN (deploy/ci.sh builds one).
func TestHelmRenderedConfigValidates(t *testing.T) {
	helm := helmBinary(t)
	bin := os.Getenv("OPSBOT_BIN")
	if bin == "" {
		t.Skip("set OPSBOT_BIN to an opsbot binary to validate the rendered config")
	}
	objs, err := render(t, helm, "--values="+filepath.Join(chartDir, "ci", "lint-values.yaml"))
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	dir := t.TempDir()
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var cfgPath string
	for _, cm := range find(objs, "ConfigMap") {
		data, _ := get(cm, "data").(map[string]any)
		for name, body := range data {
			target := filepath.Join(rbDir, name)
			if name == "opsbot.yaml" {
				cfgPath = filepath.Join(dir, name)
				target = cfgPath
			}
			if err := os.WriteFile(target, []byte(body.(string)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cfgPath == "" {
		t.Fatal("no opsbot.yaml in the rendered ConfigMaps")
	}
	out, err := exec.Command(bin, "validate", "--config", cfgPath, "--runbooks", rbDir).CombinedOutput()
	if err != nil {
		t.Errorf("opsbot validate of the rendered config: %v\n%s", err, out)
	}
}
