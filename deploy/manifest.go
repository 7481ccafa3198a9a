// Package deploy holds what it takes to run opsbot for real — the Slack app
// manifest, the container build, the Helm chart and the compose file — and
// exposes the manifest to the binary so that `opsbot doctor` can compare the
// scopes granted to an installed app with the ones the code needs.
//
// The tests in this package keep those artifacts honest: the manifest's scopes
// are checked against the Slack Web API methods the code calls, the
// Dockerfile's build against the documented build command, the compose file's
// Redis against persistence, and the rendered chart against its contract.
package deploy

import (
	_ "embed"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

//go:embed slack-app-manifest.yaml
var manifestYAML []byte

// Manifest returns the Slack app manifest shipped with this version, as YAML.
func Manifest() []byte { return slices.Clone(manifestYAML) }

// AppManifest is the part of a Slack app manifest that opsbot depends on.
type AppManifest struct {
	DisplayInformation struct {
		Name string `yaml:"name"`
	} `yaml:"display_information"`
	Features struct {
		BotUser struct {
			DisplayName string `yaml:"display_name"`
		} `yaml:"bot_user"`
		SlashCommands []SlashCommand `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot  []string `yaml:"bot"`
			User []string `yaml:"user"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			// RequestURL must stay empty in Socket Mode.
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		SocketModeEnabled bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

// SlashCommand is one slash command of the manifest.
type SlashCommand struct {
	Command     string `yaml:"command"`
	Description string `yaml:"description"`
	UsageHint   string `yaml:"usage_hint"`
	// ShouldEscape makes Slack send mentions as <@U123|name>, which is what
	// the commands parse: identity is always the ID.
	ShouldEscape bool   `yaml:"should_escape"`
	URL          string `yaml:"url"`
}

// ParseManifest decodes a Slack app manifest.
func ParseManifest(b []byte) (*AppManifest, error) {
	var m AppManifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse slack app manifest: %w", err)
	}
	return &m, nil
}

// BotScopes returns the bot token scopes the shipped manifest requests,
// sorted.
func BotScopes() []string {
	m, err := ParseManifest(manifestYAML)
	if err != nil {
		// The embedded manifest is checked by this package's tests, so a
		// parse error here is a build defect, not a runtime condition.
		panic(err)
	}
	out := slices.Clone(m.OAuthConfig.Scopes.Bot)
	slices.Sort(out)
	return out
}
