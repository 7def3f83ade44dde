package state

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// LogTypeDeleted is the type of a log whose contents a horizon removed, as
// Buildbot marks them.
const LogTypeDeleted = "d"

// applyExpire removes what the janitor found past the horizons (Expire):
// builds with their steps and logs, then build requests, buildsets,
// changes, sourcestamps, and the contents of logs. An id without a row is
// skipped, so that a janitor that runs again after a crash does no harm;
// one that cannot go (unfinished, or still named by a row that stays) is
// refused. Archived buildsets holding rows to remove are moved back to
// their tables first (unarchiveSets). Its result's ids are the logs whose files are to be removed.
// With web_sessions_expired_at, the web sessions expired then go too.
func applyExpire(txn *memdb.Txn, _ *ids, c *messages.Expire) (*messages.CommandResult, error) {
	const kind = "expire"
	for _, f := range []struct {
		name string
		ids  []uint64
	}{{"builds", c.GetBuilds()}, {"buildrequests", c.GetBuildrequests()}, {"buildsets", c.GetBuildsets()},
		{"changes", c.GetChanges()}, {"sourcestamps", c.GetSourcestamps()}, {"log_contents", c.GetLogContents()}} {
		if err := checkIDs(kind, f.name, f.ids); err != nil {
			return nil, err
		}
	}
	if c.GetWebSessionsExpiredAt() < 0 {
		return nil, bad(kind, "web_sessions_expired_at %d is negative", c.GetWebSessionsExpiredAt())
	}
	for _, t := range []string{TableBuilds, TableSteps, TableLogs, TableBuildRequests, TableBuildsets, TableChanges, TableSourceStamps, TableArchive, TableChangeArchive} {
		if err := raiseIDFloor(txn, t); err != nil {
			return nil, err
		}
	}
	if err := unarchiveSets(txn, c.GetBuilds(), c.GetBuildrequests(), c.GetBuildsets()); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{}
	archived := map[uint64]*messages.ArchiveSegment{} // builds whose steps are in the archive (segments looked up later)
	for i, id := range c.GetBuilds() {
		if err := expireBuild(txn, fmt.Sprintf("%s: builds[%d]", kind, i), id, res, archived); err != nil {
			return nil, err
		}
	}
	if err := expireArchivedBuilds(txn, archived, res); err != nil {
		return nil, err
	}
	for i, id := range c.GetBuildrequests() {
		r, err := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, id)
		switch {
		case err != nil:
			return nil, err
		case r == nil:
			continue
		case !r.Complete:
			return nil, bad(kind, "buildrequests[%d]: build request %d is not complete", i, id)
		}
		if err := txn.Delete(TableBuildRequests, r); err != nil {
			return nil, err
		}
	}
	for i, id := range c.GetBuildsets() {
		if err := expireBuildset(txn, fmt.Sprintf("%s: buildsets[%d]", kind, i), id); err != nil {
			return nil, err
		}
	}
	for _, id := range c.GetChanges() {
		if err := deleteRow(txn, TableChanges, id); err != nil {
			return nil, err
		}
	}
	if err := expireArchivedChanges(txn, c.GetChanges()); err != nil {
		return nil, err
	}
	for i, id := range c.GetSourcestamps() {
		if First(txn, TableChanges, IndexChangeSourceStamp, id) != nil {
			return nil, bad(kind, "sourcestamps[%d]: sourcestamp %d is a change's", i, id)
		}
		if err := deleteRow(txn, TableSourceStamps, id); err != nil {
			return nil, err
		}
	}
	archivedLogs := map[uint64]archivedAt{}
	for i, id := range c.GetLogContents() {
		l, err := get[*messages.Log](txn, TableLogs, IndexID, id)
		if err != nil {
			return nil, err
		}
		var at archivedAt
		if l == nil {
			l, at = findArchivedLog(txn, id)
		}
		inArchive := at.seg != nil
		switch {
		case l == nil || l.Type == LogTypeDeleted:
			continue
		case !l.Complete:
			return nil, bad(kind, "log_contents[%d]: log %d is still being written", i, id)
		case inArchive:
			archivedLogs[id] = at
			res.Ids = append(res.Ids, id)
			continue
		}
		l = proto.CloneOf(l)
		l.Type, l.Lost = LogTypeDeleted, nil
		if err := txn.Insert(TableLogs, l); err != nil {
			return nil, err
		}
		if err := dropChunks(txn, id); err != nil {
			return nil, err
		}
		res.Ids = append(res.Ids, id)
	}
	if err := expireArchivedLogContents(txn, archivedLogs); err != nil {
		return nil, err
	}
	if at := c.GetWebSessionsExpiredAt(); at > 0 {
		if err := expireWebSessions(txn, at); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// expireArchivedBuilds removes the archived steps and logs of builds,
// noting in res the logs that had contents.
func expireArchivedBuilds(txn *memdb.Txn, builds map[uint64]*messages.ArchiveSegment, res *messages.CommandResult) error {
	if len(builds) == 0 {
		return nil
	}
	var logs []uint64
	err := rewriteArchived(txn, builds, func(b *messages.ArchivedBuild) bool {
		for _, l := range b.Logs {
			logs = append(logs, l.Id)
			if l.Type != LogTypeDeleted {
				res.Ids = append(res.Ids, l.Id)
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	for _, id := range logs {
		if err := dropChunks(txn, id); err != nil {
			return err
		}
	}
	return nil
}

// expireArchivedLogContents makes archived logs (by id, where each is)
// deleted (type d).
func expireArchivedLogContents(txn *memdb.Txn, logs map[uint64]archivedAt) error {
	if len(logs) == 0 {
		return nil
	}
	builds := map[uint64]*messages.ArchiveSegment{}
	for _, at := range logs {
		builds[at.build] = at.seg
	}
	err := rewriteArchived(txn, builds, func(b *messages.ArchivedBuild) bool {
		for _, l := range b.Logs {
			if _, ok := logs[l.Id]; ok {
				l.Type, l.Lost = LogTypeDeleted, nil
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	for id := range logs {
		if err := dropChunks(txn, id); err != nil {
			return err
		}
	}
	return nil
}

// expireBuild removes finished build id with its steps and their logs,
// noting in res the logs that had contents; a build without steps in the
// table is added to archived, whose steps expireArchivedBuilds removes.
func expireBuild(txn *memdb.Txn, where string, id uint64, res *messages.CommandResult, archived map[uint64]*messages.ArchiveSegment) error {
	b, err := get[*messages.Build](txn, TableBuilds, IndexID, id)
	switch {
	case err != nil:
		return err
	case b == nil:
		return nil
	case !b.HasResults():
		return bad(where, "build %d is not finished", id)
	}
	if last, err := txn.Last(TableBuilds, IndexBuilderNumber+"_prefix", b.Builderid); err != nil || last == b {
		if err != nil {
			return err
		}
		return bad(where, "build %d is the newest of builder %d: it stays, so that the next build's number follows it", id, b.Builderid)
	}
	steps, err := collect[*messages.Step](txn.Get(TableSteps, IndexBuildNumber+"_prefix", id))
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		archived[id] = nil // if it has steps, they are in the archive
	}
	for _, s := range steps {
		logs, err := collect[*messages.Log](txn.Get(TableLogs, IndexStep, s.Id))
		if err != nil {
			return err
		}
		for _, l := range logs {
			if err := txn.Delete(TableLogs, l); err != nil {
				return err
			}
			if err := dropChunks(txn, l.Id); err != nil {
				return err
			}
			if l.Type != LogTypeDeleted {
				res.Ids = append(res.Ids, l.Id)
			}
		}
		if err := txn.Delete(TableSteps, s); err != nil {
			return err
		}
	}
	return txn.Delete(TableBuilds, b)
}

// expireBuildset removes complete buildset id, whose requests must be gone.
func expireBuildset(txn *memdb.Txn, where string, id uint64) error {
	bs, err := get[*messages.Buildset](txn, TableBuildsets, IndexID, id)
	switch {
	case err != nil:
		return err
	case bs == nil:
		return nil
	case !bs.Complete:
		return bad(where, "buildset %d is not complete", id)
	}
	if r, err := get[*messages.BuildRequest](txn, TableBuildRequests, IndexBuildset, id); err != nil || r != nil {
		if err != nil {
			return err
		}
		return bad(where, "buildset %d still has build request %d", id, r.Id)
	}
	return txn.Delete(TableBuildsets, bs)
}

// deleteRow deletes the row of table whose id is id, if there is one.
func deleteRow(txn *memdb.Txn, table string, id uint64) error {
	raw, err := txn.First(table, IndexID, id)
	if err != nil || raw == nil {
		return err
	}
	return txn.Delete(table, raw)
}
