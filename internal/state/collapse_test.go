package state

import (
	"fmt"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// TestCollapse works through Buildbot's default canBeCollapsed: each case
// adds an older buildset, then a newer one, and says which of the older
// requests end SKIPPED.
func TestCollapse(t *testing.T) {
	type bs struct {
		rev, branch string
		change      bool   // the sourcestamp has a change
		schedProp   string // value of a Scheduler-sourced property
		builders    []string
		collapse    []string
	}
	force := func(rev string) bs {
		return bs{rev: rev, branch: "main", builders: []string{"b1"}, collapse: []string{"b1"}}
	}
	for _, c := range []struct {
		name      string
		old, new  bs
		claimOld  bool
		collapsed bool
	}{
		{"same revision, no changes", force("r1"), force("r1"), false, true},
		{"other revision, no changes", force("r1"), force("r2"), false, false},
		{"both with changes", bs{rev: "r1", branch: "main", change: true, builders: []string{"b1"}},
			bs{rev: "r2", branch: "main", change: true, builders: []string{"b1"}, collapse: []string{"b1"}}, false, true},
		{"one with changes", bs{rev: "r1", branch: "main", change: true, builders: []string{"b1"}}, force("r9"), false, false},
		{"other branch", force("r1"), bs{rev: "r1", branch: "dev", builders: []string{"b1"}, collapse: []string{"b1"}}, false, false},
		{"other scheduler properties", bs{rev: "r1", branch: "main", schedProp: "a", builders: []string{"b1"}},
			bs{rev: "r1", branch: "main", schedProp: "b", builders: []string{"b1"}, collapse: []string{"b1"}}, false, false},
		{"old one already claimed", force("r1"), force("r1"), true, false},
		{"collapsing off for the builder", force("r1"), bs{rev: "r1", branch: "main", builders: []string{"b1"}}, false, false},
		{"other builder", force("r1"), bs{rev: "r1", branch: "main", builders: []string{"b2"}, collapse: []string{"b2"}}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := newDB(t)
			mustApply(t, db, masterStarted(0, "m", 1))
			add := func(b bs, at int64) *messages.CommandResult {
				ss := &messages.SourceStamp{Branch: b.branch, Revision: b.rev, Repository: "git://r"}
				var ssids []uint64
				if b.change {
					res := mustApply(t, db, addChange(&messages.Change{Author: "a", WhenTimestamp: at, Branch: b.branch, Revision: b.rev, Repository: "git://r"}))
					ssids = []uint64{res.Sourcestampid}
				}
				var props []*messages.Property
				if b.schedProp != "" {
					props = append(props, &messages.Property{Name: "p", ValueJson: fmt.Sprintf("%q", b.schedProp), Source: "Scheduler"})
				}
				props = append(props, &messages.Property{Name: "scheduler", ValueJson: fmt.Sprintf(`"s%d"`, at), Source: "Scheduler"})
				cmd := &messages.AddBuildset{SubmittedAt: at, BuilderNames: b.builders, CollapseBuilderNames: b.collapse, Properties: props,
					SourcestampIds: ssids}
				if !b.change {
					cmd.Sourcestamps = []*messages.SourceStamp{ss}
				}
				return mustApply(t, db, &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: cmd}})
			}
			old := add(c.old, 10)
			if c.claimOld {
				mustApply(t, db, claim(1, 11, old.Ids[0]))
			}
			res := add(c.new, 20)
			r, _ := get[*messages.BuildRequest](db.Txn(false), TableBuildRequests, IndexID, old.Ids[0])
			skipped := r.Complete && r.GetResults() == ResultSkipped
			if skipped != c.collapsed || (len(res.CollapsedBrids) == 1) != c.collapsed {
				t.Fatalf("old request %v, collapsed %v; want collapsed=%v", r, res.CollapsedBrids, c.collapsed)
			}
			bs, _ := get[*messages.Buildset](db.Txn(false), TableBuildsets, IndexID, old.Id)
			if c.collapsed && (!bs.Complete || bs.GetResults() != ResultSuccess || len(res.CompletedBuildsets) != 1) {
				t.Fatalf("old buildset %v (completed %v)", bs, res.CompletedBuildsets)
			}
		})
	}
}

func TestCollapseNamesMustBeBuilders(t *testing.T) {
	db := newDB(t)
	txn := db.Txn(true)
	defer txn.Abort()
	_, err := Apply(txn, &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
		SubmittedAt: 1, BuilderNames: []string{"b1"}, CollapseBuilderNames: []string{"b2"}}}})
	if err == nil || !strings.Contains(err.Error(), `collapse_builder_names[0]: "b2" is not one of builder_names`) {
		t.Fatalf("err %v", err)
	}
}
