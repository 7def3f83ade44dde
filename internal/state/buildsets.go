package state

import (
	"fmt"
	"slices"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applyAddBuildset adds a buildset of the given and found-or-added
// sourcestamps and one build request per builder (given by id, or by name,
// found or added), collapsing older requests for the builders named in
// collapse_builder_names. Its result is the buildset's id and the requests'
// ids, in builder order, with what collapsing completed.
func applyAddBuildset(txn *memdb.Txn, seq *ids, c *messages.AddBuildset) (*messages.CommandResult, error) {
	if err := checkAddBuildset(txn, c); err != nil {
		return nil, err
	}
	ssids := append([]uint64(nil), c.SourcestampIds...)
	for _, want := range c.Sourcestamps {
		want = proto.CloneOf(want)
		if want.CreatedAt <= 0 {
			want.CreatedAt = c.SubmittedAt
		}
		ss, err := findOrAddSourceStamp(txn, seq, want)
		if err != nil {
			return nil, err
		}
		ssids = append(ssids, ss.Id)
	}
	builderids := append([]uint64(nil), c.Builderids...)
	collapsing := map[uint64]bool{}
	for _, n := range c.BuilderNames {
		id, err := findOrAddBuilder(txn, seq, n, "", nil)
		if err != nil {
			return nil, err
		}
		builderids = append(builderids, id)
		collapsing[id] = slices.Contains(c.CollapseBuilderNames, n)
	}
	bsid, err := seq.nextID(txn, TableBuildsets)
	if err != nil {
		return nil, err
	}
	bs := &messages.Buildset{
		Id: bsid, ExternalIdstring: c.ExternalIdstring, Reason: c.Reason, SubmittedAt: c.SubmittedAt,
		ParentBuildid: c.ParentBuildid, ParentRelationship: c.ParentRelationship,
		SourcestampIds: ssids,
	}
	for _, p := range c.Properties {
		bs.Properties = append(bs.Properties, proto.Clone(p).(*messages.Property))
	}
	if err := txn.Insert(TableBuildsets, bs); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: bsid}
	for _, bid := range builderids {
		id, err := seq.nextID(txn, TableBuildRequests)
		if err != nil {
			return nil, err
		}
		r := &messages.BuildRequest{
			Id: id, Buildsetid: bsid, Builderid: bid, Priority: c.Priority,
			SubmittedAt: c.SubmittedAt, WaitedFor: c.WaitedFor,
		}
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return nil, err
		}
		res.Ids = append(res.Ids, id)
		if collapsing[bid] {
			if err := collapse(txn, r, bs, c.SubmittedAt, res); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// checkAddBuildset checks an AddBuildset before anything is written: its
// fields and limits, and that the sourcestamps and builders it gives by id
// exist.
func checkAddBuildset(txn *memdb.Txn, c *messages.AddBuildset) error {
	const kind = "add_buildset"
	if c == nil {
		return bad(kind, "empty command")
	}
	if c.SubmittedAt <= 0 {
		return bad(kind, "submitted_at is required (epoch seconds, > 0)")
	}
	if len(c.Builderids)+len(c.BuilderNames) == 0 {
		return bad(kind, "builderids and builder_names are empty: a buildset needs at least one builder")
	}
	if len(c.BuilderNames) > MaxIDs || len(c.Sourcestamps) > MaxIDs {
		return bad(kind, "%d builder names and %d sourcestamps; the limit is %d each", len(c.BuilderNames), len(c.Sourcestamps), MaxIDs)
	}
	for i, n := range c.CollapseBuilderNames {
		if !slices.Contains(c.BuilderNames, n) {
			return bad(kind, "collapse_builder_names[%d]: %q is not one of builder_names", i, n)
		}
	}
	for i, n := range c.BuilderNames {
		if n == "" {
			return bad(kind, "builder_names[%d] is empty", i)
		}
		if err := checkStr(kind, fmt.Sprintf("builder_names[%d]", i), n, MaxFieldBytes); err != nil {
			return err
		}
	}
	for i, ss := range c.Sourcestamps {
		for _, f := range []struct{ name, v string }{
			{"branch", ss.GetBranch()}, {"revision", ss.GetRevision()}, {"repository", ss.GetRepository()},
			{"codebase", ss.GetCodebase()}, {"project", ss.GetProject()},
		} {
			if err := checkStr(kind, fmt.Sprintf("sourcestamps[%d].%s", i, f.name), f.v, MaxFieldBytes); err != nil {
				return err
			}
		}
	}
	for _, f := range []struct{ name, v string }{
		{"external_idstring", c.ExternalIdstring}, {"reason", c.Reason}, {"parent_relationship", c.ParentRelationship},
	} {
		if err := checkStr(kind, f.name, f.v, MaxFieldBytes); err != nil {
			return err
		}
	}
	if err := checkProps(kind, "properties", c.Properties); err != nil {
		return err
	}
	if err := checkIDs(kind, "builderids", c.Builderids); err != nil {
		return err
	}
	if err := checkIDs(kind, "sourcestamp_ids", c.SourcestampIds); err != nil {
		return err
	}
	for i, id := range c.SourcestampIds {
		if err := exists(txn, kind, "sourcestamp", TableSourceStamps, id, "sourcestamp_ids[%d]", i); err != nil {
			return err
		}
	}
	for i, id := range c.Builderids {
		if err := exists(txn, kind, "builder", TableBuilders, id, "builderids[%d]", i); err != nil {
			return err
		}
	}
	return nil
}

// maybeBuildsetComplete completes buildset bsid when every one of its
// requests is complete, with the worst of their results (Buildbot's
// maybeBuildsetComplete). It reports whether it did.
func maybeBuildsetComplete(txn *memdb.Txn, bsid uint64, at int64) (bool, error) {
	bs, err := get[*messages.Buildset](txn, TableBuildsets, IndexID, bsid)
	if err != nil || bs == nil || bs.Complete {
		return false, err
	}
	// Stop at the first incomplete request: a large buildset is otherwise
	// read whole at each of its requests' completion.
	it, err := txn.Get(TableBuildRequests, IndexBuildset, bsid)
	if err != nil {
		return false, err
	}
	results := int32(ResultSuccess)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*messages.BuildRequest)
		if !r.Complete {
			return false, nil
		}
		results = Worst(results, r.GetResults())
	}
	bs = proto.CloneOf(bs)
	bs.Complete, bs.CompleteAt, bs.Results = true, at, &results
	return true, txn.Insert(TableBuildsets, bs)
}
