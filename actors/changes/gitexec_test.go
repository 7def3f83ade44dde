package changes

import "testing"

func TestWithoutPassword(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:s3cret@example.org/r.git": "https://user@example.org/r.git",
		"https://user@example.org/r.git":        "https://user@example.org/r.git",
		"https://example.org/r.git":             "https://example.org/r.git",
		"/srv/git/r.git":                        "/srv/git/r.git",
		"git@example.org:r.git":                 "git@example.org:r.git",
	} {
		if got := withoutPassword(in); got != want {
			t.Errorf("withoutPassword(%q) = %q, want %q", in, got, want)
		}
	}
}
