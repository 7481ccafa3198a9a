package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
)

// repoRoot is the module root: this package lives in deploy/.
const repoRoot = ".."

// clientMethods maps a slack-go *slack.Client method (without its Context
// suffix) to the Slack Web API methods it calls. A method the code calls that
// is missing here fails TestManifestScopesMatchCode, so a new call cannot ship
// without its scope being decided.
var clientMethods = map[string][]string{
	"AddPin":                         {"pins.add"},
	"AddReaction":                    {"reactions.add"},
	"ArchiveConversation":            {"conversations.archive"},
	"AuthTest":                       {"auth.test"},
	"CreateConversation":             {"conversations.create"},
	"CreateUserGroup":                {"usergroups.create"},
	"DeleteMessage":                  {"chat.delete"},
	"GetBotInfo":                     {"bots.info"},
	"GetConversationHistory":         {"conversations.history"},
	"GetConversationInfo":            {"conversations.info"},
	"GetConversationReplies":         {"conversations.replies"},
	"GetConversations":               {"conversations.list"},
	"GetConversationsForUser":        {"users.conversations"},
	"GetPermalink":                   {"chat.getPermalink"},
	"GetReactions":                   {"reactions.get"},
	"GetTeamInfo":                    {"team.info"},
	"GetUploadURLExternal":           {"files.getUploadURLExternal"},
	"CompleteUploadExternal":         {"files.completeUploadExternal"},
	"GetUserByEmail":                 {"users.lookupByEmail"},
	"GetUserGroupMembers":            {"usergroups.users.list"},
	"GetUserGroups":                  {"usergroups.list"},
	"GetUserInfo":                    {"users.info"},
	"GetUserProfile":                 {"users.profile.get"},
	"GetUsers":                       {"users.list"},
	"GetUsersInConversation":         {"conversations.members"},
	"GetUsersInfo":                   {"users.info"},
	"InviteUsersToConversation":      {"conversations.invite"},
	"JoinConversation":               {"conversations.join"},
	"KickUserFromConversation":       {"conversations.kick"},
	"LeaveConversation":              {"conversations.leave"},
	"ListPins":                       {"pins.list"},
	"OpenConversation":               {"conversations.open"},
	"OpenView":                       {"views.open"},
	"PostEphemeral":                  {"chat.postEphemeral"},
	"PostMessage":                    {"chat.postMessage"},
	"PostMessageWithResponse":        {"chat.postMessage"},
	"PublishView":                    {"views.publish"},
	"PushView":                       {"views.push"},
	"RemovePin":                      {"pins.remove"},
	"RemoveReaction":                 {"reactions.remove"},
	"RenameConversation":             {"conversations.rename"},
	"ScheduleMessage":                {"chat.scheduleMessage"},
	"SendMessage":                    {"chat.postMessage"},
	"SetPurposeOfConversation":       {"conversations.setPurpose"},
	"SetTopicOfConversation":         {"conversations.setTopic"},
	"StartSocketMode":                {"apps.connections.open"},
	"UnArchiveConversation":          {"conversations.unarchive"},
	"UpdateMessage":                  {"chat.update"},
	"UpdateUserGroup":                {"usergroups.update"},
	"UpdateUserGroupMembers":         {"usergroups.users.update"},
	"UpdateUserGroupMembersList":     {"usergroups.users.update"},
	"UpdateView":                     {"views.update"},
	"UploadFile":                     {"files.getUploadURLExternal", "files.completeUploadExternal"},
	"DisableUserGroup":               {"usergroups.disable"},
	"EnableUserGroup":                {"usergroups.enable"},
	"GetEmoji":                       {"emoji.list"},
	"DeleteFile":                     {"files.delete"},
	"GetFileInfo":                    {"files.info"},
	"ForceInviteUsersToConversation": {"conversations.invite"},
}

