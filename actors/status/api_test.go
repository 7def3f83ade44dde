package status

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/cache"
	"github.com/buildmaster/buildmaster/internal/dataapi"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// fixture is a master's state with twelve changes on three branches, then
// (see builds) builders, workers, a buildset and builds with steps and logs.
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
		if _, err := store.Submit(messages.NewCommand(&messages.AddChange{Change: c})).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	builds(t, store)
	// The fixture's log contents are in the state, as an earlier release
	// kept them: opening the log files moves them there.
	logs, closeLogs, err := db.OpenLogs(context.Background(), t.TempDir(), store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeLogs() })
	return &service.Runtime{DB: store, Logs: logs, Log: slog.New(slog.DiscardHandler), Caches: cache.NewSet()}
}

// builds adds: master 1 "m1"; builders 1 "linux", 2 "windows" and
// 3 "release/1.0" (m1 runs linux and windows); workers
// 1 "w1" (connected to m1; configured on linux and windows) and 2 "w2"
// (configured on linux); buildset 1 (sourcestamp 1) with
// request 1 on linux (claimed by m1, built, completed) and request 2 on
// windows (unclaimed); buildset 2 (sourcestamp 2) with request 3 on linux
// (claimed by m1, building) and request 4 on windows (unclaimed);
// build 1 = linux #1 for request 1 on w1 (SUCCESS) with steps 1 "git"
// (log 1 stdio, two chunks) and 2 "compile" (logs 2 stdio, 3 "warnings"
// text); build 2 = linux #2 for request 3 on w2, running, with step 3 "git"
// (log 4 html, empty); buildset 3 (sourcestamps 3 and 4, triggered by
// build 1) with request 5 on release/1.0 (unclaimed).
func builds(t testing.TB, store *state.Store) {
	t.Helper()
	const at = 1700001000
	for _, k := range []proto.Message{
		&messages.MasterStarted{Name: "m1", Time: at},
		&messages.FindOrAddBuilder{Name: "linux", Description: "Linux build", Tags: []string{"os", "fast"}},
		&messages.FindOrAddBuilder{Name: "windows"},
		&messages.FindOrAddBuilder{Name: "release/1.0"},
		&messages.FindOrAddWorker{Name: "w1"},
		&messages.FindOrAddWorker{Name: "w2"},
		&messages.WorkerConnected{Workerid: 1, Masterid: 1, InfoJson: `{"os":"linux"}`},
		&messages.ConfigureMaster{Masterid: 1,
			Builders: []*messages.ConfiguredBuilder{{Name: "linux", Description: "Linux build", Tags: []string{"os", "fast"}}, {Name: "windows"}},
			Workers:  []*messages.ConfiguredWorker{{Name: "w1", Builders: []string{"linux", "windows"}}, {Name: "w2", Builders: []string{"linux"}}}},
		&messages.AddBuildset{Reason: "force", SubmittedAt: at + 10, SourcestampIds: []uint64{1}, Builderids: []uint64{1, 2},
			Properties: []*messages.Property{{Name: "reason", ValueJson: `"force"`, Source: "Force Build Form"}, {Name: "jobs", ValueJson: `4`, Source: "Scheduler"}}},
		&messages.ClaimBuildRequests{Masterid: 1, ClaimedAt: at + 20, Brids: []uint64{1}},
		&messages.AddBuild{Builderid: 1, Buildrequestid: 1, Workerid: 1, Masterid: 1, StartedAt: at + 21, StateString: "building"},
		&messages.SetBuildProperties{Buildid: 1, Properties: []*messages.Property{{Name: "got_revision", ValueJson: `"abc123"`, Source: "Git"}}},
		&messages.AddStep{Buildid: 1, Name: "git", StartedAt: at + 22},
		&messages.AddLog{Stepid: 1, Name: "stdio", Slug: "stdio", Type: "s"},
		&messages.AppendLog{Logid: 1, Content: "hgit fetch origin\nocloning\n"},
		&messages.AppendLog{Logid: 1, Content: "ewarning: shallow\nodone\n"},
		&messages.FinishStep{Stepid: 1, Results: state.ResultSuccess, CompleteAt: at + 30, StateString: "updated"},
		&messages.AddStep{Buildid: 1, Name: "compile", StartedAt: at + 31},
		&messages.AddLog{Stepid: 2, Name: "stdio", Slug: "stdio", Type: "s"},
		&messages.AppendLog{Logid: 2, Content: "hmake\nocc -o x x.c"},
		&messages.AddLog{Stepid: 2, Name: "warnings (1)", Slug: "warnings", Type: "t"},
		&messages.AppendLog{Logid: 3, Content: "x.c:1: unused variable\n"},
		&messages.FinishBuild{Buildid: 1, Results: state.ResultSuccess, CompleteAt: at + 40, StateString: "build successful"},
		&messages.CompleteBuildRequests{Brids: []uint64{1}, Results: state.ResultSuccess, CompleteAt: at + 40},
		&messages.AddBuildset{Reason: "scheduler", SubmittedAt: at + 45, SourcestampIds: []uint64{2}, Builderids: []uint64{1, 2}, Priority: 5},
		&messages.ClaimBuildRequests{Masterid: 1, ClaimedAt: at + 49, Brids: []uint64{3}},
		&messages.AddBuild{Builderid: 1, Buildrequestid: 3, Workerid: 2, Masterid: 1, StartedAt: at + 50, StateString: "building"},
		&messages.AddStep{Buildid: 2, Name: "git", StartedAt: at + 51},
		&messages.AddLog{Stepid: 3, Name: "summary", Slug: "summary", Type: "h"},
		&messages.AddBuildset{Reason: "triggered", SubmittedAt: at + 60, SourcestampIds: []uint64{4, 3}, Builderids: []uint64{3},
			ExternalIdstring: "ext-1", ParentBuildid: 1, ParentRelationship: "deploy"},
	} {
		if _, err := store.Submit(messages.NewCommand(k)).Wait(); err != nil {
			t.Fatalf("%T: %v", k, err)
		}
	}
}

