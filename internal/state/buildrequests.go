package state

import (
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applyClaim claims every request of brids for master masterid at
// claimed_at, or none: each must exist, be listed once, and be neither
// complete nor claimed. Its result lists brids.
func applyClaim(txn *memdb.Txn, seq *ids, c *messages.ClaimBuildRequests) (*messages.CommandResult, error) {
	const kind = "claim_build_requests"
	if c == nil || c.Masterid == 0 {
		return nil, bad(kind, "masterid is required")
	}
	if c.ClaimedAt <= 0 {
		return nil, bad(kind, "claimed_at is required (epoch seconds, > 0)")
	}
	if len(c.Brids) == 0 {
		return nil, bad(kind, "brids is empty")
	}
	if err := checkIDs(kind, "brids", c.Brids); err != nil {
		return nil, err
	}
	if err := exists(txn, kind, "master", TableMasters, c.Masterid); err != nil {
		return nil, err
	}
	// Check all first: a claim is all or nothing (Buildbot's AlreadyClaimedError).
	reqs := make([]*messages.BuildRequest, 0, len(c.Brids))
	seen := map[uint64]bool{}
	for i, id := range c.Brids {
		r, _ := Lookup(txn, TableBuildRequests, id).(*messages.BuildRequest) // an archived one is complete
		switch {
		case r == nil:
			return nil, bad(kind, "brids[%d]: build request %d does not exist", i, id)
		case seen[id]:
			return nil, bad(kind, "brids[%d]: build request %d listed twice", i, id)
		case r.Complete:
			return nil, bad(kind, "brids[%d]: build request %d is complete (already claimed)", i, id)
		case r.Claim != nil:
			return nil, bad(kind, "brids[%d]: build request %d is already claimed by master %d", i, id, r.Claim.Masterid)
		}
		seen[id] = true
		reqs = append(reqs, r)
	}
	for _, r := range reqs {
		r = proto.Clone(r).(*messages.BuildRequest)
		r.Claim = &messages.BuildRequestClaim{Masterid: c.Masterid, ClaimedAt: c.ClaimedAt}
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return nil, err
		}
	}
	return &messages.CommandResult{Ids: append([]uint64(nil), c.Brids...)}, nil
}

// applyCompleteBuildRequests completes the requests of brids, none of which
// may be complete, with results at complete_at, then each of their buildsets
// left with no incomplete request (result: brids, completed_buildsets).
func applyCompleteBuildRequests(txn *memdb.Txn, _ *ids, c *messages.CompleteBuildRequests) (*messages.CommandResult, error) {
	const kind = "complete_build_requests"
	if len(c.GetBrids()) == 0 {
		return nil, bad(kind, "brids is empty")
	}
	if err := checkIDs(kind, "brids", c.GetBrids()); err != nil {
		return nil, err
	}
	if err := checkResults(kind, c.GetResults()); err != nil {
		return nil, err
	}
	if c.GetCompleteAt() <= 0 {
		return nil, bad(kind, "complete_at is required (epoch seconds, > 0)")
	}
	reqs, err := requests(txn, kind, c.GetBrids())
	if err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if r.Complete {
			return nil, bad(kind, "brids[%d]: build request %d is already complete", i, r.Id)
		}
		if c.GetUnclaimedOnly() && r.Claim != nil {
			return nil, bad(kind, "brids[%d]: build request %d has started (its build can be stopped)", i, r.Id)
		}
	}
	res := &messages.CommandResult{Ids: append([]uint64(nil), c.GetBrids()...)}
	return res, complete(txn, reqs, c.GetResults(), c.GetCompleteAt(), res)
}

// complete completes reqs with results, then each of their buildsets whose
// requests are all complete, noting those in res.
func complete(txn *memdb.Txn, reqs []*messages.BuildRequest, results int32, at int64, res *messages.CommandResult) error {
	buildsets := map[uint64]bool{}
	var order []uint64
	for _, r := range reqs {
		r = proto.CloneOf(r)
		r.Complete, r.Results, r.CompleteAt, r.Claim = true, &results, at, nil
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return err
		}
		if !buildsets[r.Buildsetid] {
			buildsets[r.Buildsetid] = true
			order = append(order, r.Buildsetid)
		}
	}
	for _, bsid := range order {
		done, err := maybeBuildsetComplete(txn, bsid, at)
		if err != nil {
			return err
		}
		if done {
			res.CompletedBuildsets = append(res.CompletedBuildsets, bsid)
		}
	}
	return nil
}

// applyUnclaimBuildRequests drops master masterid's claims on the incomplete
// requests of brids, leaving the others alone; its result lists those it
// unclaimed.
func applyUnclaimBuildRequests(txn *memdb.Txn, _ *ids, c *messages.UnclaimBuildRequests) (*messages.CommandResult, error) {
	const kind = "unclaim_build_requests"
	if c.GetMasterid() == 0 {
		return nil, bad(kind, "masterid is required")
	}
	if err := checkIDs(kind, "brids", c.GetBrids()); err != nil {
		return nil, err
	}
	reqs, err := requests(txn, kind, c.GetBrids())
	if err != nil {
		return nil, err
	}
	res := &messages.CommandResult{}
	return res, unclaim(txn, reqs, c.GetMasterid(), res)
}

// unclaim drops masterid's claims on the incomplete requests of reqs,
// noting them in res.
func unclaim(txn *memdb.Txn, reqs []*messages.BuildRequest, masterid uint64, res *messages.CommandResult) error {
	for _, r := range reqs {
		if r.Complete || r.Claim == nil || r.Claim.Masterid != masterid {
			continue
		}
		r = proto.CloneOf(r)
		r.Claim = nil
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return err
		}
		res.Ids = append(res.Ids, r.Id)
		res.RequestsUnclaimed++
	}
	return nil
}

// requests reads the listed build requests, each of which must exist, once.
// Archived requests are read too (they are complete: the callers leave
// complete requests alone).
func requests(txn *memdb.Txn, kind string, brids []uint64) ([]*messages.BuildRequest, error) {
	out := make([]*messages.BuildRequest, 0, len(brids))
	seen := make(map[uint64]bool, len(brids))
	for i, id := range brids {
		r, _ := Lookup(txn, TableBuildRequests, id).(*messages.BuildRequest)
		switch {
		case r == nil:
			return nil, bad(kind, "brids[%d]: build request %d does not exist", i, id)
		case seen[id]:
			return nil, bad(kind, "brids[%d]: build request %d listed twice", i, id)
		}
		seen[id] = true
		out = append(out, r)
	}
	return out, nil
}
