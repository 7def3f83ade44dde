package interpolate

import (
	"strings"
	"testing"
)

type values struct {
	props map[string]string
	src   map[string]map[string]string
	kw    map[string]string
}

func (v values) Property(name string) (string, bool) { s, ok := v.props[name]; return s, ok }
func (v values) Keyword(name string) (string, bool)  { s, ok := v.kw[name]; return s, ok }
func (v values) Source(cb, attr string) (string, bool) {
	ss, ok := v.src[cb]
	if !ok {
		return "", false
	}
	s, ok := ss[attr]
	return s, ok
}

var testValues = values{
	props: map[string]string{
		"buildername": `"app"`, "branch": `"main"`, "n": `3`, "zero": `0`, "empty": `""`,
		"no": `false`, "nil": `null`, "list": `["a","b"]`, "emptylist": `[]`, "obj": `{"k":1}`,
		"quote": `"say \"hi\""`,
	},
	src: map[string]map[string]string{
		"":    {"revision": "abc123", "branch": "main", "project": ""},
		"lib": {"revision": "def456", "branch": ""},
	},
	kw: map[string]string{"result": "failure", "blank": ""},
}

// TestRender follows Buildbot 3.7's Interpolate (process/properties.py,
// _Lookup): ':-' defaults only when unset, ':~' also when false-ish.
func TestRender(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"buildbot/%(prop:buildername)s", "buildbot/app"},
		{"plain text", "plain text"},
		{"", ""},
		{"100%% done", "100% done"},
		{"b-%(prop:n)s", "b-3"},
		{"%(prop:missing)s", ""},
		{"%(prop:nil)s", ""},
		{"%(prop:list)s", `["a","b"]`},
		{"%(prop:quote)s", `say "hi"`},
		{"%(prop:no)s", "false"},
		// :- default only when unset
		{"%(prop:missing:-dflt)s", "dflt"},
		{"%(prop:empty:-dflt)s", ""},
		{"%(prop:branch:-dflt)s", "main"},
		{"%(prop:nil:-dflt)s", ""},
		// :~ default when unset or false-ish
		{"%(prop:missing:~x)s", "x"},
		{"%(prop:empty:~x)s", "x"},
		{"%(prop:zero:~x)s", "x"},
		{"%(prop:no:~x)s", "x"},
		{"%(prop:nil:~x)s", "x"},
		{"%(prop:emptylist:~x)s", "x"},
		{"%(prop:n:~x)s", "3"},
		{"%(prop:obj:~x)s", `{"k":1}`},
		// :+ when set
		{"%(prop:branch:+set)s", "set"},
		{"%(prop:empty:+set)s", "set"},
		{"%(prop:missing:+set)s", ""},
		// ternaries
		{"%(prop:branch:?|yes|no)s", "yes"},
		{"%(prop:empty:?|yes|no)s", "yes"},
		{"%(prop:missing:?|yes|no)s", "no"},
		{"%(prop:empty:#?|yes|no)s", "no"},
		{"%(prop:branch:#?|yes|no)s", "yes"},
		{"%(prop:branch:?:a|b:c)s", "a|b"},
		{"%(prop:missing:?|a|b|c)s", "b|c"},
		// nested templates in defaults
		{"%(prop:missing:-%(prop:branch)s)s", "main"},
		{"%(prop:missing:-x%(prop:other:-y)sz)s", "xyz"},
		{"%(prop:branch:?|(%(prop:n)s)|none)s", "(3)"},
		// source stamps and keywords
		{"%(src::revision)s", "abc123"},
		{"%(src:lib:revision)s", "def456"},
		{"%(src:nope:revision:-none)s", "none"},
		{"%(src::bogus:-none)s", "none"},
		{"%(src::project:-none)s", ""},
		{"%(src::project:~none)s", "none"},
		{"%(src:lib:branch:~trunk)s", "trunk"},
		{"%(kw:result)s", "failure"},
		{"%(kw:missing:-x)s", "x"},
		{"%(kw:blank:~x)s", "x"},
		{"%(prop:branch)s/%(prop:n)s", "main/3"},
	} {
		tpl, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := tpl.Render(testValues); got != c.want {
			t.Errorf("%q → %q, want %q", c.in, got, c.want)
		}
		if tpl.String() != c.in {
			t.Errorf("String() = %q, want %q", tpl.String(), c.in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		in     string
		offset int
		reason string
	}{
		{"50% done", 2, "lone '%'"},
		{"trailing %", 9, "lone '%'"},
		{"%(prop:x)d", 9, "expected 's'"},
		{"%(prop:x", 1, "unbalanced"},
		{"%(x)s", 0, "no selector"},
		{"%(nope:x)s", 0, "unknown selector"},
		{"%(secret:tok)s", 0, "not supported"},
		{"%(worker:os)s", 0, "not supported"},
		{"%(prop:a b)s", 7, "must be letters"},
		{"%(src:revision)s", 6, "needs a codebase"},
		{"%(prop:x:*y)s", 9, "unknown operator"},
		{"%(prop:x:)s", 9, "unknown operator"},
		{"%(prop:x:?(a)(b))s", 10, "delimiter other than"},
		{"%(prop:x:?|a)s", 10, "two parts"},
		{"%(prop:x:-50% off)s", 12, "lone '%'"},
		{"%(prop:x:?|ok|50% off)s", 16, "lone '%'"},
		{strings.Repeat("%(prop:x:-", 20) + strings.Repeat(")s", 20), 0, "nested"},
	} {
		_, err := Parse(c.in)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("Parse(%q) = %v, want an *Error", c.in, err)
			continue
		}
		if !strings.Contains(e.Reason, c.reason) || (c.offset != 0 && e.Offset != c.offset) || e.Template != c.in {
			t.Errorf("Parse(%q) = %v (offset %d), want offset %d and %q", c.in, e, e.Offset, c.offset, c.reason)
		}
	}
}

func TestNilTemplate(t *testing.T) {
	var tpl *Template
	if tpl.Render(testValues) != "" || tpl.String() != "" {
		t.Fatal("a nil template renders non-empty")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"buildbot/%(prop:buildername)s", "%(src::revision:-x)s", "%(prop:a:?|%(kw:b)s|c)s",
		"%%", "%(prop:x:#?|(a)|b)s", "%(", "%(prop:x:-%(prop:y:-%(prop:z)s)s)s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := Parse(s)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Offset < 0 || e.Offset > len(s) {
				t.Fatalf("Parse(%q): bad error %v", s, err)
			}
			return
		}
		tpl.Render(testValues)
		if !strings.Contains(s, "%") && tpl.Render(testValues) != s {
			t.Fatalf("plain text %q rendered as %q", s, tpl.Render(testValues))
		}
	})
}
