package state

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// Limits on what one command may carry. A command over a limit is refused
// with an error wrapping ErrBadCommand, and nothing is written.
const (
	MaxCommentsBytes      = 64 << 10 // a change's comments
	MaxFiles              = 10_000   // files of one change
	MaxFileNameBytes      = 4 << 10  // one file path
	MaxProperties         = 1_000    // properties of one change or buildset
	MaxPropertyValueBytes = 64 << 10 // one property's value_json
	MaxFieldBytes         = 4 << 10  // any other string field (author, branch, names …)
	MaxIDs                = 10_000   // ids in one list (builderids, brids, sourcestamp ids, parents)
	MaxLogAppendBytes     = 64 << 10 // content of one AppendLog
	// MaxChangeBytes bounds a whole change, encoded: well under the 4 MiB a
	// message may have on the remote channel, so a change that fits the
	// other limits but not this one is refused clearly, not lost in transit.
	MaxChangeBytes = 1 << 20
)

// Buildbot's result codes (buildbot.process.results).
const (
	ResultSuccess   = 0
	ResultWarnings  = 1
	ResultFailure   = 2
	ResultSkipped   = 3
	ResultException = 4
	ResultRetry     = 5
	ResultCancelled = 6
)

// ErrBadCommand is wrapped by every error about a command that is malformed,
// over a limit, or refers to rows that do not exist. Such a command writes
// nothing and can never succeed if retried as is.
var ErrBadCommand = errors.New("bad command")

func bad(kind, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadCommand, kind, fmt.Sprintf(format, args...))
}

// Apply applies one command to a memdb write transaction and returns what it
// allocated. It is the only function that changes state. It is
// deterministic: the result and the writes depend only on the content of the
// database and on cmd (ids are allocated as one more than the largest id in
// the table; times come in the command; no clock, no randomness).
//
// On error the caller must Abort txn: Apply may have written part of the
// command before finding the problem, and only the abort guarantees that a
// bad command writes nothing. Records read from txn are never mutated: they
// are cloned, changed and inserted again.
//
// Some commands carry others that must be written with them or not at all,
// applied in the same transaction: AddBuild claims its requests
// (claim_brids) and starts its first steps (steps), FinishStep starts the
// next (next), FinishBuild finishes its last step (last_step), and
// AddChange sets its change source's state (state, as SetObjectState). A
// refused part refuses the whole command, its error naming the field.
func Apply(txn *memdb.Txn, cmd *messages.Command) (res *messages.CommandResult, err error) {
	return applyCmd(txn, &ids{}, cmd)
}

// ids remembers, within one write transaction, the next id of each table
// once it has been read, so that a batch of commands in one transaction
// does not read the id index again for each command (a read inside a memdb
// write transaction throws away its cache of writable radix nodes). It is
// only valid for the transaction it was made for, and is dropped with it.
// It also remembers the latest change added in the transaction per
// (branch, repository, project, codebase), the parent of the next one.
type ids struct {
	next       map[string]uint64
	lastChange map[string]uint64
}

func (seq *ids) nextID(txn *memdb.Txn, table string) (uint64, error) {
	if id, ok := seq.next[table]; ok {
		seq.next[table] = id + 1
		return id, nil
	}
	id, err := nextID(txn, table)
	if err != nil {
		return 0, err
	}
	if seq.next == nil {
		seq.next = map[string]uint64{}
	}
	seq.next[table] = id + 1
	return id, nil
}