// apiScopes maps a Web API method to the bot token scope it needs, as Slack's
// method reference lists it. Where Slack accepts either a broad or a granular
// scope (conversations.invite takes channels:manage or
// channels:write.invites), the one listed is the one the manifest requests:
// channels:manage is needed anyway to create and archive incident channels.
// An empty list means the method needs no scope (or, for
// apps.connections.open, only the app-level token's connections:write).
var apiScopes = map[string][]string{
	"apps.connections.open":        {},
	"auth.test":                    {},
	"bots.info":                    {"users:read"},
	"chat.delete":                  {"chat:write"},
	"chat.getPermalink":            {},
	"chat.postEphemeral":           {"chat:write"},
	"chat.postMessage":             {"chat:write"},
	"chat.scheduleMessage":         {"chat:write"},
	"chat.update":                  {"chat:write"},
	"conversations.archive":        {"channels:manage"},
	"conversations.create":         {"channels:manage"},
	"conversations.history":        {"channels:history"},
	"conversations.info":           {"channels:read"},
	"conversations.invite":         {"channels:manage"},
	"conversations.join":           {"channels:join"},
	"conversations.kick":           {"channels:manage"},
	"conversations.leave":          {"channels:manage"},
	"conversations.list":           {"channels:read"},
	"conversations.members":        {"channels:read"},
	"conversations.open":           {"im:write"},
	"conversations.rename":         {"channels:manage"},
	"conversations.replies":        {"channels:history"},
	"conversations.setPurpose":     {"channels:manage"},
	"conversations.setTopic":       {"channels:manage"},
	"conversations.unarchive":      {"channels:manage"},
	"emoji.list":                   {"emoji:read"},
	"files.completeUploadExternal": {"files:write"},
	"files.delete":                 {"files:write"},
	"files.getUploadURLExternal":   {"files:write"},
	"files.info":                   {"files:read"},
	"files.upload":                 {"files:write"},
	"pins.add":                     {"pins:write"},
	"pins.list":                    {"pins:read"},
	"pins.remove":                  {"pins:write"},
	"reactions.add":                {"reactions:write"},
	"reactions.get":                {"reactions:read"},
	"reactions.remove":             {"reactions:write"},
	"team.info":                    {"team:read"},
	"usergroups.create":            {"usergroups:write"},
	"usergroups.disable":           {"usergroups:write"},
	"usergroups.enable":            {"usergroups:write"},
	"usergroups.list":              {"usergroups:read"},
	"usergroups.update":            {"usergroups:write"},
	"usergroups.users.list":        {"usergroups:read"},
	"usergroups.users.update":      {"usergroups:write"},
	"users.conversations":          {"channels:read"},
	"users.info":                   {"users:read"},
	"users.list":                   {"users:read"},
	"users.lookupByEmail":          {"users:read.email"},
	"users.profile.get":            {"users.profile:read"},
	"views.open":                   {},
	"views.publish":                {},
	"views.push":                   {},
	"views.update":                 {},
}

// scopeNeeds lists scopes Slack grants only together with another one.
var scopeNeeds = map[string][]string{
	// Slack: "This scope must be requested at the same time as users:read."
	"users:read.email": {"users:read"},
}

// eventSubscriptions maps the bot's event types (bot.Event* constants, by
// constant name) to the manifest's bot_events subscription that delivers them
// and the scope that subscription needs. message_changed and message_deleted
// are subtypes of the message.channels event.
var eventSubscriptions = map[string]struct{ event, scope string }{
	"EventReactionAdded":   {"reaction_added", "reactions:read"},
	"EventReactionRemoved": {"reaction_removed", "reactions:read"},
	"EventMessageChanged":  {"message.channels", "channels:history"},
	"EventMessageDeleted":  {"message.channels", "channels:history"},
	"EventMemberJoined":    {"member_joined_channel", "channels:read"},
}

// nonAPIClientMethods are *slack.Client methods that make no Web API call.
var nonAPIClientMethods = map[string]bool{"Debug": true, "Debugf": true, "Debugln": true}

// wantSlashCommands are the slash commands SPEC.md §2 and §6 define.
var wantSlashCommands = []string{"/alerts", "/incident", "/oncall", "/runbook"}

func loadManifest(t *testing.T) *AppManifest {
	t.Helper()
	m, err := ParseManifest(Manifest())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goFile is one parsed non-test Go file of the module.
type goFile struct {
	path string
	// rel is the path relative to the walked root, with slashes.
	rel  string
	ast  *ast.File
	fset *token.FileSet
}

// moduleFiles parses every non-test Go file of the module outside deploy/,
// testdata and fakes (fake servers and test helpers are not the product, and
// their calls need no scope in a real workspace).
func moduleFiles(t *testing.T) []goFile { return parseGoFiles(t, repoRoot) }

func parseGoFiles(t *testing.T, root string) []goFile {
	t.Helper()
	var files []goFile
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "deploy" ||
				strings.HasPrefix(name, "fake") || strings.HasSuffix(name, "test") || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			// Another engineer may be mid-edit; the compiler reports it.
			t.Logf("skipping %s: %v", path, err)
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, goFile{path: path, rel: filepath.ToSlash(rel), ast: f, fset: fset})
		return nil
	})
	if err != nil {
		t.Fatalf("walk module: %v", err)
	}
	return files
}

