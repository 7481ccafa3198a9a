package deploy

import (
	"slices"
	"strings"
	"testing"
)

// TestHelmChartWebView: with web.publicURL the pages get their own port and
// Service (so an Ingress can expose them without /metrics), and the link
// keys come from the Secret.
func TestHelmChartWebView(t *testing.T) {
	helm := helmBinary(t)
	on := append(slices.Clone(baseSets), "web.publicURL=https://opsbot.example.com",
		"web.linkKey=0123456789abcdef0123456789abcdef0123")
	tests := []struct {
		name    string
		sets    []string
		wantErr string
		check   func(t *testing.T, objs []k8sObject)
	}{
		{name: "on", sets: on, check: func(t *testing.T, objs []k8sObject) {
			ctr := get(one(t, objs, "Deployment"), "spec", "template", "spec", "containers", 0)
			env := envByName(ctr)
			if got := str(env["OPSBOT_PUBLIC_URL"], "value"); got != "https://opsbot.example.com" {
				t.Errorf("OPSBOT_PUBLIC_URL = %q", got)
			}
			if got := str(env["OPSBOT_WEB_ADDR"], "value"); got != ":8081" {
				t.Errorf("OPSBOT_WEB_ADDR = %q, want :8081", got)
			}
			for _, k := range []string{"OPSBOT_LINK_KEY", "OPSBOT_LINK_KEY_PREVIOUS"} {
				if got := str(env[k], "valueFrom", "secretKeyRef", "key"); got != k {
					t.Errorf("%s from secret key %q, want %s", k, got, k)
				}
			}
			if got := str(one(t, objs, "Secret"), "stringData", "OPSBOT_LINK_KEY"); got == "" {
				t.Error("the Secret has no OPSBOT_LINK_KEY")
			}
			if got := get(ctr, "ports", 1, "name"); got != "web" || get(ctr, "ports", 1, "containerPort") != 8081 {
				t.Errorf("container ports %v, want web on 8081", get(ctr, "ports"))
			}
			var web k8sObject
			for _, s := range find(objs, "Service") {
				if s.name() == "rel-opsbot-web" {
					web = s
				}
			}
			if web == nil {
				t.Fatal("no rel-opsbot-web Service")
			}
			if len(asList(get(web, "spec", "ports"))) != 1 || get(web, "spec", "ports", 0, "targetPort") != "web" {
				t.Errorf("web Service ports %v, want only the web port", get(web, "spec", "ports"))
			}
		}},
		{name: "off by default", sets: baseSets, check: func(t *testing.T, objs []k8sObject) {
			if len(find(objs, "Service")) != 1 {
				t.Errorf("got %d Services, want only the metrics one", len(find(objs, "Service")))
			}
			if _, ok := envByName(get(one(t, objs, "Deployment"), "spec", "template", "spec", "containers", 0))["OPSBOT_PUBLIC_URL"]; ok {
				t.Error("OPSBOT_PUBLIC_URL set without web.publicURL")
			}
		}},
		{name: "with an existing secret", sets: []string{"existingSecret=opsbot-tokens", "web.publicURL=https://opsbot.example.com"},
			check: func(t *testing.T, objs []k8sObject) {
				env := envByName(get(one(t, objs, "Deployment"), "spec", "template", "spec", "containers", 0))
				if got := str(env["OPSBOT_LINK_KEY"], "valueFrom", "secretKeyRef", "name"); got != "opsbot-tokens" {
					t.Errorf("OPSBOT_LINK_KEY from %q, want opsbot-tokens", got)
				}
			}},
		{name: "no key", sets: append(slices.Clone(baseSets), "web.publicURL=https://opsbot.example.com"), wantErr: "web.publicURL needs web.linkKey"},
		{name: "short key", sets: append(slices.Clone(baseSets), "web.publicURL=https://opsbot.example.com", "web.linkKey=short"), wantErr: "at least 32 bytes"},
		{name: "same port as metrics", sets: append(slices.Clone(on), "web.port=8080"), wantErr: "web.port must differ from service.port"},
		{name: "not a URL", sets: append(slices.Clone(baseSets), "web.publicURL=opsbot.example.com"), wantErr: "publicURL"},
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