func applyCmd(txn *memdb.Txn, seq *ids, cmd *messages.Command) (res *messages.CommandResult, err error) {
	if cmd == nil {
		return nil, bad("command", "nil command")
	}
	switch k := cmd.Kind.(type) {
	case *messages.Command_AddChange:
		return applyAddChange(txn, seq, k.AddChange)
	case *messages.Command_MasterStarted:
		return applyMasterStarted(txn, seq, k.MasterStarted)
	case *messages.Command_FindOrAddBuilder:
		return applyFindOrAddBuilder(txn, seq, k.FindOrAddBuilder)
	case *messages.Command_AddBuildset:
		return applyAddBuildset(txn, seq, k.AddBuildset)
	case *messages.Command_ClaimBuildRequests:
		return applyClaim(txn, seq, k.ClaimBuildRequests)
	case *messages.Command_AddBuild:
		return applyAddBuild(txn, seq, k.AddBuild)
	case *messages.Command_AddStep:
		return applyAddStep(txn, seq, k.AddStep)
	case *messages.Command_AddLog:
		return applyAddLog(txn, seq, k.AddLog)
	case *messages.Command_AppendLog:
		return applyAppendLog(txn, seq, k.AppendLog)
	case *messages.Command_FinishLog:
		return applyFinishLog(txn, seq, k.FinishLog)
	case *messages.Command_FinishStep:
		return applyFinishStep(txn, seq, k.FinishStep)
	case *messages.Command_FinishBuild:
		return applyFinishBuild(txn, seq, k.FinishBuild)
	case *messages.Command_CompleteBuildRequests:
		return applyCompleteBuildRequests(txn, seq, k.CompleteBuildRequests)
	case *messages.Command_UnclaimBuildRequests:
		return applyUnclaimBuildRequests(txn, seq, k.UnclaimBuildRequests)
	case *messages.Command_SetBuildProperties:
		return applySetBuildProperties(txn, seq, k.SetBuildProperties)
	case *messages.Command_FindOrAddWorker:
		return applyFindOrAddWorker(txn, seq, k.FindOrAddWorker)
	case *messages.Command_WorkerConnected:
		return applyWorkerConnected(txn, seq, k.WorkerConnected)
	case *messages.Command_WorkerDisconnected:
		return applyWorkerDisconnected(txn, seq, k.WorkerDisconnected)
	case *messages.Command_SetObjectState:
		return applySetObjectState(txn, seq, k.SetObjectState)
	case *messages.Command_ConfigureMaster:
		return applyConfigureMaster(txn, seq, k.ConfigureMaster)
	case nil:
		return nil, bad("command", "no command kind set (empty oneof, or a kind this binary does not know)")
	default:
		return nil, bad("command", "unknown command kind %T", k)
	}
}

// ---- helpers ----

func nextID(txn *memdb.Txn, table string) (uint64, error) {
	raw, err := txn.Last(table, IndexID)
	if err != nil {
		return 0, err
	}
	if raw == nil {
		return 1, nil
	}
	var last uint64
	switch r := raw.(type) {
	case *messages.Master:
		last = r.Id
	case *messages.Change:
		last = r.Changeid
	case *messages.SourceStamp:
		last = r.Id
	case *messages.Buildset:
		last = r.Id
	case *messages.BuildRequest:
		last = r.Id
	case *messages.Builder:
		last = r.Id
	case *messages.Build:
		last = r.Id
	case *messages.Step:
		last = r.Id
	case *messages.Log:
		last = r.Id
	case *messages.Worker:
		last = r.Id
	case *messages.StateObject:
		last = r.Id
	case *messages.Scheduler:
		last = r.Id
	case *messages.ChangeSource:
		last = r.Id
	default:
		return 0, fmt.Errorf("state: no id allocation for table %s", table)
	}
	return last + 1, nil
}

func get[T any](txn *memdb.Txn, table, index string, args ...any) (T, error) {
	var zero T
	raw, err := txn.First(table, index, args...)
	if err != nil || raw == nil {
		return zero, err
	}
	return raw.(T), nil
}

// exists fails with a bad-command error saying that the what with id does
// not exist, unless table has a row with that id. where, when given, is a
// format and its arguments naming the place in the command, e.g.
// "builderids[%d]", i.
func exists(txn *memdb.Txn, kind, what, table string, id uint64, where ...any) error {
	raw, err := txn.First(table, IndexID, id)
	if err != nil {
		return err
	}
	if raw == nil {
		at := ""
		if len(where) > 0 {
			at = fmt.Sprintf(where[0].(string), where[1:]...) + ": "
		}
		return bad(kind, "%s%s %d does not exist", at, what, id)
	}
	return nil
}

func checkStr(kind, field, v string, limit int) error {
	if len(v) > limit {
		return bad(kind, "%s is %d bytes, limit %d", field, len(v), limit)
	}
	return nil
}