func importsSlack(f *ast.File) bool {
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p == "github.com/slack-go/slack" || strings.HasPrefix(p, "github.com/slack-go/slack/") {
			return true
		}
	}
	return false
}

// slackCalls finds calls of *slack.Client methods in the packages that use
// slack-go, keyed by method name (Context suffix removed) with one position
// each, for messages. Without type information a call is recognised by its
// method name; slack-go's names (PostMessageContext, AddPinContext, …) are
// specific enough for that.
func slackCalls(t *testing.T, files []goFile) map[string]string {
	t.Helper()
	clientType := reflect.TypeOf(&slack.Client{})
	isClientMethod := map[string]bool{}
	for i := 0; i < clientType.NumMethod(); i++ {
		isClientMethod[clientType.Method(i).Name] = true
	}
	slackDirs := map[string]bool{}
	for _, f := range files {
		if importsSlack(f.ast) {
			slackDirs[filepath.Dir(f.path)] = true
		}
	}
	calls := map[string]string{}
	for _, f := range files {
		if !slackDirs[filepath.Dir(f.path)] {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !isClientMethod[sel.Sel.Name] || nonAPIClientMethods[sel.Sel.Name] {
				return true
			}
			// slack.New(...) and other package functions are not calls
			// on a client.
			if id, ok := sel.X.(*ast.Ident); ok && (id.Name == "slack" || id.Name == "socketmode") {
				return true
			}
			base := strings.TrimSuffix(sel.Sel.Name, "Context")
			if _, seen := calls[base]; !seen {
				calls[base] = f.fset.Position(sel.Pos()).String()
			}
			return true
		})
	}
	return calls
}

// botEventRefs finds the bot.Event* constants the Slack integration
// translates Slack events into: those are the events the bot handles.
func botEventRefs(files []goFile) map[string]string {
	refs := map[string]string{}
	for _, f := range files {
		if !isSlackIntegration(f) {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "bot" && strings.HasPrefix(sel.Sel.Name, "Event") {
				if _, known := eventSubscriptions[sel.Sel.Name]; known {
					refs[sel.Sel.Name] = f.fset.Position(sel.Pos()).String()
				}
			}
			return true
		})
	}
	return refs
}

// registeredFamilies finds slash command families declared as bot.Family
// values with a literal Name.
func registeredFamilies(files []goFile) []string {
	var names []string
	for _, f := range files {
		ast.Inspect(f.ast, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Family" {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "bot" {
				return true
			}
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
					if v, ok := kv.Value.(*ast.BasicLit); ok && v.Kind == token.STRING {
						s, _ := strconv.Unquote(v.Value)
						names = append(names, s)
					}
				}
			}
			return true
		})
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func isSlackIntegration(f goFile) bool { return strings.HasPrefix(f.rel, "integrations/slack/") }

func slackIntegrationExists(files []goFile) bool {
	return slices.ContainsFunc(files, isSlackIntegration)
}

