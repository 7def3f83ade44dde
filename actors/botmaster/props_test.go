package botmaster

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// TestBuildProperties: a build's properties come from, later overriding
// earlier, the master's, its changes' (a later change's over an earlier's),
// its buildset's, its builder's, its worker's, then the build's own, as in
// Buildbot's Build.setupPropertiesKnownBeforeBuildStarts. Each property
// below is set by every source up to the one that must win.
func TestBuildProperties(t *testing.T) {
	db, err := state.NewDB()
	if err != nil {
		t.Fatal(err)
	}
	apply := func(k proto.Message) *messages.CommandResult {
		t.Helper()
		txn := db.Txn(true)
		defer txn.Commit()
		res, err := state.Apply(txn, messages.NewCommand(k))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	props := func(source string, names ...string) []*messages.Property {
		var out []*messages.Property
		for _, n := range names {
			out = append(out, &messages.Property{Name: n, ValueJson: fmt.Sprintf("%q", source), Source: source})
		}
		return out
	}
	apply(&messages.MasterStarted{Name: "m", Time: 1})
	apply(&messages.FindOrAddBuilder{Name: "b"})
	change := func(source string, names ...string) *messages.AddChange {
		return &messages.AddChange{Change: &messages.Change{Author: "a", WhenTimestamp: 1, Branch: "main", Revision: "r",
			Properties: props(source, names...)}}
	}
	ss := apply(change("Change", "change", "change2", "buildset", "builder", "worker", "branch")).GetSourcestampid()
	apply(change("Change2", "change2")) // the same sourcestamp
	apply(&messages.AddChange{Change: &messages.Change{Author: "a", WhenTimestamp: 1, Branch: "other",
		Properties: props("Unrelated", "global")}})
	bs := apply(&messages.AddBuildset{SubmittedAt: 1, SourcestampIds: []uint64{ss}, Builderids: []uint64{1},
		Properties: props("Buildset", "buildset", "builder", "worker", "branch")})

	all := []string{"global", "change", "change2", "buildset", "builder", "worker", "branch"}
	master := &messages.MasterConfig{
		Properties: map[string]string{"global": "Global", "change": "Global", "change2": "Global", "buildset": "Global",
			"builder": "Global", "worker": "Global", "branch": "Global"},
		Workers: []*messages.WorkerConfig{{Name: "w", Properties: map[string]string{"worker": "Worker", "branch": "Worker"}},
			{Name: "other", Properties: map[string]string{"global": "Other"}}},
	}
	builder := &messages.BuilderConfig{Name: "b", Properties: map[string]string{"builder": "Builder", "worker": "Builder", "branch": "Builder"}}
	txn := db.Txn(false)
	req, _ := state.Lookup(txn, state.TableBuildRequests, bs.GetIds()[0]).(*messages.BuildRequest)
	p := buildProperties(txn, master, builder, "w", req)

	var got []string
	for _, name := range append(all, "buildername", "workername", "revision") {
		got = append(got, fmt.Sprintf("%s=%s (%s)", name, p.str(name), p.get(name).GetSource()))
	}
	want := []string{"global=Global (Global)", "change=Change (Change)", "change2=Change2 (Change)", "buildset=Buildset (Buildset)",
		"builder=Builder (Builder)", "worker=Worker (Worker)", "branch=main (Build)",
		"buildername=b (Builder)", "workername=w (Worker)", "revision=r (Build)"}
	if !slices.Equal(got, want) {
		t.Errorf("properties\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(p.list()); n != len(all)+6 { // + buildername, workername, revision, repository, codebase, project
		t.Errorf("%d properties: %v", n, p.list())
	}
}
