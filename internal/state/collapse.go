package state

import (
	"bytes"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// collapse completes as SKIPPED the older unclaimed requests of the new
// request's builder that it may take the place of (Buildbot's
// BuildRequestCollapser with the default canBeCollapsed), and completes
// their buildsets when that was their last request.
func collapse(txn *memdb.Txn, newReq *messages.BuildRequest, newBS *messages.Buildset, at int64, res *messages.CommandResult) error {
	olds, err := collect[*messages.BuildRequest](txn.Get(TableBuildRequests, IndexUnclaimed+"_prefix", newReq.Builderid))
	if err != nil {
		return err
	}
	skipped := int32(ResultSkipped)
	buildsets := map[uint64]bool{}
	for _, old := range olds {
		if old.Id >= newReq.Id || old.Buildsetid == newReq.Buildsetid {
			continue
		}
		oldBS, err := get[*messages.Buildset](txn, TableBuildsets, IndexID, old.Buildsetid)
		if err != nil {
			return err
		}
		if ok, err := canBeCollapsed(txn, newBS, oldBS); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		old = proto.CloneOf(old)
		old.Complete, old.Results, old.CompleteAt = true, &skipped, at
		if err := txn.Insert(TableBuildRequests, old); err != nil {
			return err
		}
		res.CollapsedBrids = append(res.CollapsedBrids, old.Id)
		buildsets[old.Buildsetid] = true
	}
	ids := make([]uint64, 0, len(buildsets))
	for id := range buildsets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		done, err := maybeBuildsetComplete(txn, id, at)
		if err != nil {
			return err
		}
		if done {
			res.CompletedBuildsets = append(res.CompletedBuildsets, id)
		}
	}
	return nil
}

// canBeCollapsed is Buildbot's default rule: the same codebases, each with
// the same repository, branch and project and no patch; both with changes,
// or neither and the same revision; and the same scheduler-given properties
// (but `scheduler`).
func canBeCollapsed(txn *memdb.Txn, newBS, oldBS *messages.Buildset) (bool, error) {
	newSS, err := stampsByCodebase(txn, newBS)
	if err != nil {
		return false, err
	}
	oldSS, err := stampsByCodebase(txn, oldBS)
	if err != nil || len(newSS) != len(oldSS) {
		return false, err
	}
	for cb, n := range newSS {
		o, ok := oldSS[cb]
		if !ok || n.Repository != o.Repository || n.Branch != o.Branch || n.Project != o.Project || n.Patchid != 0 || o.Patchid != 0 {
			return false, nil
		}
		nc, err := hasChanges(txn, n.Id)
		if err != nil {
			return false, err
		}
		oc, err := hasChanges(txn, o.Id)
		if err != nil {
			return false, err
		}
		if nc != oc || (!nc && n.Revision != o.Revision) {
			return false, nil
		}
	}
	return bytes.Equal(schedulerProps(newBS), schedulerProps(oldBS)), nil
}

// stampsByCodebase returns the buildset's sourcestamps by codebase.
func stampsByCodebase(txn *memdb.Txn, bs *messages.Buildset) (map[string]*messages.SourceStamp, error) {
	out := map[string]*messages.SourceStamp{}
	for _, id := range bs.GetSourcestampIds() {
		ss, err := get[*messages.SourceStamp](txn, TableSourceStamps, IndexID, id)
		if err != nil {
			return nil, err
		}
		if ss != nil {
			out[ss.Codebase] = ss
		}
	}
	return out, nil
}

// hasChanges reports whether a change has sourcestamp ssid.
func hasChanges(txn *memdb.Txn, ssid uint64) (bool, error) {
	return First(txn, TableChanges, IndexChangeSourceStamp, ssid) != nil, nil
}

// schedulerProps encodes the buildset's properties whose source is
// "Scheduler", but `scheduler`, sorted by name, for comparison.
func schedulerProps(bs *messages.Buildset) []byte {
	var props []*messages.Property
	for _, p := range bs.GetProperties() {
		if p.GetSource() == "Scheduler" && p.GetName() != "scheduler" {
			props = append(props, p)
		}
	}
	slices.SortFunc(props, func(a, b *messages.Property) int { return strings.Compare(a.GetName(), b.GetName()) })
	var out []byte
	for _, p := range props {
		out = append(out, p.GetName()...)
		out = append(out, 0)
		out = append(out, p.GetValueJson()...)
		out = append(out, 0)
	}
	return out
}
