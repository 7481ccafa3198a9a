package runbooks

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The runbook examples in the READMEs are what people copy: each must load
// as it stands, and the other parameter types they show in comments must be
// valid syntax too.
func TestReadmeExamplesParse(t *testing.T) {
	tests := []struct {
		name, file, heading string
	}{
		{"README runbook format", "../README.md", "#### Runbook format"},
		{"runbooks README", "README.md", "# Runbook format"},
	}
	commented := regexp.MustCompile(`(?m)^  # ([a-z_]+): +(\{.*\})`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			example := yamlBlockAfter(t, tt.file, tt.heading)
			if _, ps, _ := Parse(tt.file, []byte(example)); len(ps) > 0 {
				t.Errorf("the example in %s does not load:\n%v\n---\n%s", tt.file, ps, example)
			}

			// Uncomment the other types and put each in the command.
			var names []string
			all := commented.ReplaceAllStringFunc(example, func(line string) string {
				m := commented.FindStringSubmatch(line)
				names = append(names, m[1])
				return "  " + m[1] + ": " + m[2]
			})
			if len(names) == 0 {
				t.Fatalf("the example in %s shows no other parameter types in comments", tt.file)
			}
			all = strings.Replace(all, `"{{namespace}}"]`, `"{{namespace}}", "{{`+strings.Join(names, `}}", "{{`)+`}}"]`, 1)
			if _, ps, _ := Parse(tt.file, []byte(all)); len(ps) > 0 {
				t.Errorf("the parameter types shown in comments in %s (%v) do not load:\n%v\n---\n%s", tt.file, names, ps, all)
			}
		})
	}
}

// yamlBlockAfter returns the first ```yaml block after the heading line.
func yamlBlockAfter(t *testing.T, file, heading string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut("\n"+string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatalf("%s has no yaml block after %q", file, heading)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("%s: the yaml block after %q does not end", file, heading)
	}
	return block
}
