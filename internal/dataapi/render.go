package dataapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/messages"
)

// Write writes Buildbot's envelope {"<plural>": [...], "meta": {"total": N}}
// with each record as a JSON object keyed by field name (every field, or
// those fields selects). Numbers are JSON numbers, timestamps are seconds
// since the epoch, as Buildbot gives them, and secret fields are left out.
func Write(w io.Writer, plural string, page []proto.Message, total int, fields []string) error {
	return View{}.Write(w, plural, page, total, fields)
}

// Write writes the envelope as Write does, with the records as the view
// shows them.
func (v View) Write(w io.Writer, plural string, page []proto.Message, total int, fields []string) error {
	rows := make([]any, 0, len(page))
	for _, m := range page {
		if v.Cache == nil || len(fields) > 0 {
			rows = append(rows, v.Record(m, fields))
			continue
		}
		row, err := v.Rendered(m)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return encode(w, map[string]any{plural: rows, "meta": map[string]any{"total": total}})
}

// Rendered is the whole record m as the view shows it, as JSON, through
// the view's Cache when it has one.
func (v View) Rendered(m proto.Message) (json.RawMessage, error) {
	if v.Cache != nil {
		if b, ok := v.Cache.Get(m); ok {
			return b, nil
		}
	}
	var buf bytes.Buffer
	if err := encode(&buf, v.Record(m, nil)); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if v.Cache != nil {
		v.Cache.Add(m, b)
	}
	return b, nil
}

// encode writes x as JSON and a newline, with "<", ">" and "&" as they are
// ("a <b@c>" stays readable, as Buildbot renders it).
func encode(w io.Writer, x any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(x)
}

// Record returns m as a JSON object: every field (or those named in fields)
// but secret ones; an unset field is its zero value, or null when it has
// presence (an optional scalar or a message), as Buildbot's None.
func Record(m protoreflect.Message, fields []string) map[string]any {
	return record(m, fields, View{})
}

// record renders m's fields under the view's names; fields are API names.
func record(m protoreflect.Message, fields []string, v View) map[string]any {
	out := make(map[string]any)
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		name := v.apiName(fd)
		if messages.IsSecret(fd) || v.Hidden[string(fd.Name())] || (len(fields) > 0 && !slices.Contains(fields, name)) ||
			(v.OmitEmpty[string(fd.Name())] && !m.Has(fd)) {
			continue
		}
		if v.Null[string(fd.Name())] && !m.Has(fd) {
			out[name] = nil
			continue
		}
		out[name] = fieldJSON(fd, m.Get(fd), m.Has(fd))
	}
	return out
}

// fieldJSON is the JSON value of field fd: a list, a map, properties as
// Buildbot renders them, or a single value.
func fieldJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value, has bool) any {
	switch {
	case fd.IsList() && fd.Message() != nil && fd.Message().FullName() == propertyName:
		return properties(v.List())
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = valueJSON(fd, l.Get(i), true)
		}
		return out
	case fd.IsMap():
		out := make(map[string]any)
		v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
			out[k.String()] = valueJSON(fd.MapValue(), e, true)
			return true
		})
		return out
	}
	return valueJSON(fd, v, has)
}

// propertyName is the record type of properties, which Buildbot renders as
// an object {"name": [value, "source"]}.
const propertyName = "buildmaster.v1.Property"

// properties renders a property list as {"name": [value, "source"]}.
func properties(l protoreflect.List) map[string]any {
	out := make(map[string]any, l.Len())
	for i := range l.Len() {
		p := l.Get(i).Message().Interface().(*messages.Property)
		var v any = json.RawMessage(p.GetValueJson())
		if !json.Valid([]byte(p.GetValueJson())) {
			v = p.GetValueJson() // never produce invalid JSON
		}
		out[p.GetName()] = []any{v, p.GetSource()}
	}
	return out
}

// valueJSON is the JSON value of one value of fd: timestamps as epoch
// seconds, durations as seconds, messages as objects, bytes as base64, enums
// as numbers; has is false when the field is unset.
func valueJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value, has bool) any {
	if !has && fd.HasPresence() && !fd.IsList() && !fd.IsMap() {
		return nil // an unset optional field, e.g. the results of a running build, is null as in Buildbot
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if !has {
			return nil
		}
		switch m := v.Message().Interface().(type) {
		case *timestamppb.Timestamp:
			return m.GetSeconds()
		case *durationpb.Duration:
			return m.AsDuration().Seconds()
		}
		return Record(v.Message(), nil)
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	case protoreflect.EnumKind:
		return int32(v.Enum())
	}
	return v.Interface()
}
