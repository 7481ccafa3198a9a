package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	testLinkKey  = "LINKKEYLINKKEYLINKKEYLINKKEYLINKKEY"
	testLinkKey2 = "PREVKEYPREVKEYPREVKEYPREVKEYPREVKEY"
)

func TestLoadWebView(t *testing.T) {
	socket := map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range socket {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		file    string
		wantErr []string
		check   func(t *testing.T, c Config)
	}{
		{name: "off by default", env: socket, check: func(t *testing.T, c Config) {
			if c.WebView() {
				t.Error("WebView() = true without a URL and a key")
			}
		}},
		{name: "on with a URL and a key", env: with(map[string]string{"OPSBOT_PUBLIC_URL": "https://ops.example.com", "OPSBOT_LINK_KEY": testLinkKey,
			"OPSBOT_LINK_KEY_PREVIOUS": testLinkKey2, "OPSBOT_WEB_ADDR": ":8081"}),
			check: func(t *testing.T, c Config) {
				if !c.WebView() || c.WebAddr != ":8081" || c.LinkKeyPrevious.Reveal() != testLinkKey2 {
					t.Errorf("got web view %t addr %q", c.WebView(), c.WebAddr)
				}
			}},
		{name: "file section, environment wins", env: with(map[string]string{"OPSBOT_LINK_KEY": testLinkKey, "OPSBOT_WEB_ADDR": ":9000"}),
			file: "web:\n  public_url: https://file.example.com\n  addr: \":8081\"\n  link_validity: 24h\n  previous_key_until: 2026-04-01T00:00:00Z\n",
			check: func(t *testing.T, c Config) {
				if c.PublicURL != "https://file.example.com" || c.WebAddr != ":9000" || c.File.Web.LinkValidity != 24*time.Hour ||
					!c.File.Web.PreviousKeyUntil.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("got url %q addr %q section %+v", c.PublicURL, c.WebAddr, c.File.Web)
				}
			}},
		{name: "URL without a key", env: with(map[string]string{"OPSBOT_PUBLIC_URL": "https://ops.example.com"}),
			wantErr: []string{"OPSBOT_LINK_KEY is not set"}},
		{name: "key without a URL", env: with(map[string]string{"OPSBOT_LINK_KEY": testLinkKey}),
			wantErr: []string{"OPSBOT_PUBLIC_URL (or web.public_url) is not set"}},
		{name: "console mode needs no URL", env: map[string]string{"OPSBOT_LINK_KEY": testLinkKey}},
		{name: "short key", env: with(map[string]string{"OPSBOT_PUBLIC_URL": "https://ops.example.com", "OPSBOT_LINK_KEY": "short-secret"}),
			wantErr: []string{"OPSBOT_LINK_KEY must be at least 32 bytes (it is 12)"}},
		{name: "previous key alone", env: with(map[string]string{"OPSBOT_LINK_KEY_PREVIOUS": testLinkKey2}),
			wantErr: []string{"OPSBOT_LINK_KEY_PREVIOUS is set without OPSBOT_LINK_KEY"}},
		{name: "previous key same as current", env: with(map[string]string{"OPSBOT_PUBLIC_URL": "https://ops.example.com", "OPSBOT_LINK_KEY": testLinkKey, "OPSBOT_LINK_KEY_PREVIOUS": testLinkKey}),
			wantErr: []string{"OPSBOT_LINK_KEY_PREVIOUS is the same"}},
		{name: "bad URL and address", env: with(map[string]string{"OPSBOT_PUBLIC_URL": "ftp://ops.example.com", "OPSBOT_LINK_KEY": testLinkKey, "OPSBOT_WEB_ADDR": "8081"}),
			wantErr: []string{"OPSBOT_PUBLIC_URL (or web.public_url): ", "OPSBOT_WEB_ADDR (or web.addr)"}},
		{name: "bad section", env: socket, file: "web:\n  link_validity: 1000d\n", wantErr: []string{"ops.yaml:2: web.link_validity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			fs := map[string]string{}
			if tt.file != "" {
				env = with(env)
				env["OPSBOT_CONFIG"] = "ops.yaml"
				fs["ops.yaml"] = tt.file
			}
			c, _, err := Load(nil, envOf(env), files(fs))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got no error, want %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				for _, secret := range []string{testLinkKey, testLinkKey2, "short-secret"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error quotes a link key: %q", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if out := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(out, testLinkKey) || strings.Contains(out, testLinkKey2) {
				t.Errorf("formatted config shows a link key: %s", out)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