// TestAPI checks each request's status and body against
// testdata/api/NAME.golden (go test -update rewrites them).
func TestAPI(t *testing.T) { checkAPI(t, fixture(t)) }

// TestAPIArchived is TestAPI with finished build 1's steps and logs in the
// archive: every answer is the same.
func TestAPIArchived(t *testing.T) {
	rt := fixture(t)
	res, err := rt.DB.Submit(messages.NewCommand(&messages.Archive{Buildids: []uint64{1}})).Wait()
	if err != nil || len(res.GetIds()) != 1 {
		t.Fatalf("archive build 1: %v, %v", res, err)
	}
	checkAPI(t, rt)
}

// apiCases are TestAPI's requests: a golden file's name, and the URL.
func apiCases() []struct{ name, url string } {
	return []struct{ name, url string }{
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

		{"masters", "/api/v2/masters"},
		{"master_one", "/api/v2/masters/1"},
		{"sourcestamps", "/api/v2/sourcestamps?limit=2"},
		{"sourcestamp_one", "/api/v2/sourcestamps/3"},
		{"sourcestamp_changes", "/api/v2/sourcestamps/3/changes?field=changeid&field=sourcestampid"},
		{"buildsets", "/api/v2/buildsets"},
		{"buildset_one", "/api/v2/buildsets/1?field=id&field=reason"},
		{"buildset_properties", "/api/v2/buildsets/1/properties"},
		{"buildset_two_sourcestamps", "/api/v2/buildsets/3"},
		{"buildsets_sourcestamps_field", "/api/v2/buildsets?field=bsid&field=sourcestamps&order=-bsid"},
		{"buildsets_sourcestamps_not_filterable", "/api/v2/buildsets?sourcestamps=1"},
		{"buildsets_sourcestamp_ids_hidden", "/api/v2/buildsets?field=sourcestamp_ids&sourcestamp_ids=1"},
		{"buildsets_null_until_set", "/api/v2/buildsets?complete_at=0&parent_buildid__ne=0&field=bsid&field=complete_at&field=parent_buildid"},
		{"buildrequests", "/api/v2/buildrequests"},
		{"buildrequest_one_claimed", "/api/v2/buildrequests/3"},
		{"buildrequests_of_buildset", "/api/v2/buildrequests?buildsetid=2&field=id&field=builderid"},
		{"builder_buildrequests", "/api/v2/builders/windows/buildrequests?field=id&field=complete"},
		{"buildrequest_builds", "/api/v2/buildrequests/3/builds?field=id&field=number"},
		{"buildrequests_incomplete_of_buildset", "/api/v2/buildrequests?buildsetid=2&complete=false&field=id&field=claim"},
		{"builders", "/api/v2/builders"},
		{"builder_by_id", "/api/v2/builders/2"},
		{"builder_by_name", "/api/v2/builders/linux"},
		{"builder_missing_name", "/api/v2/builders/nosuch"},
		{"builder_missing_id", "/api/v2/builders/99"},
		{"builds", "/api/v2/builds"},
		{"builds_by_buildbot_names", "/api/v2/builds?order=-buildid&field=buildid&field=complete&field=number&buildid__ge=1"},
		{"builds_proto_name_refused", "/api/v2/builds?id=1&field=id"},
		{"builds_complete_filter", "/api/v2/builds?complete=false&field=buildid&field=complete"},
		{"builds_derived_not_sortable", "/api/v2/builds?order=complete"},
		{"buildrequests_unclaimed", "/api/v2/buildrequests?claimed=false&complete=false&field=buildrequestid&field=claimed"},
		{"buildrequests_claimed_bad", "/api/v2/buildrequests?claimed__lt=1"},
		{"buildrequests_claimed", "/api/v2/buildrequests?field=buildrequestid&field=claimed&field=claimed_by_masterid"},
		{"build_one", "/api/v2/builds/2"},
		{"builds_of_builder_filter", "/api/v2/builds?builderid=1&order=-id&field=id&field=number"},
		{"builder_builds", "/api/v2/builders/linux/builds?field=id&field=number&field=results"},
		{"builder_builds_newest", "/api/v2/builders/1/builds?order=-number&limit=1&field=number"},
		{"builder_builds_of_unknown", "/api/v2/builders/nosuch/builds"},
		{"builder_build_number", "/api/v2/builders/linux/builds/2?field=id&field=number&field=builderid"},
		{"builder_build_missing", "/api/v2/builders/linux/builds/9"},
		{"builder_build_not_a_number", "/api/v2/builders/linux/builds/last"},
		{"build_properties", "/api/v2/builds/1/properties"},
		{"builds_property", "/api/v2/builds?property=got_revision&property=nosuch&field=id"},
		{"builds_property_all", "/api/v2/builders/linux/builds/1?property=*&field=number"},
		{"builder_escaped_name", "/api/v2/builders/li%6Eux/builds/1?field=id"},
		{"builder_name_with_slash", "/api/v2/builders/release%2F1.0?field=id&field=name"},
		{"worker_builds", "/api/v2/workers/w2/builds?field=id&field=workerid"},
		{"steps", "/api/v2/steps?field=id&field=buildid&field=number&field=name&field=results"},
		{"step_one", "/api/v2/steps/1"},
		{"build_steps", "/api/v2/builds/1/steps?field=id&field=number&field=name"},
		{"build_step_number", "/api/v2/builds/1/steps/1?field=id&field=name"},
		{"build_step_name", "/api/v2/builds/1/steps/compile?field=id&field=name"},
		{"build_step_missing", "/api/v2/builds/1/steps/nosuch"},
		{"build_step_other_build", "/api/v2/builds/2/steps/compile"},
		{"deep_step", "/api/v2/builders/linux/builds/1/steps/git?field=id"},
		{"logs", "/api/v2/logs"},
		{"log_one", "/api/v2/logs/3"},
		{"log_missing", "/api/v2/logs/99"},
		{"step_logs", "/api/v2/steps/2/logs?field=id&field=slug"},
		{"step_log_slug", "/api/v2/steps/2/logs/warnings?field=id&field=slug"},
		{"step_log_missing", "/api/v2/steps/1/logs/warnings"},
		{"deep_logs", "/api/v2/builders/linux/builds/1/steps/compile/logs?field=id&field=slug"},
		{"log_contents", "/api/v2/logs/1/contents"},
		{"log_contents_range", "/api/v2/logs/1/contents?offset=1&limit=2"},
		{"log_contents_past_end", "/api/v2/logs/1/contents?offset=4"},
		{"log_contents_empty", "/api/v2/logs/4/contents"},
		{"log_contents_bad_query", "/api/v2/logs/1/contents?offset=x"},
		{"log_contents_missing", "/api/v2/logs/99/contents"},
		{"log_raw_stdio", "/api/v2/logs/1/raw"},
		{"log_raw_unterminated", "/api/v2/logs/2/raw"},
		{"log_raw_text", "/api/v2/logs/3/raw"},
		{"log_raw_html_empty", "/api/v2/logs/4/raw"},
		{"log_raw_missing", "/api/v2/logs/99/raw"},
		{"log_raw_deep", "/api/v2/builders/linux/builds/1/steps/git/logs/stdio/raw"},
		{"workers", "/api/v2/workers"},
		{"worker_by_name", "/api/v2/workers/w1"},
		{"worker_missing", "/api/v2/workers/nosuch"},
		{"workers_connected_to_field", "/api/v2/workers?field=workerid&field=connected_to&field=configured_on"},
		{"workers_connected_to_not_filterable", "/api/v2/workers?connected_to=1&order=configured_on&configured_on__contains=1"},
		{"workers_info_json_hidden", "/api/v2/workers?field=info_json"},
		{"sourcestamps_ss_hash_hidden", "/api/v2/sourcestamps?ss_hash=x&field=patchid"},
		{"schedulers", "/api/v2/schedulers"},
		{"changesources", "/api/v2/changesources"},
		{"master_schedulers", "/api/v2/masters/1/schedulers"},
		{"nested_unknown", "/api/v2/builds/1/nosuch"},
		{"extra_of_other_table", "/api/v2/changes/1/raw"},
		{"extra_without_row", "/api/v2/logs/raw"},
		{"nested_bad_query", "/api/v2/builders/linux/builds?nosuch=1"},
	}
}

