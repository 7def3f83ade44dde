package state

import (
	"fmt"
	"slices"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applyFindOrAddBuilder returns the id of the builder called name, adding it
// (with description and tags) when there is none; an existing builder is
// left as it is.
func applyFindOrAddBuilder(txn *memdb.Txn, seq *ids, c *messages.FindOrAddBuilder) (*messages.CommandResult, error) {
	const kind = "find_or_add_builder"
	if c == nil || c.Name == "" {
		return nil, bad(kind, "name is required")
	}
	if err := checkBuilder(kind, "", c.Name, c.Description, c.Tags); err != nil {
		return nil, err
	}
	id, err := findOrAddBuilder(txn, seq, c.Name, c.Description, c.Tags)
	if err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: id}, nil
}

// findOrAddBuilder is applyFindOrAddBuilder without the checks; AddBuildset
// uses it for builder_names.
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

// checkBuilder checks a builder's name, description and tags, at prefix
// (e.g. "builders[2].") in a command of kind.
func checkBuilder(kind, prefix, name, description string, tags []string) error {
	if err := checkStr(kind, prefix+"name", name, MaxFieldBytes); err != nil {
		return err
	}
	if err := checkStr(kind, prefix+"description", description, MaxFieldBytes); err != nil {
		return err
	}
	if len(tags) > MaxIDs {
		return bad(kind, "%stags has %d entries, limit %d", prefix, len(tags), MaxIDs)
	}
	for i, t := range tags {
		if err := checkStr(kind, fmt.Sprintf("%stags[%d]", prefix, i), t, MaxFieldBytes); err != nil {
			return err
		}
	}
	return nil
}

// configureBuilders records that master m runs exactly the builders
// listed (Buildbot's builder_masters): each is found, or added, by name,
// takes its description and tags (Buildbot's updateBuilderInfo) and has m
// among its masterids; every other builder loses m. It returns the ids of
// the listed builders by name. seq may be nil when nothing is listed.
func configureBuilders(txn *memdb.Txn, seq *ids, m uint64, listed []*messages.ConfiguredBuilder) (map[string]uint64, error) {
	byName := make(map[string]uint64, len(listed))
	for _, c := range listed {
		id, err := findOrAddBuilder(txn, seq, c.GetName(), c.GetDescription(), c.GetTags())
		if err != nil {
			return nil, err
		}
		byName[c.GetName()] = id
		b, err := get[*messages.Builder](txn, TableBuilders, IndexID, id)
		if err != nil {
			return nil, err
		}
		run := slices.Contains(b.Masterids, m)
		if run && b.Description == c.GetDescription() && slices.Equal(b.Tags, c.GetTags()) {
			continue
		}
		b = proto.CloneOf(b)
		b.Description, b.Tags = c.GetDescription(), slices.Clone(c.GetTags())
		if !run {
			b.Masterids = append(b.Masterids, m)
			slices.Sort(b.Masterids)
		}
		if err := txn.Insert(TableBuilders, b); err != nil {
			return nil, err
		}
	}
	all, err := collect[*messages.Builder](txn.Get(TableBuilders, IndexID+"_prefix"))
	if err != nil {
		return nil, err
	}
	for _, b := range all {
		if _, ok := byName[b.Name]; ok || !slices.Contains(b.Masterids, m) {
			continue
		}
		b = proto.CloneOf(b)
		b.Masterids = slices.DeleteFunc(b.Masterids, func(id uint64) bool { return id == m })
		if err := txn.Insert(TableBuilders, b); err != nil {
			return nil, err
		}
	}
	return byName, nil
}
