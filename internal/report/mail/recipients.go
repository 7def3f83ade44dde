package mail

import (
	"encoding/json"
	"net/mail"
	"slices"
	"strings"

	"github.com/buildmaster/buildmaster/internal/report"
)

// address parses an address as Buildbot's MailNotifier accepts it: "a@b.c"
// or "Name <a@b.c>", with a dotted domain; git's "'User' <u@foo.com>@foo.com"
// loses its last "@…" first.
func address(s string) (*mail.Address, bool) {
	s = strings.TrimSpace(s)
	if strings.Count(s, "@") > 1 {
		s = s[:strings.LastIndexByte(s, '@')]
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, false
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	if !strings.Contains(strings.Trim(domain, "."), ".") {
		return nil, false
	}
	return a, true
}

// blamelist is Buildbot's responsible users of a build: the changes'
// authors and the owner and owners properties, sorted, each once.
func blamelist(b *report.Build) []string {
	var users []string
	for _, c := range b.Changes {
		users = append(users, c.Author)
	}
	users = append(users, owners(b)...)
	slices.Sort(users)
	return slices.Compact(users)
}

// owners reads the owner property (a string or a list) and the owners
// property (a list).
func owners(b *report.Build) []string {
	var out []string
	for _, name := range []string{"owner", "owners"} {
		p, ok := b.Properties[name]
		if !ok {
			continue
		}
		var one string
		var many []string
		if json.Unmarshal(p.Value, &one) == nil && one != "" {
			out = append(out, one)
		} else if json.Unmarshal(p.Value, &many) == nil {
			out = append(out, many...)
		}
	}
	return out
}

// interested are the addresses of a build's responsible users: each
// change's AuthorEmail (from the users table) or else its Author, and the
// owners; those that are not addresses are left out, as Buildbot does.
func interested(b *report.Build) []*mail.Address {
	var out []*mail.Address
	for _, c := range b.Changes {
		s := c.AuthorEmail
		if s == "" {
			s = c.Author
		}
		if a, ok := address(s); ok {
			out = append(out, a)
		}
	}
	for _, s := range owners(b) {
		if a, ok := address(s); ok {
			out = append(out, a)
		}
	}
	return dedupe(out)
}

// recipients is Buildbot's processRecipients: interested users on To and
// the extra recipients on Cc; or, without interested users, the extra
// recipients on To.
func (c *Client) recipients(b *report.Build) (to, cc []*mail.Address) {
	if !c.cfg.OnlyExtraRecipients {
		to = interested(b)
	}
	if len(to) > 0 {
		return to, dedupe(c.extra)
	}
	return dedupe(c.extra), nil
}

// dedupe sorts addresses and keeps the first of each (case-insensitively).
func dedupe(in []*mail.Address) []*mail.Address {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b *mail.Address) int {
		return strings.Compare(strings.ToLower(a.Address), strings.ToLower(b.Address))
	})
	return slices.CompactFunc(out, func(a, b *mail.Address) bool { return strings.EqualFold(a.Address, b.Address) })
}
