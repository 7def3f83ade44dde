package db

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// history is a state for the horizon tests, at time 10000:
//
//   - builder a (1): builds a1…a5 finished at 1000…5000 (started 100 s
//     before), a6 running since 6000; builder b (2): b1 finished at 1500,
//     b2 at 2500;
//   - each build has its own buildset (one request), whose sourcestamp is
//     its own change's; a request on a was skipped at 500 without a build
//     (buildset skip, change 1's sourcestamp);
//   - change 10 is in no buildset, nor change 11;
//   - each build has one step with a stdio log, started as the build.
type history struct {
	st     *state.Store
	builds map[string]uint64 // a1 … b2 → build id
	reqs   map[string]uint64 // a1 … b2, skip → request id
	sets   map[string]uint64 // a1 … b2, skip → buildset id
	ss     []uint64          // sourcestamp of change i+1
	logs   map[string]uint64 // a1 … b2 → log id
}

func newHistory(t *testing.T) *history {
	h := &history{st: state.OpenEphemeral(), builds: map[string]uint64{}, reqs: map[string]uint64{}, sets: map[string]uint64{}, logs: map[string]uint64{}}
	t.Cleanup(func() { h.st.Close() })
	apply(t, h.st, &messages.MasterStarted{Name: "m", Time: 1}, &messages.FindOrAddBuilder{Name: "a"}, &messages.FindOrAddBuilder{Name: "b"})
	for i := range 11 {
		res := apply(t, h.st, &messages.AddChange{Change: &messages.Change{Author: "x", Revision: fmt.Sprint(i), WhenTimestamp: int64(i + 1)}})
		h.ss = append(h.ss, res.Sourcestampid)
	}
	type spec struct {
		name             string
		builder          uint64
		change           int
		finished, starts int64
	}
	skip := apply(t, h.st, &messages.AddBuildset{SubmittedAt: 400, SourcestampIds: []uint64{h.ss[0]}, Builderids: []uint64{1}})
	h.sets["skip"], h.reqs["skip"] = skip.Id, skip.Ids[0]
	apply(t, h.st, &messages.CompleteBuildRequests{Brids: skip.Ids, Results: state.ResultSkipped, CompleteAt: 500})
	for _, s := range []spec{
		{"a1", 1, 1, 1000, 900}, {"b1", 2, 2, 1500, 1400}, {"a2", 1, 3, 2000, 1900}, {"b2", 2, 4, 2500, 2400},
		{"a3", 1, 5, 3000, 2900}, {"a4", 1, 6, 4000, 3900}, {"a5", 1, 7, 5000, 4900}, {"a6", 1, 8, 0, 6000},
	} {
		bs := apply(t, h.st, &messages.AddBuildset{SubmittedAt: s.starts, SourcestampIds: []uint64{h.ss[s.change]}, Builderids: []uint64{s.builder}})
		h.sets[s.name], h.reqs[s.name] = bs.Id, bs.Ids[0]
		b := apply(t, h.st, &messages.AddBuild{Builderid: s.builder, Buildrequestid: bs.Ids[0], Masterid: 1, StartedAt: s.starts, ClaimBrids: bs.Ids,
			Steps: []*messages.AddStep{{Name: "s", StartedAt: s.starts, LogNames: []string{"stdio"}}}})
		h.builds[s.name], h.logs[s.name] = b.Id, b.Ids[1]
		if s.finished > 0 {
			apply(t, h.st, &messages.FinishBuild{Buildid: b.Id, Results: state.ResultSuccess, CompleteAt: s.finished, Brids: bs.Ids})
		}
	}
	return h
}

func (h *history) ids(m map[string]uint64, names ...string) []uint64 {
	var out []uint64
	for _, n := range names {
		out = append(out, m[n])
	}
	slices.Sort(out)
	return out
}

func hours(s int64) *durationpb.Duration { return durationpb.New(time.Duration(s) * time.Second) }

