// Package interpolate is Buildbot 3.7's Interpolate: templates such as
// "buildbot/%(prop:buildername)s" rendered against a build's properties,
// its source stamps and caller-supplied keywords. It is pure: Parse checks a
// template once (at config time) and reports what is wrong and where;
// Render never fails.
//
// Substitutions, as in Buildbot:
//
//	%(prop:NAME)s        the property, "" when unset
//	%(src:CODEBASE:ATTR)s a source stamp attribute (branch, revision,
//	                     repository, codebase, project); CODEBASE may be empty
//	%(kw:NAME)s          a keyword the caller supplies (each user documents its own)
//	%%                   a literal percent sign
//
// Each selector may be followed by one operator:
//
//	:-DEFAULT  DEFAULT when unset (a set but empty value stays empty)
//	:~DEFAULT  DEFAULT when unset or false-ish ("", 0, false, null, [], {})
//	:+TEXT     TEXT when set, else ""
//	:?|T|F     T when set, else F (any delimiter but '(')
//	:#?|T|F    T when set and true-ish, else F
//
// DEFAULT, TEXT, T and F are templates themselves, so they may nest
// substitutions; parentheses inside %(...) must balance, as in Python.
// Property values are JSON: a JSON string renders as its text, null as "",
// anything else as its JSON text (Buildbot would print a Python repr).
// %(secret:…)s and %(worker:…)s are not supported: secrets never enter
// rendered reports, and reports carry no worker info.
package interpolate

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Template is a parsed template; the zero value renders "".
type Template struct {
	src   string
	parts []part
}

// part is literal text (sel == "") or one substitution.
type part struct {
	text string // literal text

	sel      string // "prop", "src" or "kw"
	codebase string // for src
	key      string // property name, source stamp attribute or keyword
	op       byte   // '-', '~', '+', '?', '#'
	yes, no  *Template
}

