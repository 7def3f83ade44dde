package report

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Repo is a hosted repository named by a git URL.
type Repo struct {
	Host string
	Port int // 0 when the URL names none
	// Owner is the user or organisation; for GitLab subgroups it has
	// slashes ("group/subgroup").
	Owner string
	Name  string // without ".git"
}

// Path is "owner/name".
func (r Repo) Path() string { return r.Owner + "/" + r.Name }

// maxRepoURL bounds what ParseRepoURL reads.
const maxRepoURL = 2048

// ParseRepoURL reads owner and name from a repository URL in the forms
// Buildbot's giturlparse reads:
//
//	https://host/owner/repo(.git)    http://, git://, ssh://[user@]host[:port]/owner/repo
//	[user@]host:owner/repo(.git)     scp-like, as git@github.com:owner/repo.git
//	[user@]host:port/owner/repo      Buildbot's scp-like form with a port
//	host/owner/repo
//
// Owner may have several segments (GitLab groups). A local path, a URL
// with no owner, empty, "." or ".." segments, spaces or control characters
// is an error saying which.
func ParseRepoURL(s string) (Repo, error) {
	r, err := parseRepoURL(s)
	if err != nil {
		return Repo{}, fmt.Errorf("repository URL %q: %w", RedactURL(s), err)
	}
	return r, nil
}

func parseRepoURL(s string) (Repo, error) {
	switch {
	case s == "":
		return Repo{}, fmt.Errorf("empty")
	case len(s) > maxRepoURL:
		return Repo{}, fmt.Errorf("longer than %d bytes", maxRepoURL)
	case strings.IndexFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0:
		return Repo{}, fmt.Errorf("has spaces or control characters")
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "file:") || strings.HasPrefix(s, "."):
		return Repo{}, fmt.Errorf("a local path names no hosted repository")
	}
	var r Repo
	var path string
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https", "ssh", "git", "git+ssh":
		default:
			return Repo{}, fmt.Errorf("scheme %q is not http, https, ssh or git", scheme)
		}
		u, err := url.Parse(s)
		if err != nil {
			return Repo{}, fmt.Errorf("%w", unwrapURLError(err))
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return Repo{}, fmt.Errorf("has a query or fragment")
		}
		r.Host = u.Hostname()
		if p := u.Port(); p != "" {
			if r.Port, err = strconv.Atoi(p); err != nil || r.Port > 65535 {
				return Repo{}, fmt.Errorf("bad port %q", p)
			}
		}
		path = u.Path
	} else {
		// [user@]host(:[port/]|/)path, the user being everything up to the
		// last '@' before the path.
		rest := s
		if at := strings.LastIndexByte(rest[:pathStart(rest)], '@'); at >= 0 {
			rest = rest[at+1:]
		}
		i := strings.IndexAny(rest, ":/")
		if i < 0 {
			return Repo{}, fmt.Errorf("no path after the host")
		}
		r.Host, path = rest[:i], rest[i+1:]
		if rest[i] == ':' {
			if port, after, ok := strings.Cut(path, "/"); ok && port != "" && strings.Trim(port, "0123456789") == "" {
				n, err := strconv.Atoi(port)
				if err != nil || n > 65535 {
					return Repo{}, fmt.Errorf("bad port %q", port)
				}
				r.Port, path = n, after
			}
		}
	}
	if r.Host == "" {
		return Repo{}, fmt.Errorf("no host")
	}
	if strings.ContainsAny(r.Host, "/@?#%") {
		return Repo{}, fmt.Errorf("bad host %q", r.Host)
	}
	path = strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	segs := strings.Split(path, "/")
	if len(segs) < 2 {
		return Repo{}, fmt.Errorf("no owner: want host/owner/repo")
	}
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return Repo{}, fmt.Errorf("empty, '.' or '..' path segment")
		}
	}
	r.Name = strings.TrimSuffix(segs[len(segs)-1], ".git")
	if r.Name == "" {
		return Repo{}, fmt.Errorf("no repository name before .git")
	}
	r.Owner = strings.Join(segs[:len(segs)-1], "/")
	return r, nil
}

// pathStart is the index of the first '/', where a user part has ended.
func pathStart(s string) int {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return i
	}
	return len(s)
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// RedactURL shortens s to 80 bytes and hides the user information of a
// scheme://user:password@host URL and any query, for errors and logs.
func RedactURL(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i] + "?REDACTED"
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
			s = scheme + "://REDACTED@" + rest[at+1:]
		}
	}
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:80], "") + "…"
	}
	return s
}
