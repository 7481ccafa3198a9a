package deploy

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// instruction is one Dockerfile instruction after line continuations are
// joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

// stage is one FROM … section of a multi-stage Dockerfile.
type stage struct {
	from, name string
	instrs     []instruction
}

// parseDockerfile reads the Dockerfile syntax that matters here: comments,
// parser directives, backslash continuations and instructions. A line that
// is not an instruction is an error, as it is for docker build.
func parseDockerfile(text string) ([]stage, error) {
	var stages []stage
	var pending strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	flush := func() error {
		s := strings.TrimSpace(pending.String())
		pending.Reset()
		if s == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(s, " ")
		cmd = strings.ToUpper(cmd)
		if !dockerInstructions[cmd] {
			return &dockerfileError{line: start, msg: "unknown instruction " + cmd}
		}
		in := instruction{line: start, cmd: cmd, args: strings.TrimSpace(args)}
		if cmd == "FROM" {
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if cmd == "ARG" {
				return nil // global build arguments before the first FROM
			}
			return &dockerfileError{line: start, msg: cmd + " before FROM"}
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		return nil
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments and parser directives
		}
		if pending.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		pending.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if pending.Len() > 0 {
		return nil, &dockerfileError{line: start, msg: "file ends inside a continued line"}
	}
	return stages, sc.Err()
}

type dockerfileError struct {
	line int
	msg  string
}

func (e *dockerfileError) Error() string { return "Dockerfile:" + strconv.Itoa(e.line) + ": " + e.msg }

var dockerInstructions = map[string]bool{
	"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "EXPOSE": true, "ENV": true, "ADD": true,
	"COPY": true, "ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true, "ARG": true,
	"ONBUILD": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true,
}

// shellWords splits a command line the way sh does for the simple cases a
// build command uses: blanks separate words, double and single quotes group.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// goBuild is a `go build` command reduced to what decides the binary.
type goBuild struct {
	env     []string // CGO_ENABLED=0 and the like, sorted; GOOS/GOARCH excluded
	flags   []string // -trimpath, -ldflags=<normalised>
	output  string   // -o value
	pkg     string
	ldflags string
}

var (
	ldflagValue = regexp.MustCompile(`(-X [\w./]+)=(\$\([^)]*\)|\S+)`)
	envAssign   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
)

// parseGoBuild finds `go build` in a shell command and normalises it: values
// of -X variables (${VERSION}, $(git describe), …) are replaced by "*" so the
// Dockerfile and the documented command compare equal.
func parseGoBuild(cmdline string) (goBuild, bool) {
	words := shellWords(cmdline)
	i := slices.Index(words, "go")
	if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
		return goBuild{}, false
	}
	var b goBuild
	for j := i - 1; j >= 0 && envAssign.MatchString(words[j]); j-- {
		name, _, _ := strings.Cut(words[j], "=")
		if name != "GOOS" && name != "GOARCH" {
			b.env = append(b.env, words[j])
		}
	}
	slices.Sort(b.env)
	args := words[i+2:]
	for j := 0; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "-o" && j+1 < len(args):
			b.output = args[j+1]
			j++
		case a == "-ldflags" && j+1 < len(args):
			b.ldflags = ldflagValue.ReplaceAllString(args[j+1], "$1=*")
			b.flags = append(b.flags, "-ldflags="+b.ldflags)
			j++
		case strings.HasPrefix(a, "-ldflags="):
			b.ldflags = ldflagValue.ReplaceAllString(strings.TrimPrefix(a, "-ldflags="), "$1=*")
			b.flags = append(b.flags, "-ldflags="+b.ldflags)
		case strings.HasPrefix(a, "-"):
			b.flags = append(b.flags, a)
		default:
			b.pkg = a
		}
	}
	slices.Sort(b.flags)
	return b, true
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadDockerfile(t *testing.T) []stage {
	t.Helper()
	stages, err := parseDockerfile(readRepoFile(t, "deploy/Dockerfile"))
	if err != nil {
		t.Fatalf("parse deploy/Dockerfile: %v", err)
	}
	return stages
}

// dockerBuild returns the go build command of the Dockerfile's build stage.
func dockerBuild(t *testing.T, stages []stage) (goBuild, stage) {
	t.Helper()
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st.instrs {
			if in.cmd == "RUN" {
				if b, ok := parseGoBuild(in.args); ok {
					return b, st
				}
			}
		}
	}
	t.Fatal("no go build in a build stage of deploy/Dockerfile")
	return goBuild{}, stage{}
}

// documentedBuild is the build command deploy/README.md gives under "Build
// the binary": the one place operators and packagers copy it from.
func documentedBuild(t *testing.T) goBuild {
	t.Helper()
	for _, line := range strings.Split(readRepoFile(t, "deploy/README.md"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "CGO_ENABLED=0 go build") {
			if b, ok := parseGoBuild(line); ok {
				return b
			}
		}
	}
	t.Fatal(`deploy/README.md has no line starting with "CGO_ENABLED=0 go build"`)
	return goBuild{}
}

