package ui

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/testkit"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// mainOf is the page's <main> element: what the page shows, without the
// layout (whose asset version changes with every CSS or JS edit).
func mainOf(t *testing.T, body []byte) []byte {
	t.Helper()
	i, j := bytes.Index(body, []byte("<main>")), bytes.Index(body, []byte("</main>"))
	if i < 0 || j < i {
		t.Fatalf("no <main> in\n%s", body)
	}
	return body[i : j+len("</main>")]
}

// TestPagesGolden renders every page of the fixture at a fixed time and
// compares what it shows with testdata/pages/*.golden.
func TestPagesGolden(t *testing.T) {
	f := newFixture(t)
	u := newUI(t, f.store, newRecorder())
	for _, tc := range []struct{ name, path string }{
		{"home", "/"},
		{"home-tag-unit", "/?tag=unit"},
		{"builder-linux", "/builders/linux"},
		{"builder-docs", "/builders/docs"},
		{"build-failed", "/builders/linux/builds/2"},
		{"build-running", "/builders/windows/builds/2"},
		{"build-other-log", "/builders/linux/builds/2?step=0&log=stdio"},
		{"console", "/console"},
		{"grid", "/grid"},
		{"workers", "/workers"},
		{"changes", "/changes"},
		{"changes-feature", "/changes?branch=feature"},
		{"schedulers", "/schedulers"},
		{"requests", "/requests"},
		{"master", "/master"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, u, tc.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", tc.path, rec.Code, rec.Body)
			}
			testkit.Golden(t, filepath.Join("testdata", "pages", tc.name+".golden"), mainOf(t, rec.Body.Bytes()))
		})
	}
}

// TestFragments: each live region answers alone, and is the same markup
// the page embeds.
func TestFragments(t *testing.T) {
	f := newFixture(t)
	u := newUI(t, f.store, newRecorder())
	for _, tc := range []struct{ path, fragment string }{
		{"/", "builders"}, {"/", "running"}, {"/", "queue"},
		{"/builders/linux", "activity"}, {"/builders/linux", "history"},
		{"/builders/windows/builds/2", "build"}, {"/builders/windows/builds/2", "log"},
		{"/console", "console"}, {"/grid", "grid"}, {"/workers", "workers"}, {"/changes", "changes"},
		{"/requests", "requests"}, {"/master", "master"},
	} {
		page := get(t, u, tc.path).Body.String()
		sep := "?"
		if strings.Contains(tc.path, "?") {
			sep = "&"
		}
		rec := get(t, u, tc.path+sep+"fragment="+tc.fragment)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s fragment %s: %d %s", tc.path, tc.fragment, rec.Code, rec.Body)
		}
		frag := rec.Body.String()
		if !strings.HasPrefix(frag, "<section id=") || !strings.Contains(frag, `data-fragment="`+tc.fragment+`"`) {
			t.Errorf("%s fragment %s is not its section:\n%s", tc.path, tc.fragment, frag)
		}
		if !strings.Contains(page, frag) {
			t.Errorf("%s fragment %s differs from what the page embeds", tc.path, tc.fragment)
		}
	}
	if rec := get(t, u, "/?fragment=nope"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `no fragment "nope"`) {
		t.Errorf("unknown fragment: %d %s", rec.Code, rec.Body)
	}
}

