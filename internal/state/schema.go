package state

import (
	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// Table names. Tables lists them in the fixed order used by snapshots and dumps.
const (
	TableMasters       = "masters"
	TableChanges       = "changes"
	TableSourceStamps  = "sourcestamps"
	TableBuildsets     = "buildsets"
	TableBuildRequests = "buildrequests"
	TableBuilders      = "builders"
	TableBuilds        = "builds"
	TableSteps         = "steps"
	TableLogs          = "logs"
	TableLogChunks     = "logchunks"
	TableWorkers       = "workers"
	TableSchedulers    = "schedulers"
	TableChangeSources = "changesources"
	TableObjects       = "objects"
	TableObjectState   = "object_state"
	TableUsers         = "users"
	TableUsersInfo     = "users_info"
	TableReporters     = "reporters"
	TableOutbox        = "outbox"
	TableChangeUsers   = "change_users"
	TableApiTokens     = "api_tokens"
	TableIDFloors      = "id_floors"
	TableWebSessions   = "web_sessions"
	TableArchive       = "archive"
)

// Index names besides "id".
const (
	IndexID = "id"
	// IndexName is the unique name index of masters, builders, workers,
	// schedulers and change sources.
	IndexName = "name"
	// IndexBranch lists changes by branch, oldest first (args: branch string).
	IndexBranch = "branch"
	// IndexChangeSourceStamp lists changes by sourcestampid.
	IndexChangeSourceStamp = "sourcestamp"
	// IndexSSHash finds a sourcestamp by its ss_hash.
	IndexSSHash = "ss_hash"
	// IndexUnclaimed holds only unclaimed, incomplete build requests, keyed
	// (builderid, submitted_at, id): Get(TableBuildRequests,
	// IndexUnclaimed+"_prefix", builderid) lists a builder's oldest first.
	IndexUnclaimed = "unclaimed"
	// IndexClaimedBy holds only claimed, incomplete build requests, by claiming masterid.
	IndexClaimedBy = "claimed_by"
	// IndexBuildset lists build requests by buildsetid.
	IndexBuildset = "buildset"
	// IndexBuildRequest lists builds by buildrequestid.
	IndexBuildRequest = "buildrequest"
	// IndexBuilderNumber is unique on builds (builderid, number).
	IndexBuilderNumber = "builder_number"
	// IndexIncompleteBy holds only incomplete builds, by masterid.
	IndexIncompleteBy = "incomplete_by"
	// IndexBuildNumber is unique on steps (buildid, number).
	IndexBuildNumber = "build_number"
	// IndexStep lists logs by stepid.
	IndexStep = "step"
	// IndexIdentifier is the unique identifier index of users.
	IndexIdentifier = "identifier"
	// IndexReporter lists the outbox by (reporter, id): a reporter's
	// reports oldest first.
	IndexReporter = "reporter"
	// IndexReport is unique on the outbox's (reporter, buildid, workerid,
	// event): a build's report, or a worker's missing notice.
	IndexReport = "report"
	// IndexUsername is the unique bb_username index of users (users
	// without one are not in it).
	IndexUsername = "username"
	// IndexAttr finds users_info rows by (attr_type, attr_data).
	IndexAttr = "attr"
	// IndexUID lists change_users and api_tokens rows by uid.
	IndexUID = "uid"
	// IndexSHA256 is the unique hash index of api_tokens.
	IndexSHA256 = "sha256"
	// IndexExpires lists web_sessions by (expires_at, sha256), those that
	// expire soonest first.
	IndexExpires = "expires"
)

// Tables is every table, in snapshot order. A new table goes at the end: a
// snapshot names a table by its position.
var Tables = []string{
	TableMasters, TableChanges, TableSourceStamps, TableBuildsets, TableBuildRequests,
	TableBuilders, TableBuilds, TableSteps, TableLogs, TableLogChunks, TableWorkers,
	TableSchedulers, TableChangeSources, TableObjects, TableObjectState, TableUsers,
	TableUsersInfo, TableReporters, TableOutbox, TableChangeUsers, TableApiTokens, TableIDFloors,
	TableWebSessions, TableArchive, TableBuildsetArchive, TableChangeArchive,
}

// idx is a secondary index on the values fn gives for a row; a row fn
// leaves out is not in it.
func idx(name string, unique bool, fn func(obj any) (keyVals, bool)) *memdb.IndexSchema {
	ix := keyIndex{fn: fn}
	if !unique {
		ix.room = keyDigits // go-memdb appends the row's id key, most often one integer
	}
	return &memdb.IndexSchema{Name: name, Unique: unique, AllowMissing: true, Indexer: ix}
}

// always is the result of a key function for a row that is always indexed.
func always(vals keyVals) (keyVals, bool) { return vals, true }

// table is a table whose id index is on the values id gives, with more
// indexes.
func table(name string, id func(obj any) (keyVals, bool), more ...*memdb.IndexSchema) *memdb.TableSchema {
	t := &memdb.TableSchema{Name: name, Indexes: map[string]*memdb.IndexSchema{}}
	t.Indexes[IndexID] = &memdb.IndexSchema{Name: IndexID, Unique: true, Indexer: keyIndex{fn: id}}
	for _, i := range more {
		t.Indexes[i.Name] = i
	}
	return t
}

// Schema returns the memdb schema: one table per record type. It is one
// list, an entry a table, so that every table and index is read in one
// place; a new table adds its entry.
func Schema() *memdb.DBSchema {
	ts := []*memdb.TableSchema{
		table(TableMasters, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Master).Id)) },
			idx(IndexName, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.Master).Name)) })),
		table(TableChanges, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Change).Changeid)) },
			idx(IndexBranch, false, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.Change).Branch)) }),
			idx(IndexChangeSourceStamp, false, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Change).Sourcestampid)) })),
		table(TableSourceStamps, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.SourceStamp).Id)) },
			idx(IndexSSHash, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.SourceStamp).SsHash)) })),
		table(TableBuildsets, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Buildset).Id)) }),
		table(TableBuildRequests, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.BuildRequest).Id)) },
			idx(IndexBuildset, false, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.BuildRequest).Buildsetid)) }),
			idx(IndexUnclaimed, true, func(o any) (keyVals, bool) {
				r := o.(*messages.BuildRequest)
				if r.Complete || r.Claim != nil {
					return keyVals{}, false
				}
				return always(key().uint(r.Builderid).int(r.SubmittedAt).uint(r.Id))
			}),
			idx(IndexClaimedBy, false, func(o any) (keyVals, bool) {
				r := o.(*messages.BuildRequest)
				if r.Complete || r.Claim == nil {
					return keyVals{}, false
				}
				return always(key().uint(r.Claim.Masterid))
			})),
		table(TableBuilders, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Builder).Id)) },
			idx(IndexName, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.Builder).Name)) })),
		table(TableBuilds, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Build).Id)) },
			idx(IndexBuilderNumber, true, func(o any) (keyVals, bool) {
				b := o.(*messages.Build)
				return always(key().uint(b.Builderid).int(int64(b.Number)))
			}),
			idx(IndexBuildRequest, false, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Build).Buildrequestid)) }),
			idx(IndexIncompleteBy, false, func(o any) (keyVals, bool) {
				b := o.(*messages.Build)
				if b.CompleteAt != 0 || b.Results != nil {
					return keyVals{}, false
				}
				return always(key().uint(b.Masterid))
			})),
		table(TableSteps, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Step).Id)) },
			idx(IndexBuildNumber, true, func(o any) (keyVals, bool) {
				s := o.(*messages.Step)
				return always(key().uint(s.Buildid).int(int64(s.Number)))
			})),
		table(TableLogs, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Log).Id)) },
			idx(IndexStep, false, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Log).Stepid)) })),
		table(TableLogChunks, func(o any) (keyVals, bool) {
			c := o.(*messages.LogChunk)
			return always(key().uint(c.Logid).int(c.FirstLine))
		}),
		table(TableWorkers, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Worker).Id)) },
			idx(IndexName, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.Worker).Name)) })),
		table(TableSchedulers, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.Scheduler).Id)) },
			idx(IndexName, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.Scheduler).Name)) })),
		table(TableChangeSources, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.ChangeSource).Id)) },
			idx(IndexName, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.ChangeSource).Name)) })),
		table(TableObjects, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.StateObject).Id)) },
			idx(IndexName, true, func(o any) (keyVals, bool) {
				s := o.(*messages.StateObject)
				return always(key().str(s.Name).str(s.ClassName))
			})),
		table(TableObjectState, func(o any) (keyVals, bool) {
			s := o.(*messages.ObjectState)
			return always(key().uint(s.Objectid).str(s.Name))
		}),
		table(TableUsers, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.User).Uid)) },
			idx(IndexIdentifier, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.User).Identifier)) }),
			idx(IndexUsername, true, func(o any) (keyVals, bool) {
				u := o.(*messages.User)
				return key().str(u.BbUsername), u.BbUsername != ""
			})),
		table(TableUsersInfo, func(o any) (keyVals, bool) {
			u := o.(*messages.UserInfo)
			return always(key().uint(u.Uid).str(u.AttrType))
		}, idx(IndexAttr, false, func(o any) (keyVals, bool) {
			u := o.(*messages.UserInfo)
			return always(key().str(u.AttrType).str(u.AttrData))
		})),
		table(TableChangeUsers, func(o any) (keyVals, bool) {
			c := o.(*messages.ChangeUser)
			return always(key().uint(c.Changeid).uint(c.Uid))
		}, idx(IndexUID, false, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.ChangeUser).Uid)) })),
		table(TableApiTokens, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.ApiToken).Id)) },
			idx(IndexUID, false, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.ApiToken).Uid)) }),
			idx(IndexSHA256, true, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.ApiToken).Sha256)) })),
		table(TableReporters, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.Reporter).Name)) }),
		table(TableOutbox, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.OutboxEntry).Id)) },
			idx(IndexReporter, true, func(o any) (keyVals, bool) {
				e := o.(*messages.OutboxEntry)
				return always(key().str(e.Reporter).uint(e.Id))
			}),
			idx(IndexReport, true, func(o any) (keyVals, bool) {
				e := o.(*messages.OutboxEntry)
				return always(key().str(e.Reporter).uint(e.Buildid).uint(e.GetWorker().GetWorkerid()).str(e.Event))
			})),
		table(TableIDFloors, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.IdFloor).Table)) }),
		table(TableWebSessions, func(o any) (keyVals, bool) { return always(key().str(o.(*messages.WebSession).Sha256)) },
			idx(IndexExpires, true, func(o any) (keyVals, bool) {
				s := o.(*messages.WebSession)
				return always(key().int(s.ExpiresAt).str(s.Sha256))
			})),
		archiveSchema(),
		buildsetArchiveSchema(),
		changeArchiveSchema(),
	}
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, t := range append(ts, rowCountSchema()) {
		s.Tables[t.Name] = t
	}
	return s
}

// NewDB returns an empty database with Schema.
func NewDB() (*memdb.MemDB, error) { return memdb.NewMemDB(Schema()) }
