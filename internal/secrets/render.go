package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// refOpen starts a secret reference, Buildbot's Interpolate("%(secret:NAME)s").
const refOpen = "%(secret:"

// RenderOptions configures Render.
type RenderOptions struct {
	// Where says what is being rendered, for errors:
	// `step "deploy" of builder "app"`.
	Where string
	// Literal, when set, renders the text outside secret references (for
	// instance property interpolation), so that neither rendering ever sees
	// the other's output: a property whose value is "%(secret:x)s" stays
	// that text, and a secret's value is never interpolated.
	Literal func(string) string
}

// Render replaces each %(secret:NAME)s in tmpl with NAME's value from p and
// returns the values used, for the caller to redact. Any error (a
// malformed reference, a missing secret, a provider failing) says which
// name and o.Where, never a value. Nothing in Buildbot's other forms
// (%(secret:NAME:-default)s) is accepted: a secret has no default.
func Render(ctx context.Context, p Provider, tmpl string, o RenderOptions) (string, Values, error) {
	lit := o.Literal
	if lit == nil {
		lit = func(s string) string { return s }
	}
	var used Values
	var out strings.Builder
	err := scanRefs(tmpl, func(text string) {
		out.WriteString(lit(text))
	}, func(name string) error {
		v, err := p.Get(ctx, name)
		if nf, ok := errors.AsType[*NotFoundError](err); ok {
			withContext := *nf
			withContext.Context = o.Where
			return &withContext
		}
		if ts, ok := errors.AsType[*TooShortError](err); ok {
			withContext := *ts
			withContext.Context = o.Where
			return &withContext
		}
		if err != nil {
			return fmt.Errorf("secret %q%s: %w", name, where(o.Where), err)
		}
		used.Add(name, v)
		out.WriteString(v)
		return nil
	})
	if err != nil {
		if _, ok := errors.AsType[*syntaxError](err); ok {
			return "", Values{}, fmt.Errorf("%w%s", err, where(o.Where))
		}
		return "", Values{}, err
	}
	return out.String(), used, nil
}

// References returns the names tmpl refers to, in order, or the first
// malformed reference: for checking a config before anything is rendered.
func References(tmpl string) ([]string, error) {
	var names []string
	err := scanRefs(tmpl, func(string) {}, func(name string) error {
		names = append(names, name)
		return nil
	})
	return names, err
}

type syntaxError struct {
	ref    string
	offset int
	reason string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("bad secret reference %q at byte %d: %s", e.ref, e.offset, e.reason)
}

// scanRefs calls text for the text between references and ref for each
// reference's name, in order. "%%" is text (Python's escaped "%"), so
// "%%(secret:x)s" is not a reference; it goes to text unchanged.
func scanRefs(tmpl string, text func(string), ref func(string) error) error {
	lit, off := 0, 0 // text pending from lit; scanning at off
	for {
		i := strings.IndexByte(tmpl[off:], '%')
		if i < 0 {
			break
		}
		start := off + i
		if strings.HasPrefix(tmpl[start:], "%%") {
			off = start + 2
			continue
		}
		if !strings.HasPrefix(tmpl[start:], refOpen) {
			off = start + 1
			continue
		}
		rest := tmpl[start+len(refOpen):]
		j := strings.IndexByte(rest, ')')
		if j < 0 {
			return &syntaxError{ref: shorten(tmpl[start:]), offset: start, reason: `no closing ")s"`}
		}
		name, end := rest[:j], start+len(refOpen)+j+1
		r := tmpl[start:min(end+1, len(tmpl))]
		switch {
		case end >= len(tmpl) || tmpl[end] != 's':
			return &syntaxError{ref: r, offset: start, reason: `it must end with ")s"`}
		case name == "":
			return &syntaxError{ref: r, offset: start, reason: "empty name"}
		case strings.Contains(name, ":"):
			return &syntaxError{ref: r, offset: start, reason: "a secret has no default or condition (nothing may follow its name)"}
		case strings.ContainsAny(name, "(%"):
			return &syntaxError{ref: r, offset: start, reason: `a name cannot hold "(" or "%"`}
		}
		if start > lit {
			text(tmpl[lit:start])
		}
		if err := ref(name); err != nil {
			return err
		}
		lit, off = end+1, end+1
	}
	if lit < len(tmpl) {
		text(tmpl[lit:])
	}
	return nil
}

func where(w string) string {
	if w == "" {
		return ""
	}
	return " (" + w + ")"
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
