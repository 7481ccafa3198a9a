package runbooks

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: a runbook file, however malformed, is either refused with
// problems or yields a runbook whose command is a non-empty argv with no
// placeholder in the program; never a panic. Seeds: the examples, plus
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("examples", "*.yaml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, problems, _ := Parse("fuzz.yaml", data)
		if rb == nil {
			if len(problems) == 0 {
				t.Fatalf("no runbook and no problem for %q", data)
			}
			return
		}
		if len(problems) > 0 {
			return
		}
		if len(rb.Command) == 0 || rb.Command[0] == "" {
			t.Fatalf("accepted a runbook without a program: %q", data)
		}
		for _, c := range rb.Command[0] {
			if c == '{' || c == '}' {
				t.Fatalf("accepted a placeholder in the program: %q", rb.Command[0])
			}
		}
	})
}
