// Package oncallfile is an on-call provider that reads rotations from a YAML
// file instead of PagerDuty. Console mode uses it, and so do teams without
// PagerDuty: each schedule has one rotation per escalation level (people
// taking turns of a fixed length from a start time, in a time zone) and
// overrides that replace whoever the rotation puts on call for a while.
//
// Turn lengths written in days ("1d", "7d") are calendar days in the
// schedule's time zone, so a daily handoff at 09:00 Europe/Berlin stays at
// 09:00 local time across daylight-saving changes (that turn lasts 23 or 25
// hours). Lengths in hours or minutes ("12h") are exact durations.
package oncallfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
)

// File is the YAML document.
type File struct {
	Schedules []Schedule `yaml:"schedules"`
}

// Schedule is one on-call schedule.
type Schedule struct {
	// ID is what the config's oncall.schedules[].id refers to.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// TimeZone is an IANA zone name; start and override times without an
	// offset are read in it. Default UTC.
	TimeZone  string     `yaml:"time_zone"`
	Rotations []Rotation `yaml:"rotations"`
	Overrides []Override `yaml:"overrides"`
}

// Rotation puts People on call in turn at one escalation level.
type Rotation struct {
	// Level is the escalation level (default 1).
	Level int `yaml:"level"`
	// Start is when the first person's first turn begins: "2026-03-02 09:00"
	// (in the schedule's zone) or RFC 3339 with an offset.
	Start string `yaml:"start"`
	// Shift is the turn length: "1d", "7d" (calendar days), "12h", "90m".
	Shift  string   `yaml:"shift"`
	People []Person `yaml:"people"`
}

// Person is someone in a rotation or an override.
type Person struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
}

// Override puts Person on call at Level (default 1) for [Start, End) instead
// of whoever the rotation says.
type Override struct {
	Level  int    `yaml:"level"`
	Start  string `yaml:"start"`
	End    string `yaml:"end"`
	Person Person `yaml:"person"`
}

// Provider answers on-call questions from a parsed file, with the overrides
// made from chat (WithOverrides) applied on top. It is immutable and safe
// for concurrent use.
type Provider struct {
	schedules map[string]*schedule
	order     []string
	// store holds overrides made from chat; nil means the file's only.
	store OverrideStore
}

var _ bot.OnCallProvider = (*Provider)(nil)

type schedule struct {
	id, name  string
	loc       *time.Location
	rotations []rotation
	overrides []override
}

type rotation struct {
	level  int
	start  time.Time
	days   int           // calendar days per turn, or 0
	length time.Duration // exact turn length when days is 0
	people []bot.Person
}

type override struct {
	level      int
	start, end time.Time
	person     bot.Person
}

// Load reads and validates the file at path.
func Load(path string) (*Provider, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read on-call file %q: %w", path, err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("on-call file %s: %w", path, err)
	}
	return p, nil
}

