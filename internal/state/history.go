package state

import (
	"fmt"
	"iter"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// History is the shape of a seeded history of finished builds, for the
// benchmarks and tests of other packages (the test/ harness's master, the
// db actor's janitor). Its Commands apply in order to an empty state, so
// that their ids are known: change, sourcestamp, buildset, request and
// build i+1 belong together. Load or Seed applies them.
type History struct {
	// Builds is how many finished builds: each has a change and
	// sourcestamp of its own, a buildset, a request, and three steps, two
	// with a stdio log of LinesPerLog lines; they started in 1970, so any
	// horizon removes them.
	Builds int
	// Builders (builder-00 …) take the builds in turn.
	Builders int
	// LinesPerLog is each log's line count.
	LinesPerLog int64
	// BuildsetProperties are every buildset's properties.
	BuildsetProperties []*messages.Property
	// ArchiveBatch, when > 0, archives the builds' steps and logs
	// (Archive), this many builds to a segment.
	ArchiveBatch int
	// BuildsetBatch, when > 0, archives the buildsets with their requests
	// and builds but each builder's newest, as the janitor leaves them
	// (ArchiveBuildsets), this many to a segment.
	BuildsetBatch int
	// ChangeBatch, when > 0, archives the changes as the janitor does
	// (ArchiveChanges): all but the newest ChangesKept, in whole segments
	// of ChangeBatch.
	ChangeBatch, ChangesKept int
}

// Commands yields the commands that write h: the master, the builders, each
// build's five commands, then the archives h asks for.
func (h History) Commands() iter.Seq[*messages.Command] {
	cmd := messages.NewCommand
	success := int32(ResultSuccess)
	properties := func() []*messages.Property { // each buildset its own, as rows never share
		if len(h.BuildsetProperties) == 0 {
			return nil
		}
		out := make([]*messages.Property, len(h.BuildsetProperties))
		for i, p := range h.BuildsetProperties {
			out[i] = proto.CloneOf(p)
		}
		return out
	}
	return func(yield func(*messages.Command) bool) {
		if !yield(cmd(&messages.MasterStarted{Name: "seeded", Time: 100})) {
			return
		}
		for i := range h.Builders {
			if !yield(cmd(&messages.FindOrAddBuilder{Name: fmt.Sprintf("builder-%02d", i)})) {
				return
			}
		}
		for i := range h.Builds {
			at, id := int64(2_000_000+10*i), uint64(i+1)
			builder := uint64(1 + i%h.Builders)
			step, log := uint64(3*i+1), uint64(2*i+1)
			for _, c := range []*messages.Command{
				cmd(&messages.AddChange{Change: &messages.Change{Author: fmt.Sprintf("author-%d", i%500), Branch: "main",
					Revision: fmt.Sprintf("%040x", i), WhenTimestamp: at, Comments: "a change"}}),
				cmd(&messages.AddBuildset{Reason: "scheduler", SubmittedAt: at, SourcestampIds: []uint64{id}, Builderids: []uint64{builder},
					Properties: properties()}),
				cmd(&messages.AddBuild{Builderid: builder, Buildrequestid: id, Masterid: 1, StartedAt: at, WorkerName: "w1",
					StateString: "building", ClaimBrids: []uint64{id}, Steps: []*messages.AddStep{
						{Name: "worker_preparation", StartedAt: at, Results: &success, CompleteAt: at},
						{Name: "git", StartedAt: at, LogNames: []string{"stdio"}},
						{Name: "test", StartedAt: at, LogNames: []string{"stdio"}}}}),
				cmd(&messages.FinishStep{Stepid: step + 1, Results: ResultSuccess, CompleteAt: at + 1,
					Logs: []*messages.LogLines{{Logid: log, NumLines: h.LinesPerLog}}}),
				cmd(&messages.FinishBuild{Buildid: id, Results: ResultSuccess, CompleteAt: at + 5, Brids: []uint64{id},
					LastStep: &messages.FinishStep{Stepid: step + 2, Results: ResultSuccess, CompleteAt: at + 5,
						Logs: []*messages.LogLines{{Logid: log + 1, NumLines: h.LinesPerLog}}}}),
			} {
				if !yield(c) {
					return
				}
			}
		}
		// archive yields c of ids 1…upTo, batch at a time (with wholeOnly,
		// whole batches only); false when the caller stopped.
		archive := func(upTo, batch int, wholeOnly bool, c func([]uint64) *messages.Command) bool {
			for first := 1; batch > 0 && first <= upTo; first += batch {
				if wholeOnly && first+batch-1 > upTo {
					return true
				}
				var ids []uint64
				for id := first; id < first+batch && id <= upTo; id++ {
					ids = append(ids, uint64(id))
				}
				if !yield(c(ids)) {
					return false
				}
			}
			return true
		}
		if !archive(h.Builds, h.ArchiveBatch, false, func(ids []uint64) *messages.Command {
			return cmd(&messages.Archive{Buildids: ids})
		}) {
			return
		}
		if !archive(h.Builds-h.Builders, h.BuildsetBatch, false, func(ids []uint64) *messages.Command {
			return cmd(&messages.ArchiveBuildsets{Buildsetids: ids})
		}) {
			return
		}
		archive(h.Builds-h.ChangesKept, h.ChangeBatch, true, func(ids []uint64) *messages.Command {
			return cmd(&messages.ArchiveChanges{Changeids: ids})
		})
	}
}
