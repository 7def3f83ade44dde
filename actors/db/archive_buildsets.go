package db

import (
	"context"
	"time"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
	"google.golang.org/protobuf/proto"
)

// archiveBuildsets archives the complete buildsets whose builds all
// finished before now-ArchiveAfter, none of them its builder's newest, one
// ArchiveBuildsets of ArchiveBatch buildsets at a time, counting them in
// res.
func archiveBuildsets(ctx context.Context, rt *service.Runtime, now time.Time, res *messages.CleanupResponse) error {
	ids := state.ToArchiveBuildsets(rt.DB.Read(), now.Add(-ArchiveAfter).Unix())
	return archiveInBatches(ctx, rt, ids, ArchiveBatch, &res.ArchivedBuildsets, "archive buildsets", func(ids []uint64) proto.Message {
		return &messages.ArchiveBuildsets{Buildsetids: ids}
	})
}
