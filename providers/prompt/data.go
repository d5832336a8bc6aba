package prompt

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mailgun/raymond/v2"
)

// Data is what a stage prompt is rendered with: Bonsai's template
// variables as far as Switchboard knows them.
type Data struct {
	// Agent is the prompt of the conversation's agent ({{agent}}).
	Agent string
	// UserInput is the user's new text ({{userInput}}); empty for the
	// opening message of a generate_response stage.
	UserInput string
	// UserProfile is what is known about the sender ({{userProfile}}):
	// see Profile.
	UserProfile map[string]any
	// Vars are the conversation's stage variables ({{vars}}). Switchboard
	// keeps none, so they are empty; the key exists so that Bonsai prompts
	// guarding with exists/hasItems render their fallback.
	Vars map[string]any
	// Consts are the project's constants ({{consts}}); Switchboard
	// projects have none yet, so they are empty.
	Consts map[string]any
	// Now is the current time; Location the project's timezone (nil: the
	// project has none, so UTC, and project.timezone is null).
	Now      time.Time
	Location *time.Location
}

// Profile is the userProfile of a sender: address (as Twilio spells it,
// e.g. "+15551234567" or "whatsapp:+15551234567"), channel ("sms" or
// "whatsapp") and, when the sender has one (WhatsApp), name, its profile
// name — the same fields the users API shows in a user's profile.
func Profile(address, channel, name string) map[string]any {
	p := map[string]any{"address": address, "channel": channel}
	if name != "" {
		p["name"] = name
	}
	return p
}

// context is the template context: Bonsai's variable names, every string
// marked safe so that nothing is HTML-escaped.
func (d *Data) context(withTime bool) object {
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	tz := loc.String()
	var projectTZ any // Bonsai's project.timezone: null when not configured
	if d.Location != nil {
		projectTZ = tz
	}
	c := map[string]any{
		"agent":       d.Agent,
		"userInput":   d.UserInput,
		"userProfile": orEmpty(d.UserProfile),
		"vars":        orEmpty(d.Vars),
		"consts":      orEmpty(d.Consts),
		"project":     map[string]any{"timezone": projectTZ, "languageCode": nil, "language": nil},
	}
	if withTime {
		c["time"] = TimeContext(now.In(loc))
	}
	return safeValue(c).(object)
}

// object is a map of the template context: {{consts}} renders it as JSON
// (as Bonsai's helperMissing does), not as Go's map[…] text.
type object map[string]any

// String is the JSON text of o.
func (o object) String() string {
	s, err := jsonText(map[string]any(o), "")
	if err != nil {
		return ""
	}
	return s
}

// jsonText is JSON.stringify's text of v: no HTML escaping of <, > and &.
func jsonText(v any, indent string) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// safeValue copies v with every string turned into a raymond.SafeString.
func safeValue(v any) any {
	switch v := v.(type) {
	case string:
		return raymond.SafeString(v)
	case map[string]any:
		out := make(object, len(v))
		for k, x := range v {
			out[k] = safeValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = safeValue(x)
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = safeValue(x)
		}
		return out
	}
	return v
}

// TimeContext is Bonsai's {{time}} object for the moment t, in t's
// location: the current moment's fields, the next occurrence of each
// weekday (today if today is that day), a 14-day calendar and the anchor
// sentence.
func TimeContext(t time.Time) map[string]any {
	offset := t.Format("-07:00")
	m := map[string]any{
		"iso":            t.Format("2006-01-02T15:04:05.000-07:00"),
		"timestamp":      t.UnixMilli(),
		"date":           t.Format("2006-01-02"),
		"time":           t.Format("15:04:05"),
		"dateTime":       t.Format("2006-01-02 15:04:05"),
		"year":           t.Format("2006"),
		"month":          t.Format("01"),
		"day":            t.Format("02"),
		"hour":           t.Format("15"),
		"minute":         t.Format("04"),
		"second":         t.Format("05"),
		"monthName":      t.Format("January"),
		"monthNameShort": t.Format("Jan"),
		"dayOfWeek":      t.Format("Monday"),
		"dayOfWeekShort": t.Format("Mon"),
		"timezone":       t.Location().String(),
		"offset":         offset,
	}
	today := time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, t.Location())
	for i := range 7 {
		d := today.AddDate(0, 0, i)
		m["next"+d.Weekday().String()] = d.Format("2006-01-02")
	}
	cal := make([]any, 14)
	for i := range cal {
		d := today.AddDate(0, 0, i)
		cal[i] = map[string]any{
			"date": d.Format("2006-01-02"), "dayName": d.Format("Monday"), "dayNameShort": d.Format("Mon"),
			"month": d.Format("January"), "dayOfMonth": d.Day(), "isToday": i == 0,
		}
	}
	m["calendar"] = cal
	m["anchor"] = anchor(t, today, offset)
	return m
}

// anchor is Bonsai's time.anchor sentence, e.g. "Today is Friday, 27
// February 2026 (Europe/Warsaw, UTC+01:00). This week (Mon–Sun): 23 Feb–1
// Mar. Next week: 2 Mar–8 Mar. Next Mon: 2 Mar, Tue: 3 Mar, …".
func anchor(t, today time.Time, offset string) string {
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	short := func(d time.Time) string { return fmt.Sprintf("%d %s", d.Day(), d.Format("Jan")) }
	s := fmt.Sprintf("Today is %s, %d %s %d (%s, UTC%s). This week (Mon–Sun): %s–%s. Next week: %s–%s. Next",
		t.Format("Monday"), t.Day(), t.Format("January"), t.Year(), t.Location().String(), offset,
		short(monday), short(monday.AddDate(0, 0, 6)), short(monday.AddDate(0, 0, 7)), short(monday.AddDate(0, 0, 13)))
	for i := range 7 {
		d := monday.AddDate(0, 0, 7+i)
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf(" %s: %s", d.Format("Mon"), short(d))
	}
	return s + "."
}
