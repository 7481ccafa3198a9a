package oncall

import "github.com/opsbot/opsbot/bot"

// The parse steps of /oncall (bot.Command.Parse): arity, the schedule's
// name, the person mentioned. They read only what was typed and the
// configuration, so their refusals reach the person in the command's ack;
// times are read by the handlers, in the typist's Slack time zone.

// coverArgs is `/oncall cover SCHEDULE FROM UNTIL [REASON…]`.
type coverArgs struct {
	sc bot.ScheduleConfig
	// rest is FROM UNTIL [REASON…], as words.
	rest []string
}

func (s *Service) parseCover(in bot.Args) (coverArgs, error) {
	args := in.Words
	usage := "Usage: `/oncall cover SCHEDULE FROM UNTIL [REASON…]`, e.g. `/oncall cover payments tomorrow 18:00 +4h dentist`."
	if len(args) < 3 {
		return coverArgs{}, bot.Userf("%s Schedules: %s.", usage, s.names())
	}
	if err := s.overridesReady(); err != nil {
		return coverArgs{}, err
	}
	sc, ok := s.find(args[0])
	if !ok {
		return coverArgs{}, bot.Userf("I do not follow a schedule called `%s`. Schedules: %s.", bot.Quote(args[0]), s.names())
	}
	if sc.HandoffChannel == "" {
		return coverArgs{}, bot.Userf("*%s* has no handoff channel (`handoff_channel` in the config), where cover requests are posted. Ask an admin for `/oncall override`.", sc.Name)
	}
	return coverArgs{sc: sc, rest: args[1:]}, nil
}

// overrideArgs is `/oncall override SCHEDULE @user FROM UNTIL`.
type overrideArgs struct {
	sc     bot.ScheduleConfig
	target string
	// rest is FROM UNTIL, as words.
	rest []string
}

func (s *Service) parseOverride(in bot.Args) (overrideArgs, error) {
	args := in.Words
	if len(args) < 4 {
		return overrideArgs{}, bot.Userf("Usage: `/oncall override SCHEDULE @user FROM UNTIL`, e.g. `/oncall override payments @bob now +4h`. Schedules: %s.", s.names())
	}
	if err := s.overridesReady(); err != nil {
		return overrideArgs{}, err
	}
	sc, ok := s.find(args[0])
	if !ok {
		return overrideArgs{}, bot.Userf("I do not follow a schedule called `%s`. Schedules: %s.", bot.Quote(args[0]), s.names())
	}
	target, err := bot.ParseUser(args[1])
	if err != nil {
		return overrideArgs{}, err
	}
	return overrideArgs{sc: sc, target: target, rest: args[2:]}, nil
}

// parseSchedule is `/oncall SCHEDULE`, the family's fallback.
func (s *Service) parseSchedule(in bot.Args) (bot.ScheduleConfig, error) {
	if len(in.Words) != 1 {
		return bot.ScheduleConfig{}, bot.Userf("Usage: `/oncall`, `/oncall SCHEDULE`, `/oncall me`, `/oncall cover …`, `/oncall override …` or `/oncall sync`. Schedules: %s.", s.names())
	}
	sc, ok := s.find(in.Words[0])
	if !ok {
		return bot.ScheduleConfig{}, bot.Userf("I do not follow a schedule called `%s`. Schedules: %s.", bot.Quote(in.Words[0]), s.names())
	}
	return sc, nil
}