// Parse validates a YAML document. Errors name the schedule and field at
// fault, so `opsbot validate` can point at them.
func Parse(data []byte) (*Provider, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	p := &Provider{schedules: map[string]*schedule{}}
	var errs []error
	for i, s := range f.Schedules {
		sc, err := compile(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedules[%d] (%s): %w", i, s.ID, err))
			continue
		}
		if _, dup := p.schedules[sc.id]; dup {
			errs = append(errs, fmt.Errorf("schedules[%d]: duplicate id %q", i, sc.id))
			continue
		}
		p.schedules[sc.id] = sc
		p.order = append(p.order, sc.id)
	}
	if len(f.Schedules) == 0 {
		errs = append(errs, errors.New("no schedules"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Schedules lists the schedule IDs and names in file order, for
// configuration checks and console mode's defaults.
func (p *Provider) Schedules() []bot.ScheduleConfig {
	out := make([]bot.ScheduleConfig, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, bot.ScheduleConfig{ID: id, Name: p.schedules[id].name})
	}
	return out
}

func compile(s Schedule) (*schedule, error) {
	if s.ID == "" {
		return nil, errors.New("id is required")
	}
	sc := &schedule{id: s.ID, name: s.Name, loc: time.UTC}
	if sc.name == "" {
		sc.name = s.ID
	}
	if s.TimeZone != "" {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("time_zone %q: unknown zone", s.TimeZone)
		}
		sc.loc = loc
	}
	if len(s.Rotations) == 0 {
		return nil, errors.New("at least one rotation is required")
	}
	for i, r := range s.Rotations {
		rot := rotation{level: r.Level}
		if rot.level == 0 {
			rot.level = 1
		}
		if rot.level < 0 {
			return nil, fmt.Errorf("rotations[%d].level %d: must be 1 or more", i, r.Level)
		}
		start, err := parseTime(r.Start, sc.loc)
		if err != nil {
			return nil, fmt.Errorf("rotations[%d].start: %w", i, err)
		}
		rot.start = start
		rot.days, rot.length, err = parseShift(r.Shift)
		if err != nil {
			return nil, fmt.Errorf("rotations[%d].shift: %w", i, err)
		}
		if len(r.People) == 0 {
			return nil, fmt.Errorf("rotations[%d].people: at least one person is required", i)
		}
		for j, pp := range r.People {
			bp, err := person(pp)
			if err != nil {
				return nil, fmt.Errorf("rotations[%d].people[%d]: %w", i, j, err)
			}
			rot.people = append(rot.people, bp)
		}
		sc.rotations = append(sc.rotations, rot)
	}
	for i, o := range s.Overrides {
		ov := override{level: o.Level}
		if ov.level == 0 {
			ov.level = 1
		}
		var err error
		if ov.start, err = parseTime(o.Start, sc.loc); err != nil {
			return nil, fmt.Errorf("overrides[%d].start: %w", i, err)
		}
		if ov.end, err = parseTime(o.End, sc.loc); err != nil {
			return nil, fmt.Errorf("overrides[%d].end: %w", i, err)
		}
		if !ov.end.After(ov.start) {
			return nil, fmt.Errorf("overrides[%d]: end must be after start", i)
		}
		if ov.person, err = person(o.Person); err != nil {
			return nil, fmt.Errorf("overrides[%d].person: %w", i, err)
		}
		sc.overrides = append(sc.overrides, ov)
	}
	return sc, nil
}

func person(p Person) (bot.Person, error) {
	email := strings.TrimSpace(p.Email)
	if email == "" || !strings.Contains(email, "@") {
		return bot.Person{}, fmt.Errorf("email %q: a valid address is required to find the person in Slack", p.Email)
	}
	name := strings.TrimSpace(p.Name)
	if name == "" {
		name = email
	}
	return bot.Person{Name: name, Email: email, ProviderID: strings.ToLower(email)}, nil
}

var localLayouts = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("required")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want \"2006-01-02 15:04\" (schedule time zone) or RFC 3339", s)
}

func parseShift(s string) (days int, d time.Duration, err error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, 0, fmt.Errorf("%q: want a whole number of days such as 1d or 7d", s)
		}
		return days, 0, nil
	}
	d, err = time.ParseDuration(s)
	if err != nil || d < time.Minute {
		return 0, 0, fmt.Errorf("%q: want a length such as 1d, 7d, 12h (at least 1m)", s)
	}
	return 0, d, nil
}

