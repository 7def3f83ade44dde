package interpolate

import (
	"encoding/json"
	"strings"
)

// Values is what a template is rendered against.
type Values interface {
	// Property returns a property's value as JSON and whether it is set.
	Property(name string) (valueJSON string, ok bool)
	// Source returns a source stamp attribute of the codebase and whether
	// that codebase has the attribute (an empty value is still "has").
	Source(codebase, attr string) (string, bool)
	// Keyword returns a caller-supplied keyword and whether it is set.
	Keyword(name string) (string, bool)
}

// Render renders the template; a nil template renders "".
func (t *Template) Render(v Values) string {
	if t == nil {
		return ""
	}
	if len(t.parts) == 1 && t.parts[0].sel == "" {
		return t.parts[0].text
	}
	var b strings.Builder
	for i := range t.parts {
		t.parts[i].render(&b, v)
	}
	return b.String()
}

func (p *part) render(b *strings.Builder, v Values) {
	if p.sel == "" {
		b.WriteString(p.text)
		return
	}
	text, truthy, set := p.lookup(v)
	switch p.op {
	case '-':
		if !set {
			b.WriteString(p.no.Render(v))
			return
		}
	case '~':
		if !set || !truthy {
			b.WriteString(p.no.Render(v))
			return
		}
	case '+', '?':
		if set {
			b.WriteString(p.yes.Render(v))
		} else {
			b.WriteString(p.no.Render(v))
		}
		return
	case '#':
		if set && truthy {
			b.WriteString(p.yes.Render(v))
		} else {
			b.WriteString(p.no.Render(v))
		}
		return
	}
	b.WriteString(text)
}

// lookup returns the value as text, whether it is true-ish, and whether it is set.
func (p *part) lookup(v Values) (text string, truthy, set bool) {
	switch p.sel {
	case "prop":
		raw, ok := v.Property(p.key)
		if !ok {
			return "", false, false
		}
		text, truthy = jsonText(raw)
		return text, truthy, true
	case "src":
		s, ok := v.Source(p.codebase, p.key)
		return s, s != "", ok
	default:
		s, ok := v.Keyword(p.key)
		return s, s != "", ok
	}
}

// jsonText renders a JSON value as text and says whether Python would
// call it true: "", 0, false, null, [] and {} are false.
func jsonText(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	switch raw {
	case "", "null":
		return "", false
	case "false", "[]", "{}", `""`:
		return strings.Trim(raw, `"`), false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal([]byte(raw), &s) == nil {
			return s, s != ""
		}
		return raw, true
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		var f float64
		if json.Unmarshal([]byte(raw), &f) == nil {
			return raw, f != 0
		}
	}
	if raw[0] == '[' || raw[0] == '{' {
		var x any
		if json.Unmarshal([]byte(raw), &x) == nil {
			switch x := x.(type) {
			case []any:
				return raw, len(x) > 0
			case map[string]any:
				return raw, len(x) > 0
			}
		}
	}
	return raw, true
}