// neededScopes derives the bot scopes from the calls and events found.
// why[scope] says what needs it, for failure messages; problems lists calls
// the tables do not know, each of which must fail the test.
func neededScopes(calls, events map[string]string) (why map[string]string, problems []string) {
	why = map[string]string{"commands": "the slash commands"}
	for _, method := range slices.Sorted(maps.Keys(calls)) {
		apis, ok := clientMethods[method]
		if !ok {
			problems = append(problems, fmt.Sprintf("the code calls slack-go method %s (%s), which is not in clientMethods: add it to the method→scope table in deploy/deploy_test.go and decide its scope", method, calls[method]))
			continue
		}
		for _, api := range apis {
			scopes, ok := apiScopes[api]
			if !ok {
				problems = append(problems, fmt.Sprintf("Web API method %s (called by %s) is not in apiScopes: add it to the method→scope table", api, method))
				continue
			}
			for _, s := range scopes {
				if _, seen := why[s]; !seen {
					why[s] = method + " → " + api + " at " + calls[method]
				}
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(events)) {
		sub := eventSubscriptions[c]
		if _, seen := why[sub.scope]; !seen {
			why[sub.scope] = "event " + sub.event + " (bot." + c + " at " + events[c] + ")"
		}
	}
	return why, problems
}

func TestManifestSettings(t *testing.T) {
	m := loadManifest(t)
	tests := []struct {
		name      string
		got, want any
	}{
		{"socket mode on", m.Settings.SocketModeEnabled, true},
		{"interactivity on", m.Settings.Interactivity.IsEnabled, true},
		{"no interactivity request URL in socket mode", m.Settings.Interactivity.RequestURL, ""},
		{"no events request URL in socket mode", m.Settings.EventSubscriptions.RequestURL, ""},
		{"no user scopes", len(m.OAuthConfig.Scopes.User), 0},
		{"bot user named", m.Features.BotUser.DisplayName != "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestManifestSlashCommands(t *testing.T) {
	m := loadManifest(t)
	var got []string
	for _, c := range m.Features.SlashCommands {
		got = append(got, c.Command)
		t.Run(c.Command, func(t *testing.T) {
			if !c.ShouldEscape {
				t.Errorf("should_escape = false, want true: the commands parse <@U123|name> mentions")
			}
			if c.URL != "" {
				t.Errorf("url = %q, want none in Socket Mode", c.URL)
			}
			if c.Description == "" || c.UsageHint == "" {
				t.Errorf("description %q, usage_hint %q: want both set", c.Description, c.UsageHint)
			}
		})
	}
	slices.Sort(got)
	if diff := cmp.Diff(wantSlashCommands, got); diff != "" {
		t.Errorf("slash commands (-spec +manifest):\n%s", diff)
	}
	if fams := registeredFamilies(moduleFiles(t)); len(fams) > 0 {
		if diff := cmp.Diff(fams, got); diff != "" {
			t.Errorf("slash commands (-registered in code +manifest):\n%s", diff)
		}
	} else {
		t.Log("no bot.Family registrations found in the code yet; checked against SPEC.md only")
	}
}

func TestMethodTablesConsistent(t *testing.T) {
	// Every table entry must point at something real, or the table rots.
	clientType := reflect.TypeOf(&slack.Client{})
	for _, name := range slices.Sorted(maps.Keys(clientMethods)) {
		t.Run(name, func(t *testing.T) {
			_, plain := clientType.MethodByName(name)
			_, withCtx := clientType.MethodByName(name + "Context")
			if !plain && !withCtx {
				t.Errorf("slack-go *Client has no method %s or %sContext", name, name)
			}
			for _, api := range clientMethods[name] {
				if _, ok := apiScopes[api]; !ok {
					t.Errorf("Web API method %s has no entry in apiScopes", api)
				}
			}
		})
	}
}

func TestManifestScopesMatchCode(t *testing.T) {
	files := moduleFiles(t)
	calls := slackCalls(t, files)
	events := botEventRefs(files)
	t.Logf("slack-go methods called: %v", slices.Sorted(maps.Keys(calls)))
	t.Logf("bot events handled by integrations/slack: %v", slices.Sorted(maps.Keys(events)))
	why, problems := neededScopes(calls, events)
	for _, p := range problems {
		t.Error(p)
	}

	m := loadManifest(t)
	granted := map[string]bool{}
	for _, s := range m.OAuthConfig.Scopes.Bot {
		if granted[s] {
			t.Errorf("scope %s listed twice in the manifest", s)
		}
		granted[s] = true
	}
	for s, needs := range scopeNeeds {
		if granted[s] {
			for _, n := range needs {
				if _, ok := why[n]; !ok {
					why[n] = "Slack grants " + s + " only with " + n
				}
			}
		}
	}

	t.Run("every needed scope is in the manifest", func(t *testing.T) {
		for _, s := range slices.Sorted(maps.Keys(why)) {
			if !granted[s] {
				t.Errorf("manifest lacks bot scope %s, needed by %s", s, why[s])
			}
		}
	})
	t.Run("no unused scope in the manifest", func(t *testing.T) {
		if !slackIntegrationExists(files) {
			t.Skip("integrations/slack has no code yet; unused scopes are checked once it does")
		}
		for _, s := range m.OAuthConfig.Scopes.Bot {
			if _, ok := why[s]; !ok {
				t.Errorf("manifest requests bot scope %s, but no code needs it: remove it (least privilege)", s)
			}
		}
	})
	t.Run("bot events match handled events", func(t *testing.T) {
		if !slackIntegrationExists(files) {
			t.Skip("integrations/slack has no code yet")
		}
		want := map[string]bool{}
		for c := range events {
			want[eventSubscriptions[c].event] = true
		}
		got := slices.Clone(m.Settings.EventSubscriptions.BotEvents)
		slices.Sort(got)
		if diff := cmp.Diff(slices.Sorted(maps.Keys(want)), got); diff != "" {
			t.Errorf("bot_events (-handled by integrations/slack +manifest):\n%s", diff)
		}
	})
}

// webAPIMethodName matches a Slack Web API method name in a string literal.
var webAPIMethodName = regexp.MustCompile(`^(apps|auth|bots|chat|conversations|emoji|files|pins|reactions|team|usergroups|users|views)\.[a-zA-Z]+(\.[a-zA-Z]+)?$`)

// TestNamedAPIMethodsHaveScopes catches Web API methods the code names as
// strings (raw HTTP calls, or labels of calls for logs and metrics): each
// must be in apiScopes and its scope in the manifest.
func TestNamedAPIMethodsHaveScopes(t *testing.T) {
	files := moduleFiles(t)
	m := loadManifest(t)
	for _, f := range files {
		if !isSlackIntegration(f) {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !webAPIMethodName.MatchString(s) {
				return true
			}
			scopes, known := apiScopes[s]
			if !known {
				t.Errorf("%s names Web API method %s, which apiScopes does not know: add it to the method→scope table", f.fset.Position(lit.Pos()), s)
				return true
			}
			for _, sc := range scopes {
				if !slices.Contains(m.OAuthConfig.Scopes.Bot, sc) {
					t.Errorf("%s names Web API method %s, whose scope %s is not in the manifest", f.fset.Position(lit.Pos()), s, sc)
				}
			}
			return true
		})
	}
}

func TestNeededScopesFlagsUnknownMethod(t *testing.T) {
	// The drift guard itself: a call the table does not know must fail.
	tests := []struct {
		name         string
		calls        map[string]string
		events       map[string]string
		wantProblems int
		wantScopes   []string
	}{
		{"known methods", map[string]string{"PostMessage": "a.go:1", "AddPin": "a.go:2"}, nil, 0, []string{"chat:write", "commands", "pins:write"}},
		{"upload needs files:write", map[string]string{"UploadFile": "a.go:1"}, nil, 0, []string{"commands", "files:write"}},
		{"no-scope methods", map[string]string{"OpenView": "a.go:1", "AuthTest": "a.go:2"}, nil, 0, []string{"commands"}},
		{"events need their scopes", nil, map[string]string{"EventReactionAdded": "a.go:3", "EventMessageChanged": "a.go:4"}, 0, []string{"channels:history", "commands", "reactions:read"}},
		{"unknown method", map[string]string{"SetUserPhoto": "a.go:9"}, nil, 1, []string{"commands"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, problems := neededScopes(tt.calls, tt.events)
			if len(problems) != tt.wantProblems {
				t.Errorf("got %d problems %q, want %d", len(problems), problems, tt.wantProblems)
			}
			if diff := cmp.Diff(tt.wantScopes, slices.Sorted(maps.Keys(why))); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScannerFindsCalls(t *testing.T) {
	files := parseGoFiles(t, "testdata/scan")
	calls := slackCalls(t, files)
	wantCalls := []string{"AddPin", "AuthTest", "PostMessage", "UpdateUserGroupMembers"}
	if diff := cmp.Diff(wantCalls, slices.Sorted(maps.Keys(calls))); diff != "" {
		t.Errorf("calls found (-want +got):\n%s", diff)
	}
	wantEvents := []string{"EventMessageDeleted", "EventReactionAdded"}
	if diff := cmp.Diff(wantEvents, slices.Sorted(maps.Keys(botEventRefs(files)))); diff != "" {
		t.Errorf("events found (-want +got):\n%s", diff)
	}
	if got, want := registeredFamilies(files), []string{"/incident"}; !slices.Equal(got, want) {
		t.Errorf("families: got %v, want %v", got, want)
	}
	if !slackIntegrationExists(files) {
		t.Errorf("slackIntegrationExists = false, want true")
	}
}
