package runbooks

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// corpusCase is one case of testdata/redact/corpus.txt.
type corpusCase struct {
	line      int
	in, want  string
	keep      bool
	valuesFor []string
}

// readCorpus parses the corpus format described at the top of the file.
func readCorpus(t *testing.T) []corpusCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "redact", "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text := func(s string) string {
		s = strings.TrimSpace(s)
		if q, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
			return q
		}
		return s
	}
	var cases []corpusCase
	var values []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		key, val, ok := strings.Cut(line, ":")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" || !ok {
			continue
		}
		switch key {
		case "value":
			values = append(values, strings.TrimSpace(val))
		case "in":
			cases = append(cases, corpusCase{line: n, in: text(val), valuesFor: values})
		case "want":
			if len(cases) == 0 || cases[len(cases)-1].want != "" || cases[len(cases)-1].keep {
				t.Fatalf("corpus.txt:%d: want without its in", n)
			}
			cases[len(cases)-1].want = text(val)
		case "keep":
			v := text(val)
			cases = append(cases, corpusCase{line: n, in: v, want: v, keep: true, valuesFor: values})
		default:
			t.Fatalf("corpus.txt:%d: unknown key %q", n, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestRedactCorpus: every secret form in the corpus is hidden, every
// ordinary line is left alone.
func TestRedactCorpus(t *testing.T) {
	cases := readCorpus(t)
	if len(cases) < 50 {
		t.Fatalf("got %d corpus cases, want the whole corpus", len(cases))
	}
	base, err := NewRedactor(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.want == "" {
			t.Fatalf("corpus.txt:%d: in without want", c.line)
		}
		r := base.WithValues(c.valuesFor...)
		if got := r.Redact(c.in); got != c.want {
			t.Errorf("corpus.txt:%d: Redact(%q)\n got %q\nwant %q", c.line, c.in, got, c.want)
		}
		// Redacting twice changes nothing: output is redacted at each
		// snapshot and again at the end.
		if got := r.Redact(r.Redact(c.in)); got != c.want {
			t.Errorf("corpus.txt:%d: redacting twice gives %q, want %q", c.line, got, c.want)
		}
	}
}

func TestRedactorValueForms(t *testing.T) {
	base, _ := NewRedactor(nil)
	tests := []struct {
		name, value, in, want string
	}{
		{"too short to redact", "abc", "abc abc", "abc abc"},
		{"multi-line value, line by line", "line-one-secret\nline-two-secret", "x line-two-secret y", "x " + Redacted + " y"},
		{"JSON-escaped", `pa"ss\word`, `{"v":"pa\"ss\\word"}`, `{"v":"` + Redacted + `"}`},
		{"URL-escaped", "a b/c+d", "q=a+b%2Fc%2Bd", "q=" + Redacted},
		{"lone redis userinfo", "redis://onlypassword@host:6379", "AUTH onlypassword", "AUTH " + Redacted},
		{"longest first", "secretvalue", "secretvalue2 and secretvalue", Redacted + "2 and " + Redacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := base.WithValues(tt.value).Redact(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzRedactStream plants a secret in output that arrives in arbitrary
// chunks, is looked at after every chunk (as the thread updates are) and may
// be capped anywhere. No snapshot and no final output ever shows the secret,
// nor, where the cap or a chunk boundary cuts it, its first part.
// Seeds: testdata/fuzz/FuzzRedactStream.
func FuzzRedactStream(f *testing.F) {
	f.Add("log line\nthe password is ", "hunter2hunter2", "\nmore\n", []byte{3, 7, 1, 200}, uint16(0))
	f.Add("", "xoxb-planted-0000", " tail", []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, uint16(12))
	f.Add("a\nb ", "Sup3r/secret", "", []byte{5}, uint16(7))
	f.Fuzz(func(t *testing.T, before, secret, after string, chunks []byte, max uint16) {
		if len(secret) < minSecretLen || len(secret) > 64 || strings.ContainsAny(secret, "[]") ||
			strings.IndexFunc(secret, unicode.IsSpace) >= 0 || strings.Contains(Redacted, secret) {
			// Secrets the redactor is given are single words (tokens,
			// passwords); brackets could pair with the replacement text.
			return
		}
		if !isPrintableASCII(secret) {
			return
		}
		r, err := NewRedactor(nil)
		if err != nil {
			t.Fatal(err)
		}
		r = r.WithValues(secret)
		full := before + secret + after
		var at []int // where the secret starts in the output
		for i := 0; ; {
			j := strings.Index(full[i:], secret)
			if j < 0 {
				break
			}
			at = append(at, i+j)
			i += j + 1
		}
		c := &capped{max: int(max)}
		if c.max == 0 {
			c.max = DefaultMaxOutput
		}
		check := func(final bool, when string) {
			raw, total := c.bytes()
			if shown := renderOutput(raw, total, final, r); strings.Contains(shown, secret) {
				t.Fatalf("%s shows the secret %q: %q", when, secret, shown)
			}
			// What is kept never ends inside the secret, so that its
			// first part is not shown either (a prefix is not matched
			// by the literal value).
			k := len(keptOutput(raw, total, final))
			for _, j := range at {
				if k > j && k < j+len(secret) {
					t.Fatalf("%s keeps %d bytes, cutting the secret at %d..%d: %q", when, k, j, j+len(secret), raw[:k])
				}
			}
		}
		out := []byte(full)
		for i := 0; len(out) > 0; i++ {
			n := len(out)
			if i < len(chunks) && int(chunks[i]) < n && chunks[i] > 0 {
				n = int(chunks[i])
			}
			_, _ = c.Write(out[:n])
			out = out[n:]
			check(false, "snapshot")
		}
		check(true, "final output")
	})
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
