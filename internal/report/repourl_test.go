package report

import (
	"strings"
	"testing"
)

func TestParseRepoURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Repo
	}{
		{"https://github.com/buildbot/buildbot", Repo{Host: "github.com", Owner: "buildbot", Name: "buildbot"}},
		{"https://github.com/buildbot/buildbot.git", Repo{Host: "github.com", Owner: "buildbot", Name: "buildbot"}},
		{"https://github.com/buildbot/buildbot/", Repo{Host: "github.com", Owner: "buildbot", Name: "buildbot"}},
		{"http://github.example.org:8080/o/r.git", Repo{Host: "github.example.org", Port: 8080, Owner: "o", Name: "r"}},
		{"https://x-access-token:secret@github.com/o/r.git", Repo{Host: "github.com", Owner: "o", Name: "r"}},
		{"ssh://git@github.com/o/r.git", Repo{Host: "github.com", Owner: "o", Name: "r"}},
		{"ssh://git@gitlab.example.org:2222/group/sub/r.git", Repo{Host: "gitlab.example.org", Port: 2222, Owner: "group/sub", Name: "r"}},
		{"git://github.com/o/r", Repo{Host: "github.com", Owner: "o", Name: "r"}},
		{"git@github.com:o/r.git", Repo{Host: "github.com", Owner: "o", Name: "r"}},
		{"git@github.com:o/r", Repo{Host: "github.com", Owner: "o", Name: "r"}},
		{"github.com:o/r.git", Repo{Host: "github.com", Owner: "o", Name: "r"}},
		{"git@gitlab.com:group/sub/r.git", Repo{Host: "gitlab.com", Owner: "group/sub", Name: "r"}},
		{"git@host:2222/o/r.git", Repo{Host: "host", Port: 2222, Owner: "o", Name: "r"}},
		{"host/o/r", Repo{Host: "host", Owner: "o", Name: "r"}},
		{"https://github.com/o/my.repo.git", Repo{Host: "github.com", Owner: "o", Name: "my.repo"}},
	} {
		got, err := ParseRepoURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRepoURL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseRepoURLErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"https://github.com/repo", "no owner"},
		{"https://github.com/", "no owner"},
		{"/srv/git/app.git", "local path"},
		{"file:///srv/git/app.git", "local path"},
		{"./app", "local path"},
		{"ftp://host/o/r", `scheme "ftp"`},
		{"https://github.com/o//r", "empty, '.' or '..'"},
		{"https://github.com/../r", "empty, '.' or '..'"},
		{"git@github.com:o/.git", "no repository name"},
		{"https://github.com/o/r?x=1", "query"},
		{"https://github.com/o r/x", "spaces"},
		{"githubcom", "no path"},
		{"https:///o/r", "no host"},
		{"git@host:99999/o/r", "bad port"},
		{strings.Repeat("a", 3000), "longer than"},
	} {
		_, err := ParseRepoURL(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRepoURL(%q) = %v, want an error with %q", c.in, err, c.want)
		}
	}
	_, err := ParseRepoURL("https://user:hunter2@github.com/o")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@host/p?token=abc": "https://REDACTED@host/p?REDACTED",
		"https://host/p":                   "https://host/p",
		"git@host:o/r":                     "git@host:o/r",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRepoURL(f *testing.F) {
	for _, s := range []string{"https://github.com/o/r.git", "git@github.com:o/r.git", "ssh://git@h:22/g/s/r",
		"git@host:2222/o/r", "h/o/r", "https://u:p@h/o/r/", "a@b@c:d/e", ":/", "https://[::1]:80/o/r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRepoURL(s)
		if err != nil {
			return
		}
		if r.Host == "" || r.Name == "" || r.Owner == "" || strings.Contains(r.Name, "/") || r.Port < 0 || r.Port > 65535 {
			t.Fatalf("ParseRepoURL(%q) = %+v", s, r)
		}
		for _, seg := range strings.Split(r.Path(), "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("ParseRepoURL(%q) = %+v: bad segment", s, r)
			}
		}
		again, err := ParseRepoURL("ssh://" + r.Host + "/" + r.Path())
		if err == nil && (again.Owner != r.Owner || again.Name != strings.TrimSuffix(r.Name, ".git")) {
			t.Fatalf("round trip of %q: %+v, then %+v", s, r, again)
		}
	})
}