// Shifts implements bot.OnCallProvider.
func (p *Provider) Shifts(ctx context.Context, scheduleID string, from, to time.Time) ([]bot.Shift, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc, ok := p.schedules[scheduleID]
	if !ok {
		return nil, fmt.Errorf("on-call file schedule %q: %w", scheduleID, bot.ErrNotFound)
	}
	if !to.After(from) {
		return nil, nil
	}
	from, to = from.UTC(), to.UTC()
	turns := make([][]bot.Shift, len(sc.rotations))
	wide0, wide1 := from, to
	for i, r := range sc.rotations {
		turns[i] = r.turns(sc, from, to)
		if n := len(turns[i]); n > 0 {
			wide0, wide1 = minTime(wide0, turns[i][0].Start), maxTime(wide1, turns[i][n-1].End)
		}
	}
	ovs, err := p.overridesOf(ctx, sc, wide0, wide1)
	if err != nil {
		return nil, err
	}
	var out []bot.Shift
	for i, r := range sc.rotations {
		// Overrides apply to whole turns, not only to the part inside the
		// window, so that the turns returned carry their true bounds.
		for _, s := range applyOverrides(sc.id, turns[i], ovs, r.level) {
			if s.Start.Before(to) && s.End.After(from) {
				out = append(out, s)
			}
		}
	}
	// Overrides at a level no rotation covers still put someone on call.
	for _, o := range ovs {
		if !sc.hasLevel(o.level) && o.start.Before(to) && o.end.After(from) {
			out = append(out, bot.Shift{Schedule: sc.id, Level: o.level, Person: o.person, Start: o.start, End: o.end})
		}
	}
	bot.SortShifts(out)
	return out, nil
}

func (sc *schedule) hasLevel(level int) bool {
	for _, r := range sc.rotations {
		if r.level == level {
			return true
		}
	}
	return false
}

// boundary returns the start of turn n (which may be negative).
func (r rotation) boundary(sc *schedule, n int) time.Time {
	if r.days > 0 {
		return r.start.In(sc.loc).AddDate(0, 0, n*r.days).UTC()
	}
	return r.start.Add(time.Duration(n) * r.length)
}

// turnAt returns the index of the turn containing t.
func (r rotation) turnAt(sc *schedule, t time.Time) int {
	approx := r.length
	if r.days > 0 {
		approx = time.Duration(r.days) * 24 * time.Hour
	}
	n := int(t.Sub(r.start) / approx)
	// Calendar days are 23 to 25 hours long, so the estimate can be off by
	// one turn near a boundary; walk to the exact one.
	for r.boundary(sc, n).After(t) {
		n--
	}
	for !r.boundary(sc, n+1).After(t) {
		n++
	}
	return n
}

// turns lists the rotation's turns overlapping [from, to). Before the
// rotation's start nobody is on call.
func (r rotation) turns(sc *schedule, from, to time.Time) []bot.Shift {
	if !r.start.Before(to) {
		return nil
	}
	n := 0
	if from.After(r.start) {
		n = r.turnAt(sc, from)
	}
	var out []bot.Shift
	for {
		start, end := r.boundary(sc, n), r.boundary(sc, n+1)
		if !start.Before(to) {
			return out
		}
		idx := n % len(r.people)
		if idx < 0 {
			idx += len(r.people)
		}
		out = append(out, bot.Shift{Schedule: sc.id, Level: r.level, Person: r.people[idx], Start: start, End: end})
		n++
	}
}

// applyOverrides cuts the overridden intervals out of base and puts the
// overrides in their place.
func applyOverrides(scheduleID string, base []bot.Shift, ovs []override, level int) []bot.Shift {
	if len(base) == 0 {
		return nil
	}
	first, last := base[0].Start, base[len(base)-1].End
	out := base
	for _, o := range ovs {
		if o.level != level || !o.start.Before(last) || !o.end.After(first) {
			continue
		}
		var next []bot.Shift
		for _, s := range out {
			if !o.start.Before(s.End) || !o.end.After(s.Start) {
				next = append(next, s)
				continue
			}
			if s.Start.Before(o.start) {
				left := s
				left.End = o.start
				next = append(next, left)
			}
			if o.end.Before(s.End) {
				right := s
				right.Start = o.end
				next = append(next, right)
			}
		}
		next = append(next, bot.Shift{Schedule: scheduleID, Level: level, Person: o.person, Start: o.start, End: o.end})
		out = next
		bot.SortShifts(out)
	}
	return out
}