// TestHomeFailingFirst: builders whose last build failed come first, and
// every result is named as Buildbot names it.
func TestHomeFailingFirst(t *testing.T) {
	f := newFixture(t)
	u := newUI(t, f.store, newRecorder())
	body := get(t, u, "/?fragment=builders").Body.String()
	order := regexp.MustCompile(`data-builder="\d+" href="/builders/(\w+)"`).FindAllStringSubmatch(body, -1)
	var names []string
	for _, m := range order {
		names = append(names, m[1])
	}
	if got := strings.Join(names, ","); got != "linux,docs,windows" {
		t.Errorf("tile order %s, want linux (failure) first, then by name", got)
	}
	for _, want := range []string{`class="tile r-failure"`, `class="tile r-success busy"`, `class="tile r-none"`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	u := newUI(t, f.store, newRecorder())
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/builders/nope", 404, `there is no builder named &#34;nope&#34;`},
		{"/builders/linux/builds/99", 404, "builder linux has no build 99"},
		{"/builders/linux/builds/x", 400, `build number &#34;x&#34; is not a number`},
		{"/builders/linux/builds/2?step=7&log=stdio", 404, "has no step"},
		{"/builders/linux/builds/2?step=1&log=nope", 404, `has no log &#34;nope&#34;`},
		{"/builders/linux/builds/2?step=1&log=stdio&from=-3", 400, "want a line number"},
		{"/builders/linux?before=zero", 400, "want a build number"},
		{"/console?limit=100000", 400, "want a whole number from 1 to 100"},
		{"/builds/12345", 404, "there is no build with id"},
		{"/nope", 404, ""},
	} {
		rec := get(t, u, tc.path)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", tc.path, rec.Code, tc.code, tc.msg, rec.Body)
		}
	}
	if rec := get(t, u, "/builds/3"); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/builders/linux/builds/2" {
		t.Errorf("/builds/3: %d → %s", rec.Code, rec.Header().Get("Location"))
	}
}

// TestPagesSafe: every page is served with a Content-Security-Policy that
// allows no inline script or style, and user text is escaped.
func TestPagesSafe(t *testing.T) {
	f := newFixture(t)
	u := newUI(t, f.store, newRecorder())
	rec := get(t, u, "/changes")
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if body := rec.Body.String(); strings.Contains(body, "Fix <the>") || !strings.Contains(body, "Fix &lt;the&gt; lexer &amp; tests") {
		t.Errorf("change comments not escaped:\n%s", body)
	}
	body := get(t, u, "/master").Body.String()
	if strings.Contains(body, "secret-password") {
		t.Errorf("/master shows a worker password")
	}
}

// TestWriteCells: a matrix row's empty cells are one cell per run of them.
func TestWriteCells(t *testing.T) {
	ok, fail := int32(0), int32(2)
	a := &messages.Build{Id: 7, Number: 3, Results: &ok}
	c := &messages.Build{Id: 9, Number: 4, Results: &fail}
	for _, tc := range []struct {
		builds []*messages.Build
		label  bool
		want   string
	}{
		{nil, false, ""},
		{[]*messages.Build{nil}, false, `<td></td>`},
		{[]*messages.Build{nil, nil, a, nil, nil, nil, c, nil}, false,
			`<td colspan="2"></td><td class="r-success"><a href="/builds/7" title="#3 success"></a></td><td colspan="3"></td>` +
				`<td class="r-failure"><a href="/builds/9" title="#4 failure"></a></td><td></td>`},
		{[]*messages.Build{a, nil, nil}, true, `<td class="r-success"><a href="/builds/7">#3</a></td><td colspan="2"></td>`},
	} {
		var b strings.Builder
		writeCells(&b, tc.builds, tc.label)
		if b.String() != tc.want {
			t.Errorf("writeCells(%v):\n got %s\nwant %s", tc.builds, b.String(), tc.want)
		}
	}
}