func checkProps(kind, field string, props []*messages.Property) error {
	if len(props) > MaxProperties {
		return bad(kind, "%s has %d properties, limit %d", field, len(props), MaxProperties)
	}
	seen := make(map[string]bool, len(props))
	for i, p := range props {
		where := fmt.Sprintf("%s[%d]", field, i)
		if p == nil || p.Name == "" {
			return bad(kind, "%s has no name", where)
		}
		if err := checkStr(kind, where+".name", p.Name, MaxFieldBytes); err != nil {
			return err
		}
		if err := checkStr(kind, where+".source", p.Source, MaxFieldBytes); err != nil {
			return err
		}
		if err := checkStr(kind, fmt.Sprintf("%s (%q).value_json", where, p.Name), p.ValueJson, MaxPropertyValueBytes); err != nil {
			return err
		}
		if !json.Valid([]byte(p.ValueJson)) {
			return bad(kind, "%s (%q).value_json is not valid JSON", where, p.Name)
		}
		if seen[p.Name] {
			return bad(kind, "%s: property %q given twice", where, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

func checkIDs(kind, field string, ids []uint64) error {
	if len(ids) > MaxIDs {
		return bad(kind, "%s has %d ids, limit %d", field, len(ids), MaxIDs)
	}
	return nil
}

func ssHash(branch, revision, repository, project, codebase string) string {
	h := sha1.New()
	for _, s := range []string{branch, revision, repository, project, codebase} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ---- AddChange ----

// CheckChange checks what can be checked of a change to add without the
// database: required fields and every limit. Apply checks it again, and
// also that its parents exist. The error wraps ErrBadCommand and names the
// field.
func CheckChange(in *messages.Change) error {
	const kind = "add_change"
	if in == nil {
		return bad(kind, "change is missing")
	}
	if in.Author == "" {
		return bad(kind, "change.author is required")
	}
	if in.WhenTimestamp <= 0 {
		return bad(kind, "change.when_timestamp is required (epoch seconds, > 0)")
	}
	if in.Changeid != 0 || in.Sourcestampid != 0 {
		return bad(kind, "change.changeid and change.sourcestampid are assigned by the database; leave them 0")
	}
	if err := checkStr(kind, "change.comments", in.Comments, MaxCommentsBytes); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"author", in.Author}, {"committer", in.Committer}, {"branch", in.Branch},
		{"revision", in.Revision}, {"revlink", in.Revlink}, {"category", in.Category},
		{"repository", in.Repository}, {"codebase", in.Codebase}, {"project", in.Project},
	} {
		if err := checkStr(kind, "change."+f.name, f.v, MaxFieldBytes); err != nil {
			return err
		}
	}
	if len(in.Files) > MaxFiles {
		return bad(kind, "change.files has %d files, limit %d", len(in.Files), MaxFiles)
	}
	for i, f := range in.Files {
		if err := checkStr(kind, fmt.Sprintf("change.files[%d]", i), f, MaxFileNameBytes); err != nil {
			return err
		}
	}
	if err := checkProps(kind, "change.properties", in.Properties); err != nil {
		return err
	}
	if err := checkIDs(kind, "change.parent_changeids", in.ParentChangeids); err != nil {
		return err
	}
	if n := proto.Size(in); n > MaxChangeBytes {
		return bad(kind, "the change is %d bytes encoded, larger than the limit of %d", n, MaxChangeBytes)
	}
	return nil
}

// CheckAddChange checks what can be checked of an AddChange without the
// database: its change (CheckChange) and its state, when set
// (CheckObjectState, the error naming add_change's state field). The error
// wraps ErrBadCommand.
func CheckAddChange(c *messages.AddChange) error {
	if err := CheckChange(c.GetChange()); err != nil {
		return err
	}
	if c.GetState() != nil {
		if err := CheckObjectState(c.GetState()); err != nil {
			return fmt.Errorf("add_change: state: %w", err)
		}
	}
	return nil
}

// applyAddChange adds the change and, in the same transaction, sets its
// state (as SetObjectState): both are written or neither is.
func applyAddChange(txn *memdb.Txn, seq *ids, c *messages.AddChange) (*messages.CommandResult, error) {
	const kind = "add_change"
	if err := CheckAddChange(c); err != nil {
		return nil, err
	}
	in := c.Change
	for i, p := range in.ParentChangeids {
		if ch, err := get[*messages.Change](txn, TableChanges, IndexID, p); err != nil {
			return nil, err
		} else if ch == nil {
			return nil, bad(kind, "change.parent_changeids[%d]: change %d does not exist", i, p)
		}
	}

	ch := proto.Clone(in).(*messages.Change)
	id, err := seq.nextID(txn, TableChanges)
	if err != nil {
		return nil, err
	}
	ch.Changeid = id

	ss, err := findOrAddSourceStamp(txn, seq, &messages.SourceStamp{Branch: ch.Branch, Revision: ch.Revision,
		Repository: ch.Repository, Codebase: ch.Codebase, Project: ch.Project, CreatedAt: ch.WhenTimestamp})
	if err != nil {
		return nil, err
	}
	ch.Sourcestampid = ss.Id

	// Parents, when not given: the latest change of the same branch,
	// repository, project and codebase (Buildbot's getParentChangeIds).
	lineKey := ch.Branch + "\x00" + ch.Repository + "\x00" + ch.Project + "\x00" + ch.Codebase
	if p, ok := seq.lastChange[lineKey]; ok && len(ch.ParentChangeids) == 0 {
		ch.ParentChangeids = []uint64{p}
	} else if len(ch.ParentChangeids) == 0 {
		it, err := txn.GetReverse(TableChanges, IndexBranch, ch.Branch)
		if err != nil {
			return nil, err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			p := raw.(*messages.Change)
			if p.Repository == ch.Repository && p.Project == ch.Project && p.Codebase == ch.Codebase {
				ch.ParentChangeids = []uint64{p.Changeid}
				break
			}
		}
	}
	if err := txn.Insert(TableChanges, ch); err != nil {
		return nil, err
	}
	if seq.lastChange == nil {
		seq.lastChange = map[string]uint64{}
	}
	seq.lastChange[lineKey] = id
	if c.State != nil {
		if _, err := applySetObjectState(txn, seq, c.State); err != nil {
			return nil, fmt.Errorf("%s: state: %w", kind, err)
		}
	}
	return &messages.CommandResult{Id: id, Sourcestampid: ss.Id}, nil
}

// ---- MasterStarted (housekeeping) ----

func applyMasterStarted(txn *memdb.Txn, seq *ids, c *messages.MasterStarted) (*messages.CommandResult, error) {
	const kind = "master_started"
	if c == nil {
		return nil, bad(kind, "empty command")
	}
	if c.Time <= 0 {
		return nil, bad(kind, "time is required (epoch seconds, > 0)")
	}
	if err := checkStr(kind, "name", c.Name, MaxFieldBytes); err != nil {
		return nil, err
	}
	var m *messages.Master
	var err error
	switch {
	case c.Masterid != 0:
		if m, err = get[*messages.Master](txn, TableMasters, IndexID, c.Masterid); err != nil {
			return nil, err
		}
		if m == nil {
			return nil, bad(kind, "master %d does not exist", c.Masterid)
		}
		if c.Name != "" && c.Name != m.Name {
			return nil, bad(kind, "master %d is named %q, not %q", c.Masterid, m.Name, c.Name)
		}
	case c.Name != "":
		if m, err = get[*messages.Master](txn, TableMasters, IndexName, c.Name); err != nil {
			return nil, err
		}
		if m == nil {
			id, err := seq.nextID(txn, TableMasters)
			if err != nil {
				return nil, err
			}
			m = &messages.Master{Id: id, Name: c.Name}
		}
	default:
		return nil, bad(kind, "masterid or name is required")
	}
	m = proto.Clone(m).(*messages.Master)
	m.Active = true
	m.LastActive = c.Time
	if err := txn.Insert(TableMasters, m); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: m.Id}
	if err := housekeeping(txn, m.Id, c.Time, res); err != nil {
		return nil, err
	}
	return res, nil
}

// collect reads every row an iterator gives before anything is written, so
// that writes never disturb the iteration.
func collect[T any](it memdb.ResultIterator, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(T))
	}
	return out, nil
}

