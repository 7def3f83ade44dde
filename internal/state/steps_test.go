package state

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// Step names are unique within a build, as Buildbot's steps.addStep makes
// them: a name taken gets the first free _N, cut to fit 50 bytes. Every
// way of adding a step (AddStep, AddBuild's steps, FinishStep's next) does
// it; another build's names do not count.
func TestStepNamesAreUniqueInABuild(t *testing.T) {
	long := strings.Repeat("x", MaxStepNameBytes)
	wide := strings.Repeat("x", MaxStepNameBytes-3) + "é" // 49 bytes; cut before é, not inside it
	for _, c := range []struct {
		name  string
		steps []string
		want  []string
	}{
		{"three of one name", []string{"stage", "stage", "stage"}, []string{"stage", "stage_1", "stage_2"}},
		{"a taken suffix", []string{"stage", "stage_1", "stage"}, []string{"stage", "stage_1", "stage_2"}},
		{"a suffixed name taken", []string{"stage", "stage", "stage_1"}, []string{"stage", "stage_1", "stage_1_1"}},
		{"the fixture's step", []string{"compile"}, []string{"compile_1"}},
		{"a name of the limit", []string{long, long, long}, []string{long, long[:48] + "_1", long[:48] + "_2"}},
		{"a cut at a character", []string{wide, wide}, []string{wide, wide[:47] + "_1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := fixture(t) // build 1 has step "compile"
			for _, name := range c.steps {
				mustApply(t, db, addStep(1, name, 130))
			}
			if got := stepNames(db.Txn(false), 1)[1:]; strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("names %q, want %q", got, c.want)
			}
		})
	}

	db := fixture(t)
	mustApply(t, db, claim(1, 130, 2))
	add := addBuild(2, 2, 1, 131)
	add.GetAddBuild().Steps = []*messages.AddStep{{Name: "compile", StartedAt: 131}, {Name: "compile", StartedAt: 131, LogNames: []string{"stdio"}}}
	res := mustApply(t, db, add)
	mustApply(t, db, cmd(&messages.FinishStep{Stepid: res.GetIds()[1], Results: ResultSuccess, CompleteAt: 132,
		Next: &messages.AddStep{Name: "compile", StartedAt: 132}}))
	if got := strings.Join(stepNames(db.Txn(false), 2), " "); got != "compile compile_1 compile_2" {
		t.Errorf("build 2: %s", got)
	}
	if got := strings.Join(stepNames(db.Txn(false), 1), " "); got != "compile" {
		t.Errorf("build 1: %s", got)
	}
}

// stepNames lists the names of build buildid's steps, in order.
func stepNames(txn *memdb.Txn, buildid uint64) []string {
	var names []string
	for row := range ScanIndex(txn, TableSteps, IndexBuildNumber+"_prefix", false, buildid) {
		names = append(names, row.(*messages.Step).GetName())
	}
	return names
}
