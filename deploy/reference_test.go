package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
)

// These tests keep deploy/README.md's configuration reference, the compose
// file and the env example in step with the code that reads the settings.

var envNamePattern = regexp.MustCompile(`^(SLACK|REDIS|PAGERDUTY|GITHUB|OPSBOT)_[A-Z0-9_]+$`)

// codeEnvNames returns the environment variables opsbot reads: those
// config.Load reads that look like ours (systemd's STATE_DIRECTORY is not
// configuration). A string literal naming such a variable anywhere else in
// cmd/opsbot would be a variable read past Load, and fails the test.
func codeEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, n := range config.EnvNames() {
		if envNamePattern.MatchString(n) {
			names[n] = true
		}
	}
	if len(names) == 0 {
		t.Fatal("config.EnvNames lists no environment variable of ours")
	}
	for _, f := range parseDir(t, filepath.Join(repoRoot, "cmd", "opsbot")) {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && envNamePattern.MatchString(s) && !names[s] {
					t.Errorf("cmd/opsbot names %s, which config.Load does not read: read it in the config package", s)
				}
			}
			return true
		})
	}
	return names
}

// parseDir parses the non-test Go files of one directory.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// yamlStructs maps each struct type declared in files to its YAML keys (tag
// names; "-" and inline fields left out) and, per key, the field's type
// name when it is a plain identifier or a qualified one ("incident.Settings"),
// for nested sections.
type yamlStruct struct {
	keys  []string
	types map[string]string
}

func yamlStructs(files []*ast.File) map[string]yamlStruct {
	out := map[string]yamlStruct{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			ys := yamlStruct{types: map[string]string{}}
			for _, field := range st.Fields.List {
				if field.Tag == nil {
					continue
				}
				tag, _ := strconv.Unquote(field.Tag.Value)
				name, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
				if name == "" || name == "-" {
					continue
				}
				ys.keys = append(ys.keys, name)
				switch typ := field.Type.(type) {
				case *ast.Ident:
					ys.types[name] = typ.Name
				case *ast.SelectorExpr:
					if pkg, ok := typ.X.(*ast.Ident); ok {
						ys.types[name] = pkg.Name + "." + typ.Sel.Name
					}
				}
			}
			out[ts.Name.Name] = ys
			return true
		})
	}
	return out
}

// sectionKeys returns the union of the keys of the structs in dir that have
// the anchor key: a section's public settings type and any YAML mirror it
// decodes through.
func sectionKeys(t *testing.T, dir, anchor string) []string {
	t.Helper()
	keys := map[string]bool{}
	for _, ys := range yamlStructs(parseDir(t, filepath.Join(repoRoot, dir))) {
		if slices.Contains(ys.keys, anchor) {
			for _, k := range ys.keys {
				keys[k] = true
			}
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no struct in %s has the YAML key %q", dir, anchor)
	}
	return slices.Sorted(maps.Keys(keys))
}

// ourImports maps the package names the files import from this module to
// their directories in the repository.
func ourImports(files []*ast.File) map[string]string {
	const module = "github.com/opsbot/opsbot/"
	out := map[string]string{}
	for _, f := range files {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			dir, ok := strings.CutPrefix(path, module)
			if !ok {
				continue
			}
			name := filepath.Base(dir)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			out[name] = dir
		}
	}
	return out
}

