package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	env := &Env{LookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"pw": "hunter2-value", "user": "deployer", "tricky": "%(prop:x)s"}[k]
		return v, ok
	}}
	props := func(s string) string { return strings.ReplaceAll(s, "%(prop:x)s", "PROP") }
	for _, tc := range []struct {
		tmpl    string
		literal func(string) string
		want    string
		used    string
		err     string
	}{
		{"no references", nil, "no references", "secrets[]", ""},
		{"-u %(secret:user)s -p %(secret:pw)s", nil, "-u deployer -p hunter2-value", "secrets[pw user]", ""},
		{"%(secret:pw)s%(secret:pw)s", nil, "hunter2-valuehunter2-value", "secrets[pw]", ""},
		{"%(prop:x)s %(secret:tricky)s", props, "PROP %(prop:x)s", "secrets[tricky]", ""},
		{"%%(secret:pw)s %%%(secret:pw)s 100%", nil, "%%(secret:pw)s %%hunter2-value 100%", "secrets[pw]", ""},
		{"x %(secret:nope)s", nil, "", "", `secret "nope" not found (step "deploy" of builder "app") in env *`},
		{"x %(secret:pw", nil, "", "", `bad secret reference "%(secret:pw" at byte 2: no closing ")s" (step "deploy" of builder "app")`},
		{"%(secret:pw)x", nil, "", "", `bad secret reference "%(secret:pw)x" at byte 0: it must end with ")s"`},
		{"%(secret:pw)", nil, "", "", `it must end with ")s"`},
		{"%(secret:)s", nil, "", "", "empty name"},
		{"%(secret:pw:-default)s", nil, "", "", "a secret has no default or condition"},
		{"%(secret:a(b)s", nil, "", "", `a name cannot hold "(" or "%"`},
	} {
		got, used, err := Render(context.Background(), env, tc.tmpl, RenderOptions{Where: `step "deploy" of builder "app"`, Literal: tc.literal})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Render(%q) error = %v, want %q", tc.tmpl, err, tc.err)
			}
			noLeak(t, err, "hunter2-value")
			continue
		}
		if err != nil || got != tc.want || used.String() != tc.used {
			t.Errorf("Render(%q) = %q, %v, %v; want %q, %s", tc.tmpl, got, used, err, tc.want, tc.used)
		}
	}
}

func TestRenderProviderError(t *testing.T) {
	_, _, err := Render(context.Background(), failing{}, "%(secret:pw)s", RenderOptions{Where: "worker w1"})
	if err == nil || err.Error() != `secret "pw" (worker w1): vault is sealed` || errors.Is(err, ErrNotFound) {
		t.Errorf("error = %v", err)
	}
}

func TestReferences(t *testing.T) {
	names, err := References("a %(secret:x)s b %(prop:y)s %(secret:z|k)s")
	if err != nil || strings.Join(names, ",") != "x,z|k" {
		t.Errorf("References = %q, %v", names, err)
	}
	if _, err := References("%(secret:x:+y)s"); err == nil {
		t.Error("References accepted a conditional")
	}
}

// FuzzRender: any template renders or fails with a syntax error, never a
// panic; Render and References agree; the names used are the names
// referenced; and with every value "V", each reference's text became one
// byte.
func FuzzRender(f *testing.F) {
	f.Add("-u %(secret:user)s -p %(secret:pw)s")
	f.Add("%%(secret:x)s %(secret:x:-d)s %(secret:")
	f.Add("%(prop:x)s %(secret:a|b)s%")
	f.Fuzz(func(t *testing.T, tmpl string) {
		env := &Env{LookupEnv: func(string) (string, bool) { return "V", true }}
		out, used, err := Render(context.Background(), env, tmpl, RenderOptions{})
		names, rerr := References(tmpl)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Render error %v, References error %v", err, rerr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "bad secret reference") {
				t.Fatalf("error %q", err)
			}
			return
		}
		want := len(tmpl)
		set := map[string]bool{}
		for _, n := range names {
			set[n] = true
			want -= len("%(secret:)s") + len(n) - 1
		}
		if len(out) != want || len(set) != used.Len() {
			t.Fatalf("Render(%q) = %q with %v; references %q", tmpl, out, used, names)
		}
		for n := range set {
			if _, ok := used.Value(n); !ok {
				t.Fatalf("name %q referenced but not used", n)
			}
		}
	})
}
