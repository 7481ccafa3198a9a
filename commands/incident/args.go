package incident

import (
	"slices"
	"strings"

	"github.com/opsbot/opsbot/bot"
)

// The parse steps of the /incident subcommands (bot.Command.Parse). They
// read only what was typed and the settings, never the store or Slack, so
// their refusals reach the person in the ack of the command; the handlers
// receive what they return.

// declareArgs is `/incident declare [--drill] [sevN] TITLE…`.
type declareArgs struct {
	sev   bot.Severity
	title string
	drill bool
}

func (s *Service) parseDeclare(in bot.Args) (declareArgs, error) {
	args, drill, err := cutDrillFlag(in.Words)
	if err != nil {
		return declareArgs{}, err
	}
	sev := bot.Sev3
	if len(args) > 0 {
		if p, ok := bot.ParseSeverity(args[0]); ok {
			sev, args = p, args[1:]
		} else if looksLikeSeverity(args[0]) {
			return declareArgs{}, bot.Userf("Unknown severity `%s`: use sev1, sev2, sev3 or sev4.", bot.Quote(args[0]))
		}
	}
	title := strings.Join(args, " ")
	if err := checkTitle(title); err != nil {
		return declareArgs{}, bot.Userf("%s\n%s", err.Error(), s.usage("declare"))
	}
	return declareArgs{sev: sev, title: title, drill: drill}, nil
}

// parseCommander is `/incident commander @user`: the user's ID.
func (s *Service) parseCommander(in bot.Args) (string, error) {
	if len(in.Words) != 1 {
		return "", bot.Userf("Name one person. %s", s.usage("commander"))
	}
	return bot.ParseUser(in.Words[0])
}

// roleArgs is `/incident role ROLE @user`.
type roleArgs struct {
	role bot.Role
	user string
}

func (s *Service) parseRoleArgs(in bot.Args) (roleArgs, error) {
	if len(in.Words) != 2 {
		return roleArgs{}, bot.Userf("Name a role and one person. %s", s.usage("role"))
	}
	role, ok := s.parseRole(in.Words[0])
	if !ok {
		return roleArgs{}, bot.Userf("Unknown role `%s`: use one of %s.", bot.Quote(in.Words[0]),
			strings.Join(s.set.RoleNames(), ", "))
	}
	user, err := bot.ParseUser(in.Words[1])
	if err != nil {
		return roleArgs{}, err
	}
	return roleArgs{role: role, user: user}, nil
}

func (s *Service) parseSeverityArg(in bot.Args) (bot.Severity, error) {
	if len(in.Words) != 1 {
		return "", bot.Userf("Name one severity. %s", s.usage("sev"))
	}
	sev, ok := bot.ParseSeverity(in.Words[0])
	if !ok {
		return "", bot.Userf("Unknown severity `%s`: use sev1, sev2, sev3 or sev4.", bot.Quote(in.Words[0]))
	}
	return sev, nil
}

func (s *Service) parseStatusArg(in bot.Args) (bot.Status, error) {
	if len(in.Words) != 1 {
		return "", bot.Userf("Name one status. %s", s.usage("status"))
	}
	st, ok := bot.ParseStatus(in.Words[0])
	if !ok {
		return "", bot.Userf("Unknown status `%s`: use investigating, identified, monitoring or resolved.", bot.Quote(in.Words[0]))
	}
	return st, nil
}

// parseUpdate and parseNote return the text as typed.
func (s *Service) parseUpdate(in bot.Args) (string, error) {
	return in.Text, s.checkText(in.Text, "update", s.usage("update"))
}

func (s *Service) parseNote(in bot.Args) (string, error) {
	return in.Text, s.checkText(in.Text, "note", s.usage("note"))
}

// parseResolve returns the optional resolution summary.
func (s *Service) parseResolve(in bot.Args) (string, error) {
	return in.Text, s.checkSummary(in.Text)
}

// parseExport returns the format, Markdown by default.
func (s *Service) parseExport(in bot.Args) (string, error) {
	switch len(in.Words) {
	case 0:
		return FormatMarkdown, nil
	case 1:
	default:
		return "", bot.Userf("%s", s.usage("export"))
	}
	format := strings.ToLower(in.Words[0])
	if format == "markdown" {
		format = FormatMarkdown
	}
	if format != FormatMarkdown && format != FormatJSON {
		return "", bot.Userf("Unknown format `%s`: use md or json.", bot.Quote(in.Words[0]))
	}
	return format, nil
}

// pageArgs is `/incident page SERVICE [MESSAGE…]`.
type pageArgs struct {
	service string
	message string
	// unchecked is set when paging is not configured: the words are then
	// checked by the handler, after it has seen whether the channel runs a
	// drill (which pages nobody, and needs no PagerDuty) or says paging is
	// not configured, as it did before there was a parse step.
	unchecked bool
	in        bot.Args
}

func (s *Service) parsePage(in bot.Args) (pageArgs, error) {
	a := pageArgs{unchecked: true, in: in}
	if s.pager == nil {
		return a, nil
	}
	return s.checkPage(a)
}

// checkPage checks the service and the message, the same for a real page
// and a drill's.
func (s *Service) checkPage(a pageArgs) (pageArgs, error) {
	if !a.unchecked {
		return a, nil
	}
	in := a.in
	if len(in.Words) == 0 {
		return pageArgs{}, bot.Userf("Name a service. %s%s", s.usage("page"), s.servicesHint())
	}
	service := strings.ToLower(in.Words[0])
	if len(s.set.PageServices) > 0 && !slices.Contains(s.set.PageServices, service) {
		return pageArgs{}, bot.Userf("Unknown service `%s`.%s", bot.Quote(in.Words[0]), s.servicesHint())
	}
	message := ""
	if len(in.Words) > 1 {
		message = strings.TrimSpace(strings.TrimPrefix(in.Text, in.Words[0]))
	}
	if err := s.checkTextOptional(message); err != nil {
		return pageArgs{}, err
	}
	return pageArgs{service: service, message: message}, nil
}