func checkAPI(t *testing.T, rt *service.Runtime) {
	h := Handler(rt)
	for _, c := range apiCases() {
		t.Run(c.name, func(t *testing.T) {
			// The second answer comes from the caches where they hold the rows.
			for range 2 {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.url, nil))
				got := fmt.Sprintf("HTTP %d\n", rec.Code)
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					// Only a log's raw text is not JSON: its headers are part of the golden.
					got += fmt.Sprintf("Content-Type: %s\nContent-Disposition: %s\n\n", ct, rec.Header().Get("Content-Disposition"))
				} else if !json.Valid(rec.Body.Bytes()) {
					t.Errorf("invalid JSON: %s", rec.Body)
				}
				got += rec.Body.String()
				testkit.Golden(t, filepath.Join("testdata", "api", c.name+".golden"), []byte(got))
			}
		})
	}
}

// TestRecordsShowBuildbotShapes renders rows the fixture cannot make (a
// worker configured on builders, a sourcestamp with a patch) with their
// endpoints' views, as Buildbot's data API shows them.
func TestRecordsShowBuildbotShapes(t *testing.T) {
	views := map[string]dataapi.View{}
	for _, e := range Endpoints() {
		views[e.Plural] = e.View
	}
	for _, c := range []struct {
		plural string
		row    proto.Message
		want   string
	}{
		{"workers", &messages.Worker{Id: 1, Name: "w", InfoJson: `{"a":1}`, ConnectedTo: []uint64{1, 3},
			ConfiguredOn: []*messages.WorkerConfiguredOn{{Builderid: 2, Masterid: 1}, {Builderid: 4, Masterid: 3}}},
			`{"configured_on":[{"builderid":2,"masterid":1},{"builderid":4,"masterid":3}],"connected_to":[{"masterid":1},{"masterid":3}],` +
				`"graceful":false,"name":"w","paused":false,"quarantine_timeout":null,"quarantine_until":null,"workerid":1,"workerinfo":{"a":1}}`},
		{"workers", &messages.Worker{Id: 2, Name: "v", InfoJson: "{not json"},
			`{"configured_on":[],"connected_to":[],"graceful":false,"name":"v","paused":false,"quarantine_timeout":null,"quarantine_until":null,"workerid":2,"workerinfo":"{not json"}`},
		{"sourcestamps", &messages.SourceStamp{Id: 5, SsHash: "h", Patchid: 7, Repository: "r", Project: "p", CreatedAt: 9},
			`{"branch":null,"codebase":"","created_at":9,"patch":{"patchid":7},"project":"p","repository":"r","revision":null,"ssid":5}`},
	} {
		got, err := json.Marshal(views[c.plural].Record(c.row, nil))
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %s, %v\nwant %s", c.plural, got, err, c.want)
		}
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

// TestIndexesListRowsInIDOrder: every index an endpoint scans for an
// equality filter (and so for a nested collection) yields exactly the rows
// the filter selects, in id order both ways, as dataapi.Collection.ScanEq
// requires.
func TestIndexesListRowsInIDOrder(t *testing.T) {
	rt := fixture(t)
	txn := rt.DB.Read()
	for _, e := range Endpoints() {
		md := e.Record.ProtoReflect().Descriptor()
		for field, index := range e.Indexes {
			fd := md.Fields().ByName(protoreflect.Name(field))
			values := map[any]bool{}
			for row := range state.Scan(txn, e.Table, false) {
				values[row.ProtoReflect().Get(fd).Interface()] = true
			}
			for v := range values {
				for _, desc := range []bool{false, true} {
					var want, got []string
					for row := range state.Scan(txn, e.Table, desc) {
						if row.ProtoReflect().Get(fd).Interface() == v {
							want = append(want, prototext.Format(row))
						}
					}
					for row := range state.ScanIndex(txn, e.Table, index, desc, v) {
						got = append(got, prototext.Format(row))
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s: index %s for %s=%v (descending %v):\n%q\nwant\n%q", e.Plural, index, field, v, desc, got, want)
					}
				}
			}
		}
	}
}

// TestRunningBuildsSkipTheArchive: builds?complete=false and
// buildrequests?complete=false answer the running build and its request
// alone, with as many allocations over 1,200 archived builds as over 300
// (reading the archive would decode every archived row).
func TestRunningBuildsSkipTheArchive(t *testing.T) {
	queries := []struct{ url, want string }{
		{"/api/v2/builds?complete=false&field=buildid", `{"builds":[{"buildid":%d}],"meta":{"total":1}}`},
		{"/api/v2/buildrequests?complete=false&field=buildrequestid", `{"buildrequests":[{"buildrequestid":%d}],"meta":{"total":1}}`},
	}
	allocs := map[string]map[int]float64{}
	for _, n := range []int{300, 1200} {
		h := API(&service.Runtime{DB: buildHistory(t, n, true), Caches: cache.NewSet()})
		for _, q := range queries {
			get := func() string {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, q.url, nil))
				return strings.TrimSpace(rec.Body.String())
			}
			if got, want := get(), fmt.Sprintf(q.want, n+1); got != want {
				t.Fatalf("GET %s over %d builds: %s, want %s", q.url, n, got, want)
			}
			if allocs[q.url] == nil {
				allocs[q.url] = map[int]float64{}
			}
			allocs[q.url][n] = testing.AllocsPerRun(10, func() { get() })
		}
	}
	for url, a := range allocs {
		if a[1200]-a[300] > 50 {
			t.Errorf("GET %s: %.0f allocations over 300 archived builds, %.0f over 1,200: it reads the archive", url, a[300], a[1200])
		}
	}
}
