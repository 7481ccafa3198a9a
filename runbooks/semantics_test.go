package runbooks

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeResolver answers from a map; names it does not know do not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// TestApprovalComparesCanonicalValues: whatever spelling a person types, a
// value that means what an approval rule names needs that approval.
func TestApprovalComparesCanonicalValues(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	body := `name: probe
description: approval by canonical value
command: ["/bin/echo", "{{file}}", "{{count}}", "{{wait}}", "{{force}}", "{{host}}"]
params:
  file:  {type: path, base: ` + logs + `, allow: ["` + logs + `/*.log"], default: app.log}
  count: {type: int, min: -10, max: 10, default: 1}
  wait:  {type: duration, default: 1s}
  force: {type: bool, default: "false"}
  host:  {type: host, with_port: true, default: "api.example.com"}
approval:
  when:
    file: ` + logs + `/secret.log
    count: [0, -1]
    wait: 1m
    force: "true"
    host: "API.example.com:443"
  approvers: {users: [U0LEAD]}
`
	rb := loadOne(t, body)
	res := fakeResolver{"api.example.com": {"93.184.216.34"}}
	tests := []struct {
		text, wantRule string
	}{
		{"file=app.log", ""},
		{"file=secret.log", "file=" + logs + "/secret.log"},
		{"file=./secret.log", "file=" + logs + "/secret.log"},
		{"file=.//secret.log", "file=" + logs + "/secret.log"},
		{"file=" + logs + "/./secret.log", "file=" + logs + "/secret.log"},
		{"count=00", "count=0"},
		{"count=-01", "count=-1"},
		{"wait=60s", "wait=1m0s"},
		{"wait=60000ms", "wait=1m0s"},
		{"force=TRUE", "force=true"},
		{"force=1", "force=true"},
		{"host=api.example.com:0443", "host=api.example.com:443"},
		{"host=API.EXAMPLE.COM.:443", "host=api.example.com:443"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			vals, _, err := ParseArgs(strings.Fields(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			inv, err := rb.PrepareContext(t.Context(), vals, res)
			if err != nil {
				t.Fatal(err)
			}
			if inv.ApprovalRule != tt.wantRule {
				t.Errorf("got approval rule %q, want %q", inv.ApprovalRule, tt.wantRule)
			}
		})
	}
}

func TestIntRefusesLeadingDashUnlessMinAllows(t *testing.T) {
	neg, zero := int64(-5), int64(0)
	tests := []struct {
		name    string
		min     *int64
		val     string
		want    string
		wantErr string
	}{
		{"no min, negative", nil, "-3", "", "must not start with -"},
		{"no min, minus zero", nil, "-0", "", "must not start with -"},
		{"no min, positive", nil, "3", "3", ""},
		{"min 0, negative", &zero, "-1", "", "must not start with -"},
		{"min -5, negative", &neg, "-5", "-5", ""},
		{"min -5, leading zeros", &neg, "-005", "-5", ""},
		{"min -5, below", &neg, "-6", "", "must be at least -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Param{Name: "n", Type: TypeInt, Min: tt.min}
			got, err := p.Check(tt.val)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPathParameter(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "log")
	for _, d := range []string{logs, filepath.Join(logs, "nginx"), filepath.Join(dir, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(logs, "syslog"), filepath.Join(logs, "nginx", "access.log"), filepath.Join(dir, "etc", "shadow")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "etc", "shadow"), filepath.Join(logs, "nginx", "evil.log")); err != nil {
		t.Fatal(err)
	}
	p := &Param{Name: "file", Type: TypePath, Base: logs, Allow: []string{logs + "/syslog", logs + "/nginx/*.log"}}
	tests := []struct {
		val, want, wantErr string
	}{
		{"syslog", logs + "/syslog", ""},
		{"./syslog", logs + "/syslog", ""},
		{logs + "/syslog", logs + "/syslog", ""},
		{"nginx/access.log", logs + "/nginx/access.log", ""},
		{"nginx//access.log", logs + "/nginx/access.log", ""},
		{"nginx/not-there-yet.log", logs + "/nginx/not-there-yet.log", ""},
		{"auth.log", "", "is not an allowed file"},
		{"nginx/sub/x.log", "", "is not an allowed file"},
		{"../etc/shadow", "", "must not contain .."},
		{"nginx/../syslog", "", "must not contain .."},
		{dir + "/etc/shadow", "", "is not an allowed file"},
		{"nginx/evil.log", "", "is a link to a file that is not allowed"},
		{"-n", "", "must not start with -"},
		{"", "", "must be a path"},
	}
	for _, tt := range tests {
		t.Run(tt.val, func(t *testing.T) {
			got, err := p.Check(tt.val)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	noBase := &Param{Name: "file", Type: TypePath, Allow: []string{"/var/log/syslog"}}
	if _, err := noBase.Check("syslog"); err == nil || !strings.Contains(err.Error(), "must be an absolute path") {
		t.Errorf("got %v, want relative paths refused without a base", err)
	}
}

func TestHostParameter(t *testing.T) {
	res := fakeResolver{
		"api.example.com":      {"93.184.216.34", "2606:2800:220:1::1"},
		"rebound.example.com":  {"93.184.216.34", "127.0.0.1"},
		"meta.example.com":     {"169.254.169.254"},
		"internal.example.com": {"10.1.2.3"},
		"v6local.example.com":  {"::1"},
	}
	public := &Param{Name: "host", Type: TypeHost}
	private := &Param{Name: "host", Type: TypeHost, AllowPrivate: true, WithPort: true}
	tests := []struct {
		name          string
		p             *Param
		val           string
		want, wantErr string
	}{
		{"public name", public, "api.example.com", "api.example.com", ""},
		{"upper case and trailing dot", public, "API.Example.COM.", "api.example.com", ""},
		{"public IPv4", public, "93.184.216.34", "93.184.216.34", ""},
		{"public IPv6 in brackets", public, "2606:2800:220:1::1", "[2606:2800:220:1::1]", ""},
		{"port refused without with_port", public, "api.example.com:8080", "", "without a port"},
		{"port allowed", private, "api.example.com:08080", "api.example.com:8080", ""},
		{"IPv6 with port", private, "[2606:2800:220:1::1]:443", "[2606:2800:220:1::1]:443", ""},
		{"port out of range", private, "api.example.com:70000", "", "want 1 to 65535"},
		{"empty port", private, "api.example.com:", "", "empty port"},
		{"localhost", public, "localhost", "", "localhost"},
		{"sub.localhost", public, "a.localhost", "", "localhost"},
		{"loopback", public, "127.0.0.1", "", "loopback"},
		{"loopback other", public, "127.8.9.10", "", "loopback"},
		{"IPv6 loopback", public, "::1", "", "loopback"},
		{"mapped loopback", public, "::ffff:127.0.0.1", "", "loopback"},
		{"NAT64 loopback", public, "64:ff9b::7f00:1", "", "embeds an address that a loopback"},
		{"6to4 metadata", public, "2002:a9fe:a9fe::1", "", "embeds an address that a cloud metadata"},
		{"unspecified", public, "0.0.0.0", "", "unspecified"},
		{"metadata", public, "169.254.169.254", "", "cloud metadata"},
		{"metadata name", public, "metadata.google.internal", "", "cloud metadata"},
		{"azure wireserver", private, "168.63.129.16", "", "cloud metadata"},
		{"link-local", public, "169.254.1.1", "", "link-local"},
		{"private refused", public, "10.0.0.1", "", "private"},
		{"private allowed", private, "10.0.0.1", "10.0.0.1", ""},
		{"ULA refused", public, "fd12::1", "", "private"},
		{"decimal address", public, "2130706433", "", "written as a number"},
		{"short address", public, "127.1", "", "written as a number"},
		{"hex address", public, "0x7f000001", "", "written as a number"},
		{"octal address", public, "0177.0.0.1", "", "written as a number"},
		{"zone", public, "2606:2800:220:1::1%eth0", "", "zone"},
		{"underscore", public, "a_b.example.com", "", "must be a host name"},
		{"userinfo", public, "user@example.com", "", "must be a host name"},
		{"URL", public, "http://example.com", "", "without a port"},
		{"leading dash", public, "-x.example.com", "", "must be a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Check(tt.val)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	rb := loadOne(t, `name: probe
description: probe a host
command: ["/bin/echo", "{{host}}"]
params:
  host: {type: host, required: true}
`)
	for _, tt := range []struct {
		host, wantErr string
	}{
		{"api.example.com", ""},
		{"rebound.example.com", "resolves to an address that a loopback address (127.0.0.1)"},
		{"meta.example.com", "cloud metadata"},
		{"internal.example.com", "a private address"},
		{"v6local.example.com", "loopback"},
		{"nowhere.example.com", "could not be resolved"},
	} {
		t.Run("resolve "+tt.host, func(t *testing.T) {
			_, err := rb.PrepareContext(t.Context(), map[string]string{"host": tt.host}, res)
			var pe *ParamError
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
				return
			}
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want a ParamError containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDenyPattern(t *testing.T) {
	rb := loadOne(t, `name: flush
description: delete a key
command: ["/bin/echo", "DEL", "{{key}}"]
params:
  key: {pattern: "^[A-Za-z0-9][A-Za-z0-9:._-]{0,199}$", deny_pattern: "(?i)^opsbot:", required: true}
`)
	for key, wantErr := range map[string]string{
		"cache:user:1":  "",
		"opsbot:audit":  "must not match (?i)^opsbot:",
		"OpsBot:audit":  "must not match",
		"x-opsbot:keep": "",
	} {
		_, err := rb.Prepare(map[string]string{"key": key})
		if (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("key %q: got %v, want error %q", key, err, wantErr)
		}
	}
}

// TestLockKeysAreUnambiguous: values that differ give different lock keys,
// however they are split between the placeholders.
func TestLockKeysAreUnambiguous(t *testing.T) {
	rb := loadOne(t, `name: twoparts
description: a lock from two values
command: ["/bin/echo", "{{a}}", "{{b}}"]
params:
  a: {pattern: "^[a-z,%-]+$", required: true}
  b: {pattern: "^[a-z,%-]+$", required: true}
lock: "deploy-{{a}}-{{b}}"
`)
	key := func(a, b string) string {
		inv, err := rb.Prepare(map[string]string{"a": a, "b": b})
		if err != nil {
			t.Fatal(err)
		}
		return inv.LockKey
	}
	if k1, k2 := key("x-y", "z"), key("x", "y-z"); k1 == k2 {
		t.Errorf("got the same lock %q for a=x-y,b=z and a=x,b=y-z", k1)
	}
	if got, want := key("plain", "values"), "deploy-plain-values"; got != want {
		t.Errorf("got lock %q, want %q (values without the separator stay readable)", got, want)
	}
	if got, want := key("x-y", "z%"), "deploy-x%2Dy-z%25"; got != want {
		t.Errorf("got lock %q, want %q", got, want)
	}
}

// FuzzLockKey: two different pairs of values never render the same key.
func FuzzLockKey(f *testing.F) {
	f.Add("x-y", "z", "x", "y-z")
	f.Add("a%2D", "b", "a-", "b")
	f.Add("", "-", "-", "")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		if a == c && b == d {
			return
		}
		for _, tmpl := range []string{"{{a}}-{{b}}", "x/{{a}}/{{b}}/y", "{{a}}:-{{b}}", "{{a}}a-b{{b}}"} {
			k1 := renderLock(tmpl, map[string]string{"a": a, "b": b})
			k2 := renderLock(tmpl, map[string]string{"a": c, "b": d})
			if k1 == k2 {
				t.Fatalf("template %q: (%q, %q) and (%q, %q) both give %q", tmpl, a, b, c, d, k1)
			}
		}
	})
}

func TestNewParamOptionsAreValidated(t *testing.T) {
	tests := []struct {
		name, params, lock, want string
	}{
		{"path without allow", `{type: path, default: /var/log/syslog}`, "", "needs an allow list"},
		{"relative glob", `{type: path, allow: ["log/*.log"], default: /var/log/syslog}`, "", "must be an absolute path or glob"},
		{"unclean glob", `{type: path, allow: ["/var/log/../etc/*"], default: /var/log/syslog}`, "", "is not a clean path"},
		{"double star", `{type: path, allow: ["/var/log/**"], default: /var/log/syslog}`, "", "** is not supported"},
		{"relative base", `{type: path, allow: ["/var/log/*"], base: var/log, default: /var/log/syslog}`, "", "clean absolute directory"},
		{"default not allowed", `{type: path, allow: ["/var/log/syslog"], default: /etc/shadow}`, "", "default is invalid: is not an allowed file"},
		{"allow on a string", `{pattern: "^a$", allow: ["/x"], default: a}`, "", "allow and base are only for type path"},
		{"allow_private on an int", `{type: int, allow_private: true, default: "1"}`, "", "allow_private and with_port are only for type host"},
		{"deny_pattern on an enum", `{enum: [a], deny_pattern: "^a", default: a}`, "", "deny_pattern is only for type string"},
		{"bad deny_pattern", `{pattern: "^a$", deny_pattern: "(", default: a}`, "", "invalid regular expression"},
		{"host default is loopback", `{type: host, default: 127.0.0.1}`, "", "default is invalid: is a loopback address"},
		{"adjacent placeholders in lock", `{pattern: "^a$", default: a}`, "{{v}}{{v}}", "must be separated"},
		{"only letters between placeholders", `{pattern: "^a$", default: a}`, "{{v}}and{{v}}", "must be separated"},
		{"only % between placeholders", `{pattern: "^a$", default: a}`, "{{v}}%{{v}}", "must be separated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "name: x\ndescription: x\ncommand: [\"/bin/echo\", \"{{v}}\"]\nparams:\n  v: " + tt.params + "\n"
			if tt.lock != "" {
				body += "lock: \"" + tt.lock + "\"\n"
			}
			_, probs, _ := Parse("x.yaml", []byte(body))
			if !strings.Contains(probs.Error(), tt.want) {
				t.Errorf("got problems %q, want one containing %q", probs.Error(), tt.want)
			}
		})
	}
}