func TestDockerfile(t *testing.T) {
	stages := loadDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("got %d stages, want a multi-stage build", len(stages))
	}
	final := stages[len(stages)-1]
	build, buildStage := dockerBuild(t, stages)
	instr := func(st stage, cmd string) []instruction {
		var out []instruction
		for _, in := range st.instrs {
			if in.cmd == cmd {
				out = append(out, in)
			}
		}
		return out
	}
	last := func(st stage, cmd string) string {
		ins := instr(st, cmd)
		if len(ins) == 0 {
			return ""
		}
		return ins[len(ins)-1].args
	}

	t.Run("build stage uses the Go toolchain of go.mod", func(t *testing.T) {
		goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
		df := readRepoFile(t, "deploy/Dockerfile")
		if goVersion == nil || !strings.Contains(df, "GO_VERSION="+goVersion[1]) {
			t.Errorf("Dockerfile GO_VERSION does not match go.mod's go %v", goVersion)
		}
		if !strings.HasPrefix(buildStage.from, "golang:") {
			t.Errorf("build stage FROM %q, want golang:…", buildStage.from)
		}
	})
	t.Run("small final base", func(t *testing.T) {
		if final.from != "scratch" && !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
			t.Errorf("final FROM %q, want distroless static or scratch", final.from)
		}
		if final.from == "scratch" {
			// scratch has nothing: certificates and zoneinfo must be copied.
			var copies string
			for _, in := range instr(final, "COPY") {
				copies += in.args + "\n"
			}
			for _, want := range []string{"ca-certificates", "zoneinfo"} {
				if !strings.Contains(copies, want) {
					t.Errorf("scratch image without %s", want)
				}
			}
		}
	})
	t.Run("runs as non-root", func(t *testing.T) {
		user := last(final, "USER")
		name, _, _ := strings.Cut(user, ":")
		if user == "" || name == "root" || name == "0" {
			t.Errorf("final USER %q, want a non-root user", user)
		}
		if strings.HasPrefix(final.from, "gcr.io/distroless/") && !strings.HasSuffix(final.from, ":nonroot") && name != "65532" {
			t.Errorf("distroless base %q without the nonroot tag or user 65532", final.from)
		}
	})
	t.Run("static binary", func(t *testing.T) {
		if !slices.Contains(build.env, "CGO_ENABLED=0") {
			t.Errorf("go build env %v, want CGO_ENABLED=0", build.env)
		}
		if !slices.Contains(build.flags, "-trimpath") || !strings.Contains(build.ldflags, "-s -w") {
			t.Errorf("go build flags %v, want -trimpath and -ldflags with -s -w", build.flags)
		}
		for _, x := range []string{"-X main.version=*", "-X main.commit=*"} {
			if !strings.Contains(build.ldflags, x) {
				t.Errorf("ldflags %q lack %s", build.ldflags, x)
			}
		}
		if build.pkg != "./cmd/opsbot" {
			t.Errorf("builds %q, want ./cmd/opsbot", build.pkg)
		}
	})
	t.Run("copies the binary it built", func(t *testing.T) {
		var src, dst string
		for _, in := range instr(final, "COPY") {
			f := strings.Fields(in.args)
			if len(f) == 3 && f[0] == "--from="+buildStage.name {
				src, dst = f[1], f[2]
			}
		}
		if src != build.output {
			t.Errorf("final stage copies %q from %s, but go build writes %q", src, buildStage.name, build.output)
		}
		entry := last(final, "ENTRYPOINT")
		if !strings.Contains(entry, `"`+dst+`"`) {
			t.Errorf("ENTRYPOINT %s does not run the copied binary %q", entry, dst)
		}
	})
	t.Run("exposes the HTTP port", func(t *testing.T) {
		if got := last(final, "EXPOSE"); got != "8080" {
			t.Errorf("EXPOSE %q, want 8080 (OPSBOT_HTTP_ADDR default)", got)
		}
	})
	t.Run("same build command as documented", func(t *testing.T) {
		doc := documentedBuild(t)
		cmpOpts := cmp.AllowUnexported(goBuild{})
		doc.output, build.output = "", ""
		if diff := cmp.Diff(doc, build, cmpOpts); diff != "" {
			t.Errorf("go build (-deploy/README.md +Dockerfile):\n%s", diff)
		}
		if mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile")); err == nil {
			for _, line := range strings.Split(string(mk), "\n") {
				if b, ok := parseGoBuild(strings.TrimSpace(line)); ok && b.pkg == "./cmd/opsbot" {
					b.output = ""
					if diff := cmp.Diff(doc, b, cmpOpts); diff != "" {
						t.Errorf("go build (-deploy/README.md +Makefile):\n%s", diff)
					}
				}
			}
		}
	})
	t.Run("build context keeps the embedded manifest", func(t *testing.T) {
		ignore := readRepoFile(t, "deploy/Dockerfile.dockerignore")
		for _, line := range strings.Split(ignore, "\n") {
			line = strings.TrimSpace(line)
			if line == "deploy" || line == "deploy/" || line == "deploy/*" || line == "*.yaml" {
				t.Errorf("dockerignore pattern %q drops deploy/slack-app-manifest.yaml, which the binary embeds", line)
			}
		}
	})
}

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		wantStages []string
		wantErr    bool
	}{
		{"two stages", "ARG V=1\nFROM golang:1 AS build\nRUN go \\\n  build .\nFROM scratch\nCOPY --from=build /a /a\n", []string{"golang:1", "scratch"}, false},
		{"platform flag", "FROM --platform=$BUILDPLATFORM golang AS b\nFROM scratch\n", []string{"golang", "scratch"}, false},
		{"unknown instruction", "FROM scratch\nRUNN x\n", nil, true},
		{"instruction before FROM", "RUN x\nFROM scratch\n", nil, true},
		{"dangling continuation", "FROM scratch\nRUN a \\\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stages, err := parseDockerfile(tt.text)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			var got []string
			for _, s := range stages {
				got = append(got, s.from)
			}
			if diff := cmp.Diff(tt.wantStages, got); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseGoBuild(t *testing.T) {
	tests := []struct {
		name string
		cmd  string
		want goBuild
	}{
		{
			name: "dockerfile form",
			cmd:  `GOOS=$TARGETOS CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/opsbot ./cmd/opsbot`,
			want: goBuild{env: []string{"CGO_ENABLED=0"}, flags: []string{"-ldflags=-s -w -X main.version=* -X main.commit=*", "-trimpath"},
				output: "/out/opsbot", pkg: "./cmd/opsbot", ldflags: "-s -w -X main.version=* -X main.commit=*"},
		},
		{
			name: "shell form with literal values",
			cmd:  `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=v1.2.3 -X main.commit=abc" ./cmd/opsbot`,
			want: goBuild{env: []string{"CGO_ENABLED=0"}, flags: []string{"-ldflags=-s -w -X main.version=* -X main.commit=*", "-trimpath"},
				pkg: "./cmd/opsbot", ldflags: "-s -w -X main.version=* -X main.commit=*"},
		},
		{
			name: "dockerfile RUN with mounts and command substitution",
			cmd:  `--mount=type=cache,target=/go/pkg/mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(git describe --tags) -X main.commit=$(git rev-parse HEAD)" ./cmd/opsbot`,
			want: goBuild{env: []string{"CGO_ENABLED=0"}, flags: []string{"-ldflags=-s -w -X main.version=* -X main.commit=*", "-trimpath"},
				pkg: "./cmd/opsbot", ldflags: "-s -w -X main.version=* -X main.commit=*"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseGoBuild(tt.cmd)
			if !ok {
				t.Fatal("no go build found")
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(goBuild{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuiltBinaryIsStatic runs the Dockerfile's go build (same env and
// flags) on this machine and checks the result is the static,
// version-stamped binary the distroless image needs. It compiles the whole
// program, so it runs only when OPSBOT_BUILD_CHECK=1 (deploy/ci.sh sets it).
func TestBuiltBinaryIsStatic(t *testing.T) {
	if os.Getenv("OPSBOT_BUILD_CHECK") != "1" {
		t.Skip("set OPSBOT_BUILD_CHECK=1 to build the binary as the Dockerfile does")
	}
	build, _ := dockerBuild(t, loadDockerfile(t))
	out := filepath.Join(t.TempDir(), "opsbot")
	ldflags := strings.NewReplacer("main.version=*", "main.version=v9.9.9-test", "main.commit=*", "main.commit=c0ffee").Replace(build.ldflags)
	args := []string{"build"}
	for _, f := range build.flags {
		if !strings.HasPrefix(f, "-ldflags=") {
			args = append(args, f)
		}
	}
	args = append(args, "-ldflags", ldflags, "-o", out, build.pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), build.env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has a dynamic loader (PT_INTERP): not static, it will not start on distroless/static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary links %v dynamically", libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("binary has a symbol table: -s was not applied")
	}
	v, err := exec.Command(out, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("opsbot version: %v\n%s", err, v)
	}
	for _, want := range []string{"v9.9.9-test", "c0ffee"} {
		if !strings.Contains(string(v), want) {
			t.Errorf("opsbot version printed %q, want it to contain %q (-X main.version / main.commit)", v, want)
		}
	}
}