// codeConfigKeys derives every config file key the code reads, as
// "section.key" (and "oncall.schedules[].key" for list entries), from the
// config package's File struct and the section types it names, wherever
// they live.
func codeConfigKeys(t *testing.T) []string {
	t.Helper()
	cfgFiles := parseDir(t, filepath.Join(repoRoot, "cmd", "opsbot", "config"))
	cfgStructs := yamlStructs(cfgFiles)
	imports := ourImports(cfgFiles)
	file, ok := cfgStructs["File"]
	if !ok {
		t.Fatal("cmd/opsbot/config has no File struct")
	}
	var keys []string
	for _, k := range file.keys {
		typ := file.types[k]
		pkg, name, qualified := strings.Cut(typ, ".")
		switch {
		case qualified:
			dir, ok := imports[pkg]
			if !ok {
				t.Fatalf("section %s: type %s is not from this module", k, typ)
			}
			section := yamlStructs(parseDir(t, filepath.Join(repoRoot, dir)))[name]
			if len(section.keys) == 0 {
				t.Fatalf("section %s: %s has no YAML keys in %s", k, typ, dir)
			}
			for _, sub := range sectionKeys(t, dir, section.keys[0]) {
				keys = append(keys, k+"."+sub)
			}
		case cfgStructs[typ].keys != nil:
			for _, sub := range cfgStructs[typ].keys {
				keys = append(keys, k+"."+sub)
			}
		default:
			keys = append(keys, k)
		}
		if k == "oncall" {
			sched := yamlStructs(parseDir(t, filepath.Join(repoRoot, "bot")))["ScheduleConfig"]
			for _, sub := range sched.keys {
				keys = append(keys, "oncall.schedules[]."+sub)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// readmeTable returns the first-column names (in backticks) of the Markdown
// table under the heading, split on ", " for rows that name several.
func readmeTable(t *testing.T, heading string) []string {
	t.Helper()
	return fileTable(t, "deploy/README.md", heading)
}

// fileTable is readmeTable for any Markdown file of the repository.
func fileTable(t *testing.T, file, heading string) []string {
	t.Helper()
	lines := strings.Split(readRepoFile(t, file), "\n")
	i := slices.Index(lines, heading)
	if i < 0 {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	level := strings.Count(strings.Fields(heading)[0], "#")
	var names []string
	for _, l := range lines[i+1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.Trim(f[0], "#") == "" && strings.HasPrefix(f[0], "#") && len(f[0]) <= level {
			break // the next section at the same level or above
		}
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		cell := strings.Split(l, "|")[1]
		for _, part := range strings.Split(cell, ",") {
			part = strings.Trim(strings.TrimSpace(part), "`")
			if part != "" {
				names = append(names, part)
			}
		}
	}
	return names
}

func TestReadmeEnvironmentMatchesCode(t *testing.T) {
	got := readmeTable(t, "### Environment")
	slices.Sort(got)
	want := slices.Sorted(maps.Keys(codeEnvNames(t)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment variables (-read by cmd/opsbot +documented in deploy/README.md):\n%s", diff)
	}
}

// The top-level README repeats the environment table for newcomers; it must
// not drift either.
func TestTopReadmeEnvironmentMatchesCode(t *testing.T) {
	got := fileTable(t, "README.md", "### Environment")
	slices.Sort(got)
	want := slices.Sorted(maps.Keys(codeEnvNames(t)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment variables (-read by cmd/opsbot +documented in README.md):\n%s", diff)
	}
}

func TestReadmeConfigReferenceMatchesCode(t *testing.T) {
	got := readmeTable(t, "### Config file reference")
	slices.Sort(got)
	if diff := cmp.Diff(codeConfigKeys(t), got); diff != "" {
		t.Errorf("config file keys (-read by the code +documented in deploy/README.md):\n%s", diff)
	}
}

func TestReadmeHelmValuesMatchChart(t *testing.T) {
	var values map[string]any
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/helm/opsbot/values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, n := range readmeTable(t, "### Helm values") {
		documented[n] = true
		top, _, _ := strings.Cut(n, ".")
		if _, ok := values[top]; !ok {
			t.Errorf("deploy/README.md documents %s, which values.yaml does not have", n)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		sub, isMap := values[k].(map[string]any)
		simple := isMap && len(sub) > 0
		for _, v := range sub {
			if m, ok := v.(map[string]any); ok && len(m) > 0 {
				simple = false // e.g. resources.requests: documented as a whole
			}
		}
		if !simple {
			if !documented[k] {
				t.Errorf("values.yaml key %s is not documented in deploy/README.md (Helm values)", k)
			}
			continue
		}
		for _, child := range slices.Sorted(maps.Keys(sub)) {
			if !documented[k+"."+child] {
				t.Errorf("values.yaml key %s.%s is not documented in deploy/README.md (Helm values)", k, child)
			}
		}
	}
}

// composeFile is the part of compose.yaml the checks read.
type composeFile struct {
	Services map[string]struct {
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Build   struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		EnvFile []struct {
			Path     string `yaml:"path"`
			Required bool   `yaml:"required"`
		} `yaml:"env_file"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		ReadOnly    bool     `yaml:"read_only"`
		CapDrop     []string `yaml:"cap_drop"`
		SecurityOpt []string `yaml:"security_opt"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFile(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/compose.yaml")), &c); err != nil {
		t.Fatalf("parse deploy/compose.yaml: %v", err)
	}
	redis, bot := c.Services["redis"], c.Services["opsbot"]
	mounts := func(vols []string) map[string]string { // container path -> source
		m := map[string]string{}
		for _, v := range vols {
			src, rest := "", v
			if strings.HasPrefix(v, "${") { // ${VAR:-default} contains a colon
				end := strings.Index(v, "}")
				src, rest = v[:end+1], strings.TrimPrefix(v[end+1:], ":")
			} else {
				src, rest, _ = strings.Cut(v, ":")
			}
			dst, _, _ := strings.Cut(rest, ":")
			m[dst] = src
		}
		return m
	}

	t.Run("redis persists", func(t *testing.T) {
		args := strings.Join(redis.Command, " ")
		if !strings.Contains(args, "--appendonly yes") {
			t.Errorf("redis command %q, want --appendonly yes", args)
		}
		src := mounts(redis.Volumes)["/data"]
		if src == "" {
			t.Fatalf("redis volumes %v, want a volume on /data", redis.Volumes)
		}
		if _, named := c.Volumes[src]; !named {
			t.Errorf("redis /data comes from %q, want a named volume declared under volumes:", src)
		}
		if len(redis.Healthcheck.Test) == 0 {
			t.Errorf("redis has no healthcheck; opsbot waits for service_healthy")
		}
	})
	t.Run("opsbot wiring", func(t *testing.T) {
		if bot.Build.Context != ".." || bot.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("build %+v, want context .. and deploy/Dockerfile", bot.Build)
		}
		if got := bot.DependsOn["redis"].Condition; got != "service_healthy" {
			t.Errorf("depends_on redis condition %q, want service_healthy", got)
		}
		if len(bot.EnvFile) != 1 || bot.EnvFile[0].Path != "./opsbot.env" {
			t.Errorf("env_file %+v, want ./opsbot.env (from opsbot.env.example)", bot.EnvFile)
		}
		if got := bot.Environment["REDIS_URL"]; !strings.HasPrefix(got, "redis://redis:") {
			t.Errorf("REDIS_URL %q, want the compose redis service", got)
		}
		known := codeEnvNames(t)
		for k := range bot.Environment {
			if !known[k] {
				t.Errorf("compose sets %s, which cmd/opsbot does not read", k)
			}
		}
		m := mounts(bot.Volumes)
		if cfg := bot.Environment["OPSBOT_CONFIG"]; m[cfg] != "./opsbot.yaml" {
			t.Errorf("OPSBOT_CONFIG=%s is mounted from %q, want ./opsbot.yaml", cfg, m[cfg])
		}
		if rb := bot.Environment["OPSBOT_RUNBOOKS"]; m[rb] == "" {
			t.Errorf("OPSBOT_RUNBOOKS=%s is not mounted", rb)
		}
		var cfg struct {
			Redis struct {
				SpoolDir string `yaml:"spool_dir"`
			} `yaml:"redis"`
		}
		if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/opsbot.yaml")), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Redis.SpoolDir == "" || m[cfg.Redis.SpoolDir] == "" {
			t.Errorf("redis.spool_dir %q is not a mounted volume (the root file system is read-only)", cfg.Redis.SpoolDir)
		}
	})
	t.Run("opsbot hardened", func(t *testing.T) {
		if !bot.ReadOnly || !slices.Contains(bot.CapDrop, "ALL") || !slices.Contains(bot.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("read_only %v, cap_drop %v, security_opt %v: want read-only, ALL dropped, no-new-privileges",
				bot.ReadOnly, bot.CapDrop, bot.SecurityOpt)
		}
	})
}

func TestEnvExample(t *testing.T) {
	known := codeEnvNames(t)
	var keys []string
	for _, line := range strings.Split(readRepoFile(t, "deploy/opsbot.env.example"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("line %q is not KEY=value", line)
			continue
		}
		if !known[k] {
			t.Errorf("%s is not read by cmd/opsbot", k)
		}
		if strings.HasPrefix(v, "xoxb-") && !strings.Contains(v, "REPLACE-ME") || strings.HasPrefix(v, "xapp-") && !strings.Contains(v, "REPLACE-ME") {
			t.Errorf("%s holds what looks like a real token; keep placeholders", k)
		}
		keys = append(keys, k)
	}
	for _, want := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"} {
		if !slices.Contains(keys, want) {
			t.Errorf("opsbot.env.example lacks %s", want)
		}
	}
}

// TestExampleConfigDecodes loads the shipped example config as the bot
// does, so the example cannot drift from what the sections accept.
func TestExampleConfigDecodes(t *testing.T) {
	if _, err := config.ParseFile("deploy/opsbot.yaml", []byte(readRepoFile(t, "deploy/opsbot.yaml"))); err != nil {
		t.Error(err)
	}
	// The config file examples in the READMEs decode too.
	for _, ex := range []struct{ file, heading string }{
		{"README.md", "### Config file"},
		{"README.md", "### Web view"},
		{"deploy/README.md", "## Alerts from Alertmanager and Grafana"},
	} {
		block := yamlBlockAfter(t, ex.file, ex.heading)
		if _, err := config.ParseFile(ex.file+" ("+ex.heading+")", []byte(block)); err != nil {
			t.Errorf("%v\n---\n%s", err, block)
		}
	}
}

// yamlBlockAfter returns the first ```yaml block after the heading, with
// the fence's indentation (a block inside a list item) removed.
func yamlBlockAfter(t *testing.T, file, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut("\n"+readRepoFile(t, file), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	lines := strings.Split(rest, "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "```yaml" })
	if start < 0 {
		t.Fatalf("%s has no yaml block after %q", file, heading)
	}
	indent := lines[start][:strings.Index(lines[start], "`")]
	var b strings.Builder
	for _, l := range lines[start+1:] {
		if strings.TrimSpace(l) == "```" {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(l, indent) + "\n")
	}
	t.Fatalf("%s: the yaml block after %q does not end", file, heading)
	return ""
}

// TestHelmSchemaMatchesValues keeps values.schema.json, which refuses
// unknown keys, in step with values.yaml: a key in one and not the other
// is either unusable or unchecked.
func TestHelmSchemaMatchesValues(t *testing.T) {
	var values map[string]any
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/helm/opsbot/values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal([]byte(readRepoFile(t, "deploy/helm/opsbot/values.schema.json")), &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(values)), slices.Sorted(maps.Keys(schema.Properties))); diff != "" {
		t.Errorf("top-level keys (-values.yaml +values.schema.json):\n%s", diff)
	}
	for k, prop := range schema.Properties {
		sub, ok := values[k].(map[string]any)
		if !ok || prop.Properties == nil {
			continue
		}
		for child := range sub {
			if _, ok := prop.Properties[child]; !ok {
				t.Errorf("values.yaml has %s.%s, which values.schema.json does not allow", k, child)
			}
		}
	}
}

var metricName = regexp.MustCompile(`^opsbot_[a-z0-9_]+$`)

// codeMetrics maps every metric opsbot registers to its label names, read
// from the constructor calls that name it: prometheus.New…(…Opts{Name:
// "opsbot_…"}, []string{labels}), prometheus.NewDesc("opsbot_…", help,
// []string{labels}, …), or a helper taking the name as an argument.
func codeMetrics(t *testing.T) map[string][]string {
	t.Helper()
	metrics := map[string][]string{}
	named := map[string]string{} // every literal that looks like a metric name, and where
	for _, f := range moduleFiles(t) {
		ast.Inspect(f.ast, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && metricName.MatchString(s) {
					named[s] = f.fset.Position(n.Pos()).String()
				}
			case *ast.CallExpr:
				var name string
				var labels []string
				for _, arg := range n.Args {
					if s := metricLiteral(arg); s != "" {
						name = s
					}
					if cl, ok := arg.(*ast.CompositeLit); ok {
						if s := optsName(cl); s != "" {
							name = s
						}
						if ls, ok := stringSlice(cl); ok && labels == nil {
							labels = ls
						}
					}
				}
				if name != "" {
					metrics[name] = labels
				}
			}
			return true
		})
	}
	for s, where := range named {
		if _, ok := metrics[s]; !ok {
			t.Errorf("%s: %s looks like a metric name but is not an argument of a constructor call this test reads", where, s)
		}
	}
	if len(metrics) == 0 {
		t.Fatal("found no opsbot_ metrics in the code")
	}
	return metrics
}

func metricLiteral(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, _ := strconv.Unquote(lit.Value)
	if !metricName.MatchString(s) {
		return ""
	}
	return s
}

// optsName is the Name of a prometheus.…Opts literal.
func optsName(cl *ast.CompositeLit) string {
	for _, el := range cl.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
				return metricLiteral(kv.Value)
			}
		}
	}
	return ""
}

// stringSlice reads a []string{"a", "b"} literal.
func stringSlice(cl *ast.CompositeLit) ([]string, bool) {
	at, ok := cl.Type.(*ast.ArrayType)
	if !ok {
		return nil, false
	}
	if id, ok := at.Elt.(*ast.Ident); !ok || id.Name != "string" {
		return nil, false
	}
	out := []string{}
	for _, el := range cl.Elts {
		lit, ok := el.(*ast.BasicLit)
		if !ok {
			return nil, false
		}
		s, _ := strconv.Unquote(lit.Value)
		out = append(out, s)
	}
	return out, true
}

var readmeMetric = regexp.MustCompile("`(opsbot_[a-z0-9_]+)(?:\\{([a-z_,]*)\\})?")

// TestReadmeMetricsMatchCode keeps the metric names and labels the READMEs
// give in step with the code: README.md lists every metric with its labels,
// and neither README names one the code does not register or gives it
// other labels.
func TestReadmeMetricsMatchCode(t *testing.T) {
	code := codeMetrics(t)
	for _, file := range []string{"README.md", "deploy/README.md"} {
		listed := map[string]bool{}
		for _, m := range readmeMetric.FindAllStringSubmatch(readRepoFile(t, file), -1) {
			name, labels := m[1], m[2]
			want, ok := code[name]
			if !ok {
				t.Errorf("%s names the metric %s, which the code does not register", file, name)
				continue
			}
			if strings.Contains(m[0], "{") {
				if got := strings.Join(want, ","); labels != got {
					t.Errorf("%s gives %s the labels {%s}; the code's are {%s}", file, name, labels, got)
				}
			}
			listed[name] = true
		}
		if file != "README.md" {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(code)) {
			if !listed[name] {
				t.Errorf("README.md does not list the metric `%s` (Operating it: Health and metrics)", withLabels(name, code[name]))
			}
		}
	}
	// Each labelled metric must appear with its labels somewhere in README.md.
	readme := readRepoFile(t, "README.md")
	for _, name := range slices.Sorted(maps.Keys(code)) {
		if labels := code[name]; len(labels) > 0 && !strings.Contains(readme, "`"+withLabels(name, labels)+"`") {
			t.Errorf("README.md never shows %s with its labels: want `%s`", name, withLabels(name, labels))
		}
	}
}

// withLabels writes a metric as the READMEs do: name{label,label}.
func withLabels(name string, labels []string) string {
	if len(labels) == 0 {
		return name
	}
	return name + "{" + strings.Join(labels, ",") + "}"
}
