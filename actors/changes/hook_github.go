package changes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// The github change hook: GitHub's push events.

type ghPerson struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type ghCommit struct {
	ID        string   `json:"id"`
	Message   string   `json:"message"`
	Timestamp string   `json:"timestamp"`
	URL       string   `json:"url"`
	Distinct  *bool    `json:"distinct"`
	Author    ghPerson `json:"author"`
	Committer ghPerson `json:"committer"`
	Added     []string `json:"added"`
	Removed   []string `json:"removed"`
	Modified  []string `json:"modified"`
}

type ghPush struct {
	Ref        string     `json:"ref"`
	Created    bool       `json:"created"`
	Deleted    bool       `json:"deleted"`
	Commits    []ghCommit `json:"commits"`
	HeadCommit *ghCommit  `json:"head_commit"`
	Repository struct {
		HTMLURL  string `json:"html_url"`
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// skipCI matches Buildbot's default skip patterns, [ci skip] and [skip ci].
var skipCI = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[ *(ci *skip|skip *ci) *\]`) })

// parseGitHub reads a GitHub event. Like Buildbot's github hook: a push to
// refs/heads/B gives one change per commit on branch B; a push to
// refs/tags/T the same on branch T with category "tag"; a push creating
// its ref gives the head commit alone; a deletion, or a push whose head
// commit asks to skip CI, gives none. ping and other events give none.
// The note, when not "", says why there are none.
func parseGitHub(r *http.Request, body []byte) ([]*messages.Change, string, *hookError) {
	event := r.Header.Get("X-GitHub-Event")
	switch event {
	case "ping":
		return nil, "pong", nil
	case "push":
	case "":
		return nil, "", refuse(http.StatusBadRequest, "the request has no X-GitHub-Event")
	default:
		return nil, fmt.Sprintf("event %q ignored", event), nil
	}
	p, herr := ghPayload(r, body)
	if herr != nil {
		return nil, "", herr
	}
	branch, category, note := ghRef(p)
	if note != "" {
		return nil, note, nil
	}
	commits := p.Commits
	if p.Created && p.HeadCommit != nil {
		commits = []ghCommit{*p.HeadCommit}
	}
	var out []*messages.Change
	for i, c := range commits {
		ch, herr := ghChange(p, i, c)
		if herr != nil {
			return nil, "", herr
		}
		ch.Branch, ch.Category = branch, category
		out = append(out, ch)
	}
	return out, "", nil
}

// ghPayload reads a push event's payload: the body, or the form field
// payload.
func ghPayload(r *http.Request, body []byte) (*ghPush, *hookError) {
	payload := body
	if !isJSON(r) {
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("payload") == "" {
			return nil, refuse(http.StatusBadRequest, "the body is neither JSON nor a form with a payload")
		}
		payload = []byte(form.Get("payload"))
	}
	var p ghPush
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, refuse(http.StatusBadRequest, "the push payload does not parse: %v", err)
	}
	return &p, nil
}

// ghRef returns the branch and category of a push's changes, or a note
// saying why the push gives none.
func ghRef(p *ghPush) (branch, category, note string) {
	if b, ok := strings.CutPrefix(p.Ref, "refs/heads/"); ok && b != "" {
		branch = b
	} else if t, ok := strings.CutPrefix(p.Ref, "refs/tags/"); ok && t != "" {
		branch, category = t, "tag"
	} else {
		return "", "", fmt.Sprintf("ref %q is not a branch or a tag; ignored", p.Ref)
	}
	if p.Deleted {
		return "", "", fmt.Sprintf("%s deleted; ignored", p.Ref)
	}
	if p.HeadCommit != nil && skipCI().MatchString(p.HeadCommit.Message) {
		return "", "", "the head commit asks to skip CI"
	}
	return branch, category, ""
}

// ghChange is the change of commit i, c, of push p (without its branch and
// category).
func ghChange(p *ghPush, i int, c ghCommit) (*messages.Change, *hookError) {
	if c.ID == "" {
		return nil, refuse(http.StatusBadRequest, "commits[%d] has no id", i)
	}
	var when int64
	if c.Timestamp != "" {
		t, err := time.Parse(time.RFC3339, c.Timestamp)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "commits[%d].timestamp %q is not an RFC 3339 time", i, c.Timestamp)
		}
		when = t.Unix()
	}
	distinct := c.Distinct == nil || *c.Distinct
	var files []string
	for _, l := range [][]string{c.Added, c.Modified, c.Removed} {
		files = append(files, l...)
	}
	ch := &messages.Change{
		Author:        person(c.Author),
		Comments:      c.Message,
		Revision:      c.ID,
		WhenTimestamp: when,
		Revlink:       c.URL,
		Repository:    p.Repository.HTMLURL,
		Project:       p.Repository.FullName,
		Files:         files,
		Properties: []*messages.Property{
			{Name: "event", ValueJson: `"push"`, Source: "Change"},
			{Name: "github_distinct", ValueJson: strconv.FormatBool(distinct), Source: "Change"},
		},
	}
	if c.Committer.Name != "" || c.Committer.Email != "" {
		ch.Committer = person(c.Committer)
	}
	return ch, nil
}

func person(p ghPerson) string {
	if p.Name == "" && p.Email == "" {
		return ""
	}
	return fmt.Sprintf("%s <%s>", p.Name, p.Email)
}