// planExpiry finds what each horizon lets go, and nothing that stays
// needs, the same when the finished buildsets and the changes are
// archived.
func TestPlanExpiry(t *testing.T) {
	for _, archived := range []bool{false, true} {
		t.Run(fmt.Sprintf("archived=%v", archived), func(t *testing.T) {
			h := newHistory(t)
			if archived {
				sets := state.ToArchiveBuildsets(h.st.Read(), 10000)
				changes := state.ChangesToArchive(h.st.Read(), 10000, 0)
				if len(sets) != 7 || len(changes) != 11 {
					t.Fatalf("to archive: buildsets %v, changes %v", sets, changes)
				}
				apply(t, h.st, &messages.ArchiveBuildsets{Buildsetids: sets}, &messages.ArchiveChanges{Changeids: changes})
			}
			testPlanExpiry(t, h)
		})
	}
}

func testPlanExpiry(t *testing.T, h *history) {
	now := time.Unix(10000, 0)
	for _, c := range []struct {
		name     string
		horizons *messages.HorizonsConfig
		want     func() expiry
	}{
		{"none", &messages.HorizonsConfig{}, func() expiry { return expiry{} }},
		{"builds finished before 3500; b2 is b's newest", &messages.HorizonsConfig{Builds: hours(6500)}, func() expiry {
			names := []string{"a1", "b1", "a2", "a3"}
			return expiry{builds: h.ids(h.builds, names...), requests: h.ids(h.reqs, append(names, "skip")...),
				buildsets: h.ids(h.sets, append(names, "skip")...)}
		}},
		{"the newest 2 finished builds of each builder", &messages.HorizonsConfig{BuildsPerBuilder: 2}, func() expiry {
			names := []string{"a1", "a2", "a3"}
			return expiry{builds: h.ids(h.builds, names...), requests: h.ids(h.reqs, append(names, "skip")...),
				buildsets: h.ids(h.sets, append(names, "skip")...)}
		}},
		{"the newest change; sourcestamps of no buildset go with theirs", &messages.HorizonsConfig{Changes: 1}, func() expiry {
			return expiry{changes: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, sourcestamps: []uint64{h.ss[9]}}
		}},
		{"logs of steps started before 3000", &messages.HorizonsConfig{Logs: hours(7000)}, func() expiry {
			return expiry{logContents: h.ids(h.logs, "a1", "b1", "a2", "b2", "a3")}
		}},
		{"logs of builds that go are not expired apart", &messages.HorizonsConfig{Logs: hours(7000), BuildsPerBuilder: 3}, func() expiry {
			return expiry{builds: h.ids(h.builds, "a1", "a2"), requests: h.ids(h.reqs, "a1", "a2", "skip"),
				buildsets: h.ids(h.sets, "a1", "a2", "skip"), logContents: h.ids(h.logs, "b1", "b2", "a3")}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, _ := planExpiry(h.st.Read(), c.horizons, now, logHorizon{})
			want := c.want()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("planExpiry:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// Applying a plan in small writes leaves nothing the plan named and
// nothing dangling; a second plan finds nothing; no id is given twice.
func TestExpireApplied(t *testing.T) {
	h := newHistory(t)
	hz := &messages.HorizonsConfig{Builds: hours(6500), Changes: 1, Logs: hours(5500), BuildsPerBuilder: 1}
	plan, _ := planExpiry(h.st.Read(), hz, time.Unix(10000, 0), logHorizon{})
	cmds := plan.commands(1)
	if len(cmds) < len(plan.builds) {
		t.Fatalf("%d commands for %d builds in batches of 1", len(cmds), len(plan.builds))
	}
	var files []uint64
	for _, x := range cmds {
		files = append(files, apply(t, h.st, x).GetIds()...)
	}
	slices.Sort(files)
	txn := h.st.Read()
	for table, ids := range map[string][]uint64{state.TableBuilds: plan.builds, state.TableBuildRequests: plan.requests,
		state.TableBuildsets: plan.buildsets, state.TableChanges: plan.changes, state.TableSourceStamps: plan.sourcestamps} {
		for _, id := range ids {
			if state.Lookup(txn, table, id) != nil {
				t.Errorf("%s %d is still there", table, id)
			}
		}
	}
	// Builds kept: a5 (a's newest finished: 1 per builder) and a6
	// (running), b2 (b's newest). The logs of the builds that went, and
	// b2's (started before 4500), have no file to keep.
	if n := state.Count(txn, state.TableBuilds); n != 3 {
		t.Errorf("%d builds left, want 3", n)
	}
	wantFiles := h.ids(h.logs, "a1", "a2", "a3", "a4", "b1", "b2")
	if !slices.Equal(files, wantFiles) {
		t.Errorf("log files to remove %v, want %v", files, wantFiles)
	}
	for raw := range state.Scan(txn, state.TableBuilds, false) {
		b := raw.(*messages.Build)
		if state.Lookup(txn, state.TableBuildRequests, b.Buildrequestid) == nil {
			t.Errorf("build %d lost its request %d", b.Id, b.Buildrequestid)
		}
	}
	for raw := range state.Scan(txn, state.TableBuildsets, false) {
		for _, ss := range raw.(*messages.Buildset).SourcestampIds {
			if state.Lookup(txn, state.TableSourceStamps, ss) == nil {
				t.Errorf("buildset %d lost its sourcestamp %d", raw.(*messages.Buildset).Id, ss)
			}
		}
	}
	if again, _ := planExpiry(txn, hz, time.Unix(10000, 0), logHorizon{}); fmt.Sprint(again) != fmt.Sprint(expiry{}) {
		t.Errorf("a second plan finds %+v", again)
	}
	// A new change, build and step get new ids, above those removed.
	c := apply(t, h.st, &messages.AddChange{Change: &messages.Change{Author: "x", WhenTimestamp: 20000}})
	if c.Id != 12 {
		t.Errorf("new change %d, want 12", c.Id)
	}
}

// Expire refuses what cannot go, writing nothing.
func TestExpireRefuses(t *testing.T) {
	h := newHistory(t)
	for _, c := range []struct {
		x    *messages.Expire
		want string
	}{
		{&messages.Expire{Builds: []uint64{h.builds["a6"]}}, "is not finished"},
		{&messages.Expire{Builds: []uint64{h.builds["b2"]}}, "is the newest of builder 2"},
		{&messages.Expire{Buildrequests: []uint64{h.reqs["a6"]}}, "is not complete"},
		{&messages.Expire{Buildsets: []uint64{h.sets["a1"]}}, "still has build request"},
		{&messages.Expire{Sourcestamps: []uint64{h.ss[0]}}, "is a change's"},
		{&messages.Expire{LogContents: []uint64{h.logs["a6"]}}, "still being written"},
	} {
		_, err := h.st.Submit(messages.NewCommand(c.x)).Wait()
		if err == nil || !containsAll(err.Error(), "bad command: expire", c.want) {
			t.Errorf("%v: %v, want a refusal saying %q", c.x, err, c.want)
		}
	}
	if n := state.Count(h.st.Read(), state.TableBuilds); n != 8 {
		t.Errorf("%d builds after refusals, want 8", n)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// The logs' horizon walks each build once it settles: a run looks at the
// builds that started since the run before and those still pending
// (running, or finished after the cutoff), never at the history behind;
// archived builds read as the others.
func TestLogHorizonWalksOnce(t *testing.T) {
	h := newHistory(t)
	apply(t, h.st, &messages.Archive{Buildids: h.ids(h.builds, "a1", "b1", "a2", "b2", "a3", "a4", "a5")})
	var lh logHorizon
	hz := &messages.HorizonsConfig{Logs: hours(7000)}
	for _, run := range []struct {
		now    int64
		logs   []string
		looked int
	}{
		{10000, []string{"a1", "b1", "a2", "b2", "a3"}, 5}, // cutoff 3000; a3 finished at 3000: pending
		{10000, nil, 1},                  // a3 again
		{13000, []string{"a4", "a5"}, 3}, // cutoff 6000: a3 settles; a6 started at 6000
		{20000, nil, 1},                  // cutoff 13000: a6's step still runs: pending
		{20000, nil, 1},
	} {
		plan, after := planExpiry(h.st.Read(), hz, time.Unix(run.now, 0), lh)
		if want := h.ids(h.logs, run.logs...); fmt.Sprint(plan.logContents) != fmt.Sprint(want) || after.looked != run.looked {
			t.Fatalf("at %d: logs %v, %d builds looked at; want %v (%v), %d", run.now, plan.logContents, after.looked, want, run.logs, run.looked)
		}
		for _, x := range plan.commands(0) {
			apply(t, h.st, x)
		}
		lh = after
	}
}
