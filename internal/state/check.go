package state

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/go-memdb"

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
	// MaxChangeBytes bounds a whole change, encoded: well under the 16 MiB
	// a request may have on the control endpoint (control.MaxMessageBytes),
	// so a change that fits the other limits but not this one is refused
	// clearly, naming its size, not by the endpoint's bound.
	MaxChangeBytes = 1 << 20
)

// ErrBadCommand is wrapped by every error about a command that is malformed,
// over a limit, or refers to rows that do not exist. Such a command writes
// nothing and can never succeed if retried as is.
var ErrBadCommand = errors.New("bad command")

// bad returns an error wrapping ErrBadCommand: "bad command: kind: message".
func bad(kind, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadCommand, kind, fmt.Sprintf(format, args...))
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

// checkStr refuses v, field of a kind command, when it is over limit bytes.
func checkStr(kind, field, v string, limit int) error {
	if len(v) > limit {
		return bad(kind, "%s is %d bytes, limit %d", field, len(v), limit)
	}
	return nil
}

// checkProps checks a property list: at most MaxProperties, each named once,
// its fields within their limits and its value valid JSON. It allocates
// nothing for a valid list of up to smallProps (a build's properties are
// checked at every build start).
func checkProps(kind, field string, props []*messages.Property) error {
	if len(props) > MaxProperties {
		return bad(kind, "%s has %d properties, limit %d", field, len(props), MaxProperties)
	}
	var seen map[string]bool
	if len(props) > smallProps {
		seen = make(map[string]bool, len(props))
	}
	for i, p := range props {
		switch {
		case p == nil || p.Name == "":
			return bad(kind, "%s[%d] has no name", field, i)
		case len(p.Name) > MaxFieldBytes:
			return bad(kind, "%s[%d].name is %d bytes, limit %d", field, i, len(p.Name), MaxFieldBytes)
		case len(p.Source) > MaxFieldBytes:
			return bad(kind, "%s[%d].source is %d bytes, limit %d", field, i, len(p.Source), MaxFieldBytes)
		case len(p.ValueJson) > MaxPropertyValueBytes:
			return bad(kind, "%s[%d] (%q).value_json is %d bytes, limit %d", field, i, p.Name, len(p.ValueJson), MaxPropertyValueBytes)
		case !json.Valid([]byte(p.ValueJson)):
			return bad(kind, "%s[%d] (%q).value_json is not valid JSON", field, i, p.Name)
		case namedBefore(props[:i], p.Name, seen):
			return bad(kind, "%s[%d]: property %q given twice", field, i, p.Name)
		}
	}
	return nil
}

// smallProps is the longest property list whose names checkProps compares
// pairwise rather than through a map.
const smallProps = 32

// namedBefore says whether name is the name of one of before, the
// properties checked so far: looked up in seen, which it adds name to, or,
// when seen is nil (a short list), by comparing.
func namedBefore(before []*messages.Property, name string, seen map[string]bool) bool {
	if seen != nil {
		dup := seen[name]
		seen[name] = true
		return dup
	}
	for _, q := range before {
		if q.Name == name {
			return true
		}
	}
	return false
}

// checkIDs refuses a list of more than MaxIDs ids.
func checkIDs(kind, field string, ids []uint64) error {
	if len(ids) > MaxIDs {
		return bad(kind, "%s has %d ids, limit %d", field, len(ids), MaxIDs)
	}
	return nil
}
