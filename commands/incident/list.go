package incident

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// cmdList answers /incident list [--all|drills]: open incidents, drills
// left out unless asked for.
func (s *Service) cmdList(ctx context.Context, req *bot.Request) (bot.Response, error) {
	showReal, showDrills := true, false
	switch args := req.Args()[1:]; {
	case len(args) == 0:
	case len(args) == 1 && (strings.EqualFold(args[0], "--all") || strings.EqualFold(args[0], "all")):
		showDrills = true
	case len(args) == 1 && (strings.EqualFold(args[0], "drills") || strings.EqualFold(args[0], "--drills")):
		showReal, showDrills = false, true
	default:
		return bot.Response{}, bot.Userf("%s", s.usage("list"))
	}
	incs, err := s.store.Open(ctx)
	if err != nil {
		bot.Logger(ctx).Error("open incidents not listed", zap.Error(err))
		return bot.Response{}, errReadDown
	}
	now := s.clock.Now()
	var b strings.Builder
	n, hidden := 0, 0
	for _, inc := range incs {
		if !inc.Open() {
			continue
		}
		if (inc.Drill && !showDrills) || (!inc.Drill && !showReal) {
			if inc.Drill {
				hidden++
			}
			continue
		}
		n++
		mark := ""
		if inc.Drill {
			mark = drillBanner + " "
		}
		fmt.Fprintf(&b, "%s%s *%s* %s — %s, %s, commander %s, open %s — %s\n", mark, sevEmoji(inc.Severity), inc.Key,
			quote(&inc).Title, inc.Severity, inc.Status, bot.MentionUser(inc.Commander),
			humanDuration(now.Sub(inc.DeclaredAt)), bot.MentionChannel(inc.Channel))
	}
	what := "open incident(s)"
	switch {
	case !showReal:
		what = "drill(s) running"
	case showDrills:
		what = "open incident(s) and drill(s)"
	}
	note := ""
	if hidden > 0 {
		note = fmt.Sprintf("%d drill(s) running; `/incident list --all` shows them too.", hidden)
	}
	if n == 0 {
		if !showReal {
			return bot.Reply("No drills running."), nil
		}
		return bot.Reply(strings.TrimSpace("No open incidents. :tada: " + note)), nil
	}
	return bot.Response{Message: bot.Message{Title: fmt.Sprintf("%d %s", n, what),
		Text: strings.TrimRight(b.String(), "\n"), Context: note}}, nil
}
