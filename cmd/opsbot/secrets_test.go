package main

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
)

// TestSecretValuesCoversEveryCredential sets every credential field of the
// configuration to a distinct value and checks that all of them, and
// nothing else, are handed to the runbook redactor: a credential added
// later as a config.Secret is covered without a change here.
func TestSecretValuesCoversEveryCredential(t *testing.T) {
	var cfg config.Config
	var want []string
	v := reflect.ValueOf(&cfg).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Type() == reflect.TypeOf(config.Secret("")) {
			val := fmt.Sprintf("secret-%s-%d", v.Type().Field(i).Name, i)
			f.SetString(val)
			want = append(want, val)
		}
	}
	if len(want) < 4 {
		t.Fatalf("found %d credential fields, want at least the Slack, Redis and PagerDuty ones", len(want))
	}
	cfg.SlackAPIURL, cfg.RunbooksDir = "https://slack.example/api/", "/etc/opsbot/runbooks"
	cfg.File.Admins = []string{"U0ALICE"}
	got := secretValues(cfg)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want exactly %q", got, want)
	}
}
