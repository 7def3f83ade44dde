package status

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixture is a master's state with twelve changes on three branches.
func fixture(t testing.TB) *service.Runtime {
	t.Helper()
	store := state.OpenEphemeral()
	t.Cleanup(func() { store.Close() })
	branches := []string{"main", "dev", "release"}
	for i := range 12 {
		c := &messages.Change{
			Author: fmt.Sprintf("dev%d <dev%d@example.org>", i%4, i%4), Branch: branches[i%3],
			Revision: fmt.Sprintf("%040x", i+1), Repository: "https://example.org/repo.git", Project: "proj",
			Comments: fmt.Sprintf("commit %d", i+1), WhenTimestamp: int64(1700000000 + 60*i),
			Files: []string{fmt.Sprintf("src/f%d.go", i)},
		}
		if i == 0 {
			c.Properties = []*messages.Property{{Name: "owner", ValueJson: `"alice"`, Source: "Change"}}
		}
		cmd := &messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: c}}}
		if _, err := store.Submit(cmd).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	return &service.Runtime{DB: store}
}

// TestAPI checks each request's status and body against
// testdata/api/NAME.golden (go test -update rewrites them).
func TestAPI(t *testing.T) {
	h := Handler(fixture(t))
	for _, c := range []struct{ name, url string }{
		{"changes", "/api/v2/changes"},
		{"changes_limit_offset", "/api/v2/changes?limit=2&offset=3&field=changeid"},
		{"changes_newest_first", "/api/v2/changes?order=-changeid&limit=3&field=changeid&field=branch"},
		{"changes_branch", "/api/v2/changes?branch=dev&field=changeid&field=branch"},
		{"changes_branch_newest", "/api/v2/changes?branch=dev&order=-changeid&limit=2&field=changeid"},
		{"changes_branch_and_author", "/api/v2/changes?branch=dev&author=dev3%20%3Cdev3@example.org%3E&field=changeid"},
		{"changes_branch_paged", "/api/v2/changes?branch=dev&limit=1&offset=1&field=changeid"},
		{"changes_ops", "/api/v2/changes?when_timestamp__ge=1700000300&author__contains=dev1&field=changeid&field=author"},
		{"changes_order_author", "/api/v2/changes?order=author&order=-changeid&field=changeid&field=author"},
		{"change_one", "/api/v2/changes/1"},
		{"change_one_fields", "/api/v2/changes/12?field=revision"},
		{"change_missing", "/api/v2/changes/99"},
		{"change_bad_id", "/api/v2/changes/abc"},
		{"bad_query", "/api/v2/changes?nosuch=1&limit=x&order=-nosuch"},
		{"unknown_path", "/api/v2/nosuch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.url, nil))
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			got := fmt.Sprintf("HTTP %d\n%s", rec.Code, rec.Body.String())
			golden := filepath.Join("testdata", "api", c.name+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("GET %s:\n%s\nwant (%s):\n%s", c.url, got, golden, want)
			}
		})
	}
}

// TestAPIPageAndTotalAgree: a page and its meta.total come from one
// read transaction, so with writers running, total is never behind the page.
func TestAPIPageAndTotalAgree(t *testing.T) {
	rt := fixture(t)
	h := Handler(rt)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 300 {
			c := &messages.Change{Author: "w", Branch: "main", WhenTimestamp: int64(1800000000 + i)}
			rt.DB.Submit(&messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: c}}}).Wait()
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v2/changes?order=-changeid&limit=1&field=changeid", nil))
		var top, total int
		if _, err := fmt.Sscanf(rec.Body.String(), `{"changes":[{"changeid":%d}],"meta":{"total":%d}}`, &top, &total); err != nil {
			t.Fatalf("%v: %s", err, rec.Body.String())
		}
		if top != total { // ids are 1..n
			t.Fatalf("newest change %d but total %d", top, total)
		}
	}
}

func TestMethodsOtherThanGetAreRefused(t *testing.T) {
	rt := fixture(t)
	h := Handler(rt)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/api/v2/changes/1", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: HTTP %d %s", rec.Code, rec.Body.String())
	}
	if n := state.Count(rt.DB.Read(), state.TableChanges); n != 12 {
		t.Fatalf("%d changes after DELETE", n)
	}
}
