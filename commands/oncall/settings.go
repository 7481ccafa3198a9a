package oncall

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
)

// settingsYAML is the `oncall:` section as written; unknown keys are
// collected so that a typo is an error with its line.
type settingsYAML struct {
	SyncInterval     time.Duration        `yaml:"sync_interval"`
	File             string               `yaml:"file"`
	Schedules        []yaml.Node          `yaml:"schedules"`
	AckReminderAfter time.Duration        `yaml:"ack_reminder_after"`
	TimeZone         string               `yaml:"timezone"`
	Lookahead        time.Duration        `yaml:"lookahead"`
	CoverMax         time.Duration        `yaml:"cover_max"`
	Unknown          map[string]yaml.Node `yaml:",inline"`
}

var scheduleKeys = map[string]bool{"id": true, "name": true, "handoff_channel": true, "usergroup": true, "levels": true}

// UnmarshalYAML decodes and validates the `oncall:` section, so that wiring
// only ever sees valid settings. Errors read `line N: oncall.key: what`.
func (s *Settings) UnmarshalYAML(node *yaml.Node) error {
	var raw settingsYAML
	if err := node.Decode(&raw); err != nil {
		return err
	}
	for k, v := range raw.Unknown {
		return fmt.Errorf("line %d: oncall: unknown key %q", v.Line, k)
	}
	out := Settings{SyncInterval: raw.SyncInterval, File: raw.File, AckReminderAfter: raw.AckReminderAfter,
		TimeZone: raw.TimeZone, Lookahead: raw.Lookahead, CoverMax: raw.CoverMax}
	for _, n := range raw.Schedules {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; !scheduleKeys[k.Value] {
					return fmt.Errorf("line %d: oncall.schedules: unknown key %q", k.Line, k.Value)
				}
			}
		}
		var sc bot.ScheduleConfig
		if err := n.Decode(&sc); err != nil {
			return fmt.Errorf("line %d: oncall.schedules: %w", n.Line, err)
		}
		out.Schedules = append(out.Schedules, sc)
	}
	if out.CoverMax < 0 || (out.CoverMax > 0 && out.CoverMax < time.Hour) {
		return fmt.Errorf("line %d: oncall.cover_max: %s: must be at least 1h (0 or absent means 14 days)", node.Line, out.CoverMax)
	}
	if out.Lookahead < 0 {
		return fmt.Errorf("line %d: oncall.lookahead: %s: must not be negative", node.Line, out.Lookahead)
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("line %d: %w", node.Line, err)
	}
	*s = out
	return nil
}