// housekeeping does what Buildbot does for a master that stopped or
// crashed (_masterDeactivatedHousekeeping), except that every claimed
// incomplete request of the master is unclaimed, never left claimed.
func housekeeping(txn *memdb.Txn, masterid uint64, now int64, res *messages.CommandResult) error {
	builds, err := collect[*messages.Build](txn.Get(TableBuilds, IndexIncompleteBy, masterid))
	if err != nil {
		return err
	}
	retry := int32(ResultRetry)
	for _, b := range builds {
		steps, err := collect[*messages.Step](txn.Get(TableSteps, IndexBuildNumber+"_prefix", b.Id))
		if err != nil {
			return err
		}
		for _, s := range steps {
			if s.CompleteAt == 0 && s.Results == nil {
				s = proto.Clone(s).(*messages.Step)
				s.CompleteAt = now
				s.Results = &retry
				s.Hidden = false
				if err := txn.Insert(TableSteps, s); err != nil {
					return err
				}
				res.StepsFinished++
			}
			logs, err := collect[*messages.Log](txn.Get(TableLogs, IndexStep, s.Id))
			if err != nil {
				return err
			}
			for _, l := range logs {
				if !l.Complete {
					l = proto.Clone(l).(*messages.Log)
					l.Complete = true
					if err := txn.Insert(TableLogs, l); err != nil {
						return err
					}
					res.LogsFinished++
				}
			}
		}
		b = proto.Clone(b).(*messages.Build)
		b.CompleteAt = now
		b.Results = &retry
		if err := txn.Insert(TableBuilds, b); err != nil {
			return err
		}
		res.BuildsRetried++
	}
	reqs, err := collect[*messages.BuildRequest](txn.Get(TableBuildRequests, IndexClaimedBy, masterid))
	if err != nil {
		return err
	}
	for _, r := range reqs {
		r = proto.Clone(r).(*messages.BuildRequest)
		r.Claim = nil
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return err
		}
		res.RequestsUnclaimed++
	}
	// Deconfigure the master's workers, schedulers and change sources.
	workers, err := collect[*messages.Worker](txn.Get(TableWorkers, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	for _, w := range workers {
		changed := false
		var conn []uint64
		for _, id := range w.ConnectedTo {
			if id == masterid {
				changed = true
			} else {
				conn = append(conn, id)
			}
		}
		var conf []*messages.WorkerConfiguredOn
		for _, co := range w.ConfiguredOn {
			if co.Masterid == masterid {
				changed = true
			} else {
				conf = append(conf, proto.Clone(co).(*messages.WorkerConfiguredOn))
			}
		}
		if changed {
			w = proto.Clone(w).(*messages.Worker)
			w.ConnectedTo, w.ConfiguredOn = conn, conf
			if err := txn.Insert(TableWorkers, w); err != nil {
				return err
			}
		}
	}
	scheds, err := collect[*messages.Scheduler](txn.Get(TableSchedulers, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	for _, s := range scheds {
		if s.Masterid == masterid {
			s = proto.Clone(s).(*messages.Scheduler)
			s.Masterid = 0
			if err := txn.Insert(TableSchedulers, s); err != nil {
				return err
			}
		}
	}
	srcs, err := collect[*messages.ChangeSource](txn.Get(TableChangeSources, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	for _, s := range srcs {
		if s.Masterid == masterid {
			s = proto.Clone(s).(*messages.ChangeSource)
			s.Masterid = 0
			if err := txn.Insert(TableChangeSources, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// findOrAddSourceStamp returns the sourcestamp with want's branch, revision,
// repository, project and codebase, found by its hash as Buildbot's
// findSourceStampId does, or adds it (created_at from want).
func findOrAddSourceStamp(txn *memdb.Txn, seq *ids, want *messages.SourceStamp) (*messages.SourceStamp, error) {
	hash := ssHash(want.Branch, want.Revision, want.Repository, want.Project, want.Codebase)
	ss, err := get[*messages.SourceStamp](txn, TableSourceStamps, IndexSSHash, hash)
	if err != nil || ss != nil {
		return ss, err
	}
	id, err := seq.nextID(txn, TableSourceStamps)
	if err != nil {
		return nil, err
	}
	ss = &messages.SourceStamp{Id: id, SsHash: hash, Branch: want.Branch, Revision: want.Revision,
		Repository: want.Repository, Codebase: want.Codebase, Project: want.Project, CreatedAt: want.CreatedAt}
	return ss, txn.Insert(TableSourceStamps, ss)
}

// ---- builders, buildsets, requests, builds, steps, logs ----

func applyFindOrAddBuilder(txn *memdb.Txn, seq *ids, c *messages.FindOrAddBuilder) (*messages.CommandResult, error) {
	const kind = "find_or_add_builder"
	if c == nil || c.Name == "" {
		return nil, bad(kind, "name is required")
	}
	if err := checkStr(kind, "name", c.Name, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := checkStr(kind, "description", c.Description, MaxFieldBytes); err != nil {
		return nil, err
	}
	if len(c.Tags) > MaxIDs {
		return nil, bad(kind, "tags has %d entries, limit %d", len(c.Tags), MaxIDs)
	}
	for i, t := range c.Tags {
		if err := checkStr(kind, fmt.Sprintf("tags[%d]", i), t, MaxFieldBytes); err != nil {
			return nil, err
		}
	}
	id, err := findOrAddBuilder(txn, seq, c.Name, c.Description, c.Tags)
	if err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: id}, nil
}

func findOrAddBuilder(txn *memdb.Txn, seq *ids, name, description string, tags []string) (uint64, error) {
	b, err := get[*messages.Builder](txn, TableBuilders, IndexName, name)
	if err != nil || b != nil {
		return b.GetId(), err
	}
	id, err := seq.nextID(txn, TableBuilders)
	if err != nil {
		return 0, err
	}
	b = &messages.Builder{Id: id, Name: name, Description: description, Tags: append([]string(nil), tags...)}
	return id, txn.Insert(TableBuilders, b)
}

func applyAddBuildset(txn *memdb.Txn, seq *ids, c *messages.AddBuildset) (*messages.CommandResult, error) {
	const kind = "add_buildset"
	if c == nil {
		return nil, bad(kind, "empty command")
	}
	if c.SubmittedAt <= 0 {
		return nil, bad(kind, "submitted_at is required (epoch seconds, > 0)")
	}
	if len(c.Builderids)+len(c.BuilderNames) == 0 {
		return nil, bad(kind, "builderids and builder_names are empty: a buildset needs at least one builder")
	}
	if len(c.BuilderNames) > MaxIDs || len(c.Sourcestamps) > MaxIDs {
		return nil, bad(kind, "%d builder names and %d sourcestamps; the limit is %d each", len(c.BuilderNames), len(c.Sourcestamps), MaxIDs)
	}
	for i, n := range c.CollapseBuilderNames {
		if !slices.Contains(c.BuilderNames, n) {
			return nil, bad(kind, "collapse_builder_names[%d]: %q is not one of builder_names", i, n)
		}
	}
	for i, n := range c.BuilderNames {
		if n == "" {
			return nil, bad(kind, "builder_names[%d] is empty", i)
		}
		if err := checkStr(kind, fmt.Sprintf("builder_names[%d]", i), n, MaxFieldBytes); err != nil {
			return nil, err
		}
	}
	for i, ss := range c.Sourcestamps {
		for _, f := range []struct{ name, v string }{
			{"branch", ss.GetBranch()}, {"revision", ss.GetRevision()}, {"repository", ss.GetRepository()},
			{"codebase", ss.GetCodebase()}, {"project", ss.GetProject()},
		} {
			if err := checkStr(kind, fmt.Sprintf("sourcestamps[%d].%s", i, f.name), f.v, MaxFieldBytes); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range []struct{ name, v string }{
		{"external_idstring", c.ExternalIdstring}, {"reason", c.Reason}, {"parent_relationship", c.ParentRelationship},
	} {
		if err := checkStr(kind, f.name, f.v, MaxFieldBytes); err != nil {
			return nil, err
		}
	}
	if err := checkProps(kind, "properties", c.Properties); err != nil {
		return nil, err
	}
	if err := checkIDs(kind, "builderids", c.Builderids); err != nil {
		return nil, err
	}
	if err := checkIDs(kind, "sourcestamp_ids", c.SourcestampIds); err != nil {
		return nil, err
	}
	for i, id := range c.SourcestampIds {
		if err := exists(txn, kind, "sourcestamp", TableSourceStamps, id, "sourcestamp_ids[%d]", i); err != nil {
			return nil, err
		}
	}
	for i, id := range c.Builderids {
		if err := exists(txn, kind, "builder", TableBuilders, id, "builderids[%d]", i); err != nil {
			return nil, err
		}
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
		r, err := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, id)
		if err != nil {
			return nil, err
		}
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

func applyAddBuild(txn *memdb.Txn, seq *ids, c *messages.AddBuild) (*messages.CommandResult, error) {
	const kind = "add_build"
	if c == nil || c.Builderid == 0 || c.Masterid == 0 {
		return nil, bad(kind, "builderid and masterid are required")
	}
	if c.StartedAt <= 0 {
		return nil, bad(kind, "started_at is required (epoch seconds, > 0)")
	}
	if err := checkStr(kind, "state_string", c.StateString, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := exists(txn, kind, "builder", TableBuilders, c.Builderid); err != nil {
		return nil, err
	}
	if err := exists(txn, kind, "master", TableMasters, c.Masterid); err != nil {
		return nil, err
	}
	if c.Buildrequestid != 0 {
		if err := exists(txn, kind, "build request", TableBuildRequests, c.Buildrequestid); err != nil {
			return nil, err
		}
	}
	if err := checkProps(kind, "properties", c.Properties); err != nil {
		return nil, err
	}
	if err := checkStr(kind, "worker_name", c.WorkerName, MaxFieldBytes); err != nil {
		return nil, err
	}
	if len(c.ClaimBrids) > 0 {
		if _, err := applyClaim(txn, seq, &messages.ClaimBuildRequests{Masterid: c.Masterid, ClaimedAt: c.StartedAt, Brids: c.ClaimBrids}); err != nil {
			return nil, fmt.Errorf("%s: claim_brids: %w", kind, err)
		}
	}
	workerid := c.Workerid
	if c.WorkerName != "" {
		w, err := applyFindOrAddWorker(txn, seq, &messages.FindOrAddWorker{Name: c.WorkerName})
		if err != nil {
			return nil, err
		}
		workerid = w.Id
	}
	number := int32(1)
	last, err := txn.Last(TableBuilds, IndexBuilderNumber+"_prefix", c.Builderid)
	if err != nil {
		return nil, err
	}
	if last != nil {
		number = last.(*messages.Build).Number + 1
	}
	id, err := seq.nextID(txn, TableBuilds)
	if err != nil {
		return nil, err
	}
	b := &messages.Build{
		Id: id, Number: number, Builderid: c.Builderid, Buildrequestid: c.Buildrequestid,
		Workerid: workerid, Masterid: c.Masterid, StartedAt: c.StartedAt, StateString: c.StateString,
	}
	for _, p := range c.Properties {
		if p.Name != "buildnumber" {
			b.Properties = append(b.Properties, proto.CloneOf(p))
		}
	}
	// As Buildbot, the build's number is a property of it.
	b.Properties = append(b.Properties, &messages.Property{Name: "buildnumber", ValueJson: strconv.Itoa(int(number)), Source: "Build"})
	if err := txn.Insert(TableBuilds, b); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: id, Number: number}
	if len(c.Steps) > MaxIDs {
		return nil, bad(kind, "steps has %d steps, limit %d", len(c.Steps), MaxIDs)
	}
	for i, step := range c.Steps {
		ids, err := startStep(txn, seq, fmt.Sprintf("%s: steps[%d]", kind, i), id, step)
		if err != nil {
			return nil, err
		}
		res.Ids = append(res.Ids, ids...)
	}
	return res, nil
}

// startStep adds step, of build buildid (step.buildid must be 0 or that),
// for a command that starts a step as part of something else; it returns
// the step's id then its logs' ids.
func startStep(txn *memdb.Txn, seq *ids, kind string, buildid uint64, step *messages.AddStep) ([]uint64, error) {
	if step.Buildid != 0 && step.Buildid != buildid {
		return nil, bad(kind, "buildid %d is not the build's (%d)", step.Buildid, buildid)
	}
	step = proto.CloneOf(step)
	step.Buildid = buildid
	r, err := applyAddStep(txn, seq, step)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return append([]uint64{r.Id}, r.Ids...), nil
}

func applyAddStep(txn *memdb.Txn, seq *ids, c *messages.AddStep) (*messages.CommandResult, error) {
	const kind = "add_step"
	if c == nil || c.Buildid == 0 || c.Name == "" {
		return nil, bad(kind, "buildid and name are required")
	}
	if len(c.Name) > 50 {
		return nil, bad(kind, "name is %d bytes, limit 50 (Buildbot's steps.name)", len(c.Name))
	}
	if err := checkStr(kind, "state_string", c.StateString, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := exists(txn, kind, "build", TableBuilds, c.Buildid); err != nil {
		return nil, err
	}
	number := int32(0)
	last, err := txn.Last(TableSteps, IndexBuildNumber+"_prefix", c.Buildid)
	if err != nil {
		return nil, err
	}
	if last != nil {
		number = last.(*messages.Step).Number + 1
	}
	id, err := seq.nextID(txn, TableSteps)
	if err != nil {
		return nil, err
	}
	if c.Results != nil {
		if err := checkResults(kind, c.GetResults()); err != nil {
			return nil, err
		}
		if c.CompleteAt <= 0 {
			return nil, bad(kind, "complete_at is required with results (epoch seconds, > 0)")
		}
	}
	s := &messages.Step{Id: id, Number: number, Name: c.Name, Buildid: c.Buildid, StartedAt: c.StartedAt, StateString: c.StateString}
	if c.Results != nil && len(c.LogNames) == 0 {
		s.Results, s.CompleteAt = proto.Int32(c.GetResults()), c.CompleteAt // finished as it is added
	}
	if err := txn.Insert(TableSteps, s); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: id, Number: number}
	if len(c.LogNames) > MaxIDs {
		return nil, bad(kind, "log_names has %d names, limit %d", len(c.LogNames), MaxIDs)
	}
	for _, n := range c.LogNames {
		l, err := applyAddLog(txn, seq, &messages.AddLog{Stepid: id, Name: n, Slug: n, Type: "s"})
		if err != nil {
			return nil, err
		}
		res.Ids = append(res.Ids, l.Id)
	}
	if c.Results != nil && s.Results == nil {
		if err := finishStep(txn, s, c.GetResults(), c.CompleteAt, ""); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func applyAddLog(txn *memdb.Txn, seq *ids, c *messages.AddLog) (*messages.CommandResult, error) {
	const kind = "add_log"
	if c == nil || c.Stepid == 0 || c.Name == "" || c.Slug == "" {
		return nil, bad(kind, "stepid, name and slug are required")
	}
	if c.Type != "s" && c.Type != "t" && c.Type != "h" {
		return nil, bad(kind, "type %q is not one of s, t, h", c.Type)
	}
	if err := checkStr(kind, "name", c.Name, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := checkStr(kind, "slug", c.Slug, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := exists(txn, kind, "step", TableSteps, c.Stepid); err != nil {
		return nil, err
	}
	logs, err := collect[*messages.Log](txn.Get(TableLogs, IndexStep, c.Stepid))
	if err != nil {
		return nil, err
	}
	for _, l := range logs {
		if l.Slug == c.Slug {
			return nil, bad(kind, "step %d already has a log with slug %q", c.Stepid, c.Slug)
		}
	}
	id, err := seq.nextID(txn, TableLogs)
	if err != nil {
		return nil, err
	}
	l := &messages.Log{Id: id, Name: c.Name, Slug: c.Slug, Stepid: c.Stepid, Type: c.Type}
	if err := txn.Insert(TableLogs, l); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: id}, nil
}

func applyAppendLog(txn *memdb.Txn, seq *ids, c *messages.AppendLog) (*messages.CommandResult, error) {
	const kind = "append_log"
	if c == nil || c.Logid == 0 {
		return nil, bad(kind, "logid is required")
	}
	if c.Content == "" {
		return nil, bad(kind, "content is empty")
	}
	if err := checkStr(kind, "content", c.Content, MaxLogAppendBytes); err != nil {
		return nil, err
	}
	l, err := get[*messages.Log](txn, TableLogs, IndexID, c.Logid)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, bad(kind, "log %d does not exist", c.Logid)
	}
	if l.Complete {
		return nil, bad(kind, "log %d is finished", c.Logid)
	}
	content := c.Content
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	n := int64(strings.Count(content, "\n"))
	chunk := &messages.LogChunk{Logid: l.Id, FirstLine: l.NumLines, LastLine: l.NumLines + n - 1, Content: []byte(content)}
	if err := txn.Insert(TableLogChunks, chunk); err != nil {
		return nil, err
	}
	l = proto.Clone(l).(*messages.Log)
	l.NumLines += n
	if err := txn.Insert(TableLogs, l); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: l.Id, Number: int32(chunk.FirstLine)}, nil
}