// identifier is Buildbot's rule for names in a substitution.
var identifier = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w._-]*$`) })

// Error says what is wrong with a template and at which byte offset.
type Error struct {
	Template string
	Offset   int
	Reason   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("interpolation %q at offset %d: %s", e.Template, e.Offset, e.Reason)
}

// MustParse is Parse for templates written in code; it panics on an error.
func MustParse(s string) *Template {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

// Parse checks s and returns its template, or an *Error.
func Parse(s string) (*Template, error) {
	t, err := parse(s, 0)
	if err != nil {
		err.Template = s
		return nil, err
	}
	return t, nil
}

// maxDepth bounds nested defaults so a hostile template cannot recurse deeply.
const maxDepth = 16

func parse(s string, depth int) (*Template, *Error) {
	if depth > maxDepth {
		return nil, &Error{Reason: fmt.Sprintf("substitutions nested more than %d deep", maxDepth)}
	}
	t := &Template{src: s}
	var lit strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return nil, &Error{Offset: i, Reason: `a lone '%': write %% for a percent sign, or %(prop:NAME)s`}
		}
		end, err := closing(s, i+1)
		if err != nil {
			return nil, err
		}
		if end+1 >= len(s) || s[end+1] != 's' {
			return nil, &Error{Offset: end + 1, Reason: "expected 's' after the closing ')'"}
		}
		p, err := parseSubstitution(s[i+2:end], depth)
		if err != nil {
			err.Offset += i + 2
			return nil, err
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{text: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, p)
		i = end + 2
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{text: lit.String()})
	}
	return t, nil
}

// closing returns the index of the ')' matching the '(' at open.
func closing(s string, open int) (int, *Error) {
	n := 0
	for j := open; j < len(s); j++ {
		switch s[j] {
		case '(':
			n++
		case ')':
			n--
			if n == 0 {
				return j, nil
			}
		}
	}
	return 0, &Error{Offset: open, Reason: "unbalanced '(': no closing ')'"}
}

// parseSubstitution parses the inside of %(...)s; offsets are relative to it.
func parseSubstitution(inner string, depth int) (part, *Error) {
	sel, arg, ok := strings.Cut(inner, ":")
	if !ok {
		return part{}, &Error{Reason: fmt.Sprintf("substitution %q has no selector (prop:, src: or kw:)", inner)}
	}
	p := part{sel: sel}
	var repl string
	var hasRepl bool
	switch sel {
	case "prop", "kw":
		p.key, repl, hasRepl = strings.Cut(arg, ":")
		if !identifier().MatchString(p.key) {
			return part{}, &Error{Offset: len(sel) + 1, Reason: fmt.Sprintf("name %q must be letters, digits, '.', '_' or '-'", p.key)}
		}
	case "src":
		var rest string
		p.codebase, rest, ok = strings.Cut(arg, ":")
		if !ok {
			return part{}, &Error{Offset: len(sel) + 1, Reason: "src needs a codebase and an attribute: %(src:CODEBASE:ATTR)s"}
		}
		p.key, repl, hasRepl = strings.Cut(rest, ":")
		if !identifier().MatchString(p.codebase) || !identifier().MatchString(p.key) {
			return part{}, &Error{Offset: len(sel) + 1, Reason: fmt.Sprintf("codebase %q and attribute %q must be letters, digits, '.', '_' or '-'", p.codebase, p.key)}
		}
	case "secret", "worker":
		return part{}, &Error{Reason: fmt.Sprintf("selector %q is not supported here", sel)}
	default:
		return part{}, &Error{Reason: fmt.Sprintf("unknown selector %q (want prop, src or kw)", sel)}
	}
	if !hasRepl {
		p.op, p.no = '-', &Template{}
		return p, nil
	}
	replAt := len(inner) - len(repl)
	var err *Error
	switch {
	case strings.HasPrefix(repl, "-"), strings.HasPrefix(repl, "~"), strings.HasPrefix(repl, "+"):
		p.op = repl[0]
		var t *Template
		if t, err = parse(repl[1:], depth+1); err == nil {
			if p.op == '+' {
				p.yes, p.no = t, &Template{}
			} else {
				p.no = t
			}
		}
		err = shift(err, replAt+1)
	case strings.HasPrefix(repl, "?"), strings.HasPrefix(repl, "#?"):
		p.op = repl[0]
		body := repl[1:]
		if p.op == '#' {
			body = repl[2:]
		}
		p.yes, p.no, err = ternary(body, depth)
		err = shift(err, replAt+len(repl)-len(body))
	default:
		return part{}, &Error{Offset: replAt, Reason: fmt.Sprintf("unknown operator after ':' in %q (want -, ~, +, ? or #?)", repl)}
	}
	return p, err
}

// ternary parses "|T|F": a delimiter, then T and F split at the first
// delimiter outside parentheses.
func ternary(body string, depth int) (yes, no *Template, err *Error) {
	if body == "" || body[0] == '(' {
		return nil, nil, &Error{Reason: "a ternary needs a delimiter other than '(' (e.g. ?|yes|no)"}
	}
	delim, rest := body[0], body[1:]
	n, split := 0, -1
	for j := 0; j < len(rest) && split < 0; j++ {
		switch rest[j] {
		case '(':
			n++
		case ')':
			n--
		case delim:
			if n == 0 {
				split = j
			}
		}
	}
	if split < 0 {
		return nil, nil, &Error{Reason: fmt.Sprintf("ternary %q needs two parts separated by %q", body, delim)}
	}
	if yes, err = parse(rest[:split], depth+1); err != nil {
		return nil, nil, shift(err, 1)
	}
	if no, err = parse(rest[split+1:], depth+1); err != nil {
		return nil, nil, shift(err, split+2)
	}
	return yes, no, nil
}

func shift(err *Error, by int) *Error {
	if err != nil {
		err.Offset += by
	}
	return err
}

// String returns the template's source text.
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.src
}
