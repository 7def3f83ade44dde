package db

import (
	"context"
	"time"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
	"google.golang.org/protobuf/proto"
)

// The janitor archives (ArchiveChanges) the changes added more than
// ArchiveAfter ago but the newest ChangesKept, oldest first,
// ChangeArchiveBatch changes to a command (a segment).
//
// The newest ChangesKept stay in the changes table, where reads cost
// nothing more: the console and changes pages (at most 100 changes a page,
// newest first), a scheduler's read of the changes it was just told of, the
// parent of the next change of a branch, and the builds of recent changes
// (their properties, the reporters). Older changes are read from their
// segments, as they were, at the cost of decoding the ones read. A segment
// of 1,000 changes is one to three index entries per index, and about 200
// KB of bytes that Expire rewrites when one of its changes goes.
const (
	ChangesKept        = 1000
	ChangeArchiveBatch = 1000
)

// archiveChanges archives the changes ChangesToArchive gives at now, one
// ArchiveChanges of ChangeArchiveBatch changes at a time, counting them in
// res.
func archiveChanges(ctx context.Context, rt *service.Runtime, now time.Time, res *messages.CleanupResponse) error {
	ids := state.ChangesToArchive(rt.DB.Read(), now.Add(-ArchiveAfter).Unix(), ChangesKept)
	ids = ids[:len(ids)/ChangeArchiveBatch*ChangeArchiveBatch] // whole segments only: a segment costs the same however small
	return archiveInBatches(ctx, rt, ids, ChangeArchiveBatch, &res.ArchivedChanges, "archive changes", func(ids []uint64) proto.Message {
		return &messages.ArchiveChanges{Changeids: ids}
	})
}
