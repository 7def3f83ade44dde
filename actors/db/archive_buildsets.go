package db

import (
	"context"
	"fmt"
	"time"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// archiveBuildsets archives the complete buildsets whose builds all
// finished before now-ArchiveAfter, none of them its builder's newest, one
// ArchiveBuildsets of ArchiveBatch buildsets at a time, counting them in
// res.
func archiveBuildsets(ctx context.Context, rt *service.Runtime, now time.Time, res *messages.CleanupResponse) error {
	ids := state.ToArchiveBuildsets(rt.DB.Read(), now.Add(-ArchiveAfter).Unix())
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(ArchiveBatch, len(ids))
		out, err := rt.DB.SubmitWait(ctx, messages.NewCommand(&messages.ArchiveBuildsets{Buildsetids: ids[:n]}))
		if err != nil {
			return fmt.Errorf("janitor: archive buildsets: %w", err)
		}
		res.ArchivedBuildsets += int64(len(out.GetIds()))
		ids = ids[n:]
	}
	return nil
}