// TestGridFollowsBuilds: the grid remembers each builder's newest builds
// between renderings, and forgets them once one of them changes: a running
// build that finishes, and a new build on another branch, show at the next
// rendering.
func TestGridFollowsBuilds(t *testing.T) {
	f := newFixture(t)
	u := newUI(t, f.store, newRecorder())
	if body := get(t, u, "/grid").Body.String(); !strings.Contains(body, `r-running"><a href="/builds/4">#2`) {
		t.Fatalf("windows #2 is not running on the grid:\n%s", body)
	}
	ok := int32(state.ResultSuccess)
	f.do(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{Buildid: f.running, Results: ok, CompleteAt: t0.Unix()}}})
	if body := get(t, u, "/grid").Body.String(); !strings.Contains(body, `r-success"><a href="/builds/4">#2`) {
		t.Errorf("windows #2 finished, not on the grid:\n%s", body)
	}
	res := f.do(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
		Builderid: f.linux, Workerid: f.w1, Masterid: 1, StartedAt: t0.Unix(), StateString: "building",
		Properties: []*messages.Property{{Name: "branch", ValueJson: `"topic"`, Source: "Build"}}}}})
	body := get(t, u, "/grid").Body.String()
	for _, want := range []string{`<a href="?branch=topic">topic</a>`, fmt.Sprintf(`<a href="/builds/%d">#%d</a>`, res.Id, res.Number)} {
		if !strings.Contains(body, want) {
			t.Errorf("the new build on topic: the grid lacks %s:\n%s", want, body)
		}
	}
}

// pinned reads the state, or the version pinned when one is.
type pinned struct {
	Reader
	txn atomic.Pointer[memdb.Txn]
}

func (p *pinned) Read() *memdb.Txn {
	if txn := p.txn.Load(); txn != nil {
		return txn
	}
	return p.Reader.Read()
}

// TestGridIsOneVersion: a grid rendered from an older version of the state
// shows that version's builds, even after a rendering of a newer one
// remembered the newer builds; and the newer one after it.
func TestGridIsOneVersion(t *testing.T) {
	f := newFixture(t)
	p := &pinned{Reader: f.store}
	u := newUI(t, p, newRecorder())
	running, finished := `r-running"><a href="/builds/4">#2`, `r-success"><a href="/builds/4">#2`
	old := f.store.Read()
	ok := int32(state.ResultSuccess)
	f.do(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{Buildid: f.running, Results: ok, CompleteAt: t0.Unix()}}})
	for _, c := range []struct {
		txn        *memdb.Txn
		want, what string
	}{
		{nil, finished, "the newest version"},
		{old, running, "the version before windows #2 finished"},
		{nil, finished, "the newest version again"},
	} {
		p.txn.Store(c.txn)
		if body := get(t, u, "/grid").Body.String(); !strings.Contains(body, c.want) {
			t.Errorf("grid of %s: no %s:\n%s", c.what, c.want, body)
		}
	}
}

// TestShownBuildersFollowBuilders: the builders a tag filter shows are
// found once per version of the builders and filter: pages of the same
// builders share them, another filter or a changed builder finds them
// again, and an older version keeps its own.
func TestShownBuildersFollowBuilders(t *testing.T) {
	f := newFixture(t)
	u := newUI(t, f.store, newRecorder())
	view := func() *view { return u.newView(httptest.NewRequest(http.MethodGet, "/console", nil), "console") }
	old := view()
	all := old.filterBuilders(nil)
	if again := view().filterBuilders(nil); again != all {
		t.Error("the same builders were looked for again")
	}
	unit := view().filterBuilders([]string{"unit"})
	if names := builderNames(unit); names != "linux windows" {
		t.Errorf("tag unit shows %s, want linux windows", names)
	}
	if again := view().filterBuilders([]string{"unit"}); again != unit {
		t.Error("the same filter was looked for again")
	}
	f.do(&messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{Name: "arm", Tags: []string{"unit"}}}})
	if names := builderNames(view().filterBuilders([]string{"unit"})); names != "arm linux windows" {
		t.Errorf("tag unit shows %s after builder arm came, want arm linux windows", names)
	}
	if names := builderNames(old.filterBuilders(nil)); names != "docs linux windows" {
		t.Errorf("the version before arm came shows %s, want docs linux windows", names)
	}
}

// builderNames are the names of the builders s shows, in order; "(index
// wrong)" when at does not agree.
func builderNames(s *shownBuilders) string {
	var names []string
	for i, b := range s.builders {
		if s.at[b.Id] != i || len(s.at) != len(s.builders) {
			return "(index wrong)"
		}
		names = append(names, b.Name)
	}
	return strings.Join(names, " ")
}
