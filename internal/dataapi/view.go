package dataapi

import (
	"net/url"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// View is how a collection's records look on the API when that differs
// from their protobuf fields: renamed fields (Buildbot calls a build's id
// "buildid") and derived ones (a build's "complete"). Queries name fields
// as the View shows them; derived fields can be selected and shown but not
// filtered on (except Flags) or sorted by. The zero View shows records as they are.
type View struct {
	// Names maps a field's protobuf name to the name the API uses.
	Names map[string]string
	// Derived adds fields computed from a record. A derived field may take
	// the API name of a Hidden field, to show it in another shape (a
	// worker's connected_to as [{"masterid": N}]); a derived value is
	// rendered by encoding/json as it is, so it must not hold a
	// proto.Message (render one with Record first).
	Derived map[string]func(proto.Message) any
	// Hidden lists protobuf fields the API does not show (a derived field
	// shows them as Buildbot does).
	Hidden map[string]bool
	// Flags are derived true/false fields that, unlike Derived ones, can be
	// filtered on with eq and ne (and in, notin): a build's complete, a
	// request's claimed (Buildbot's builds?complete=false). They are shown
	// as Derived fields are; they cannot be sorted by.
	Flags map[string]func(proto.Message) bool
	// Null lists scalar protobuf fields whose zero value shows as null: where
	// Buildbot has None (a buildset's complete_at before it completes) and
	// the record stores 0 or "". Filters still compare the stored value.
	Null map[string]bool
	// OmitEmpty lists protobuf fields shown only when set (non-empty):
	// ours that Buildbot's records do not have, such as a log's lost
	// lines, so that a record without them looks as Buildbot's does.
	OmitEmpty map[string]bool
	// Cache, when set, keeps whole records as rendered, so that a record
	// rendered once is not rendered again while it is unchanged. It is used
	// only for records shown whole (no field selection), so it must be left
	// unset when Derived reads anything but the record itself.
	Cache RowCache
}

// RowCache keeps records rendered as JSON objects (see View.Cache). Get
// answers only for the very record Add was given (state rows are never
// changed in place: a changed row is a new record).
type RowCache interface {
	Get(m proto.Message) ([]byte, bool)
	Add(m proto.Message, rendered []byte)
}

// field returns the protobuf field of md that the API calls name.
func (v View) field(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	if v.Hidden[name] {
		return nil
	}
	for proto, api := range v.Names {
		if api == name {
			return md.Fields().ByName(protoreflect.Name(proto))
		}
	}
	if _, renamed := v.Names[name]; renamed {
		return nil // only its API name is known
	}
	return md.Fields().ByName(protoreflect.Name(name))
}

// apiName is the name the API uses for fd.
func (v View) apiName(fd protoreflect.FieldDescriptor) string {
	if n, ok := v.Names[string(fd.Name())]; ok {
		return n
	}
	return string(fd.Name())
}

// ParseQuery parses a query string as ParseQuery does, with field names as
// the view shows them.
func (v View) ParseQuery(vals url.Values, md protoreflect.MessageDescriptor) (*Query, error) {
	return parseQuery(vals, md, v)
}

// Record returns m as the view shows it (every field, or those named).
func (v View) Record(m proto.Message, fields []string) map[string]any {
	out := record(m.ProtoReflect(), fields, v)
	for name, f := range v.Derived {
		if len(fields) == 0 || slices.Contains(fields, name) {
			out[name] = f(m)
		}
	}
	for name, f := range v.Flags {
		if len(fields) == 0 || slices.Contains(fields, name) {
			out[name] = f(m)
		}
	}
	return out
}
