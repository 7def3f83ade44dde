package state

import (
	"fmt"
	"iter"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

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
		if Lookup(txn, TableChanges, p) == nil {
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
		if p := changeParent(txn, ch); p != 0 {
			ch.ParentChangeids = []uint64{p}
		}
	}
	if err := txn.Insert(TableChanges, ch); err != nil {
		return nil, err
	}
	if seq.lastChange == nil {
		seq.lastChange = map[string]uint64{}
	}
	seq.lastChange[lineKey] = id
	if err := attachAuthor(txn, seq, ch, c.AuthorVc); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if c.State != nil {
		if _, err := applySetObjectState(txn, seq, c.State); err != nil {
			return nil, fmt.Errorf("%s: state: %w", kind, err)
		}
	}
	return &messages.CommandResult{Id: id, Sourcestampid: ss.Id}, nil
}

// changeParent returns the newest change, in the table or archived, of
// ch's branch, repository, project and codebase (0: none). It decodes no
// archived change of another line but from segments written before lines.
func changeParent(txn *memdb.Txn, ch *messages.Change) uint64 {
	l := lineOf(ch)
	var p uint64
	for raw := range scanTable(txn, TableChanges, IndexBranch, true, ch.Branch) {
		if c := raw.(*messages.Change); lineOf(c) == l {
			p = c.Changeid
			break
		}
	}
	return max(p, archivedParent(txn, ch.Branch, l))
}

// ChangeProperties yields the properties of the changes of the sourcestamps
// ssids, sourcestamp by sourcestamp, each's changes oldest first: set in
// that order, a later change's value wins, as in Buildbot's builds and
// schedulers.
func ChangeProperties(txn *memdb.Txn, ssids []uint64) iter.Seq[*messages.Property] {
	return func(yield func(*messages.Property) bool) {
		for _, ssid := range ssids {
			for row := range ScanIndex(txn, TableChanges, IndexChangeSourceStamp, false, ssid) {
				for _, p := range row.(*messages.Change).GetProperties() {
					if !yield(p) {
						return
					}
				}
			}
		}
	}
}
