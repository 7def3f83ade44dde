package state

import (
	"fmt"

	"github.com/hashicorp/go-memdb"

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
