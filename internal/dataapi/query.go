package dataapi

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxLimit bounds `limit`, so that no request can ask for an unbounded page.
const MaxLimit = 10000

// Query is a result specification (Buildbot's ResultSpec), applied in this
// order: filters (all must hold), order, offset and limit, field selection.
type Query struct {
	Fields  []string // field selection; empty means every field
	Filters []Filter
	Order   []OrderKey
	Offset  int
	Limit   int // 0: no limit
}

// Filter holds when the record's field compares true with any of Values
// (for ne: with none of them).
type Filter struct {
	// Name is the field's (or flag's) name in the query, e.g. complete.
	Name   string
	Field  protoreflect.FieldDescriptor
	Op     string // eq, ne, lt, le, gt, ge, contains
	Values []protoreflect.Value
	// Flag, when set in place of Field, computes the (bool) value compared:
	// a View's Flags.
	Flag func(proto.Message) bool
}

// OrderKey is one sort key.
type OrderKey struct {
	Field protoreflect.FieldDescriptor
	Desc  bool
}

// operators are Buildbot's filter operators.
// in and notin take a list (repeated, or comma-separated) and are eq and ne
// over it.
var operators = []string{"eq", "ne", "lt", "le", "gt", "ge", "contains", "in", "notin"}

// ParseQuery parses a query string against the record type md. Filters and
// sort keys may name simple top-level fields (not lists, maps or messages);
// field selection may name any field. Every problem is reported, each
// naming the parameter.
func ParseQuery(v url.Values, md protoreflect.MessageDescriptor) (*Query, error) {
	return parseQuery(v, md, View{})
}

func parseQuery(v url.Values, md protoreflect.MessageDescriptor, view View) (*Query, error) {
	p := &queryParser{md: md, view: view}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		vals := v[key]
		switch key {
		case "limit", "offset":
			p.page(key, vals)
		case "order":
			p.order(vals)
		case "field":
			p.fields(vals)
		default:
			p.filter(key, vals)
		}
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("bad query: %s", strings.Join(p.errs, "; "))
	}
	return &p.q, nil
}

// queryParser is the state of one parseQuery: the query so far and every
// problem found, each naming its parameter.
type queryParser struct {
	md   protoreflect.MessageDescriptor
	view View
	q    Query
	errs []string
}

// bad notes a problem.
func (p *queryParser) bad(format string, args ...any) {
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
}

// page reads limit or offset (the last value given): a whole number, limit
// at most MaxLimit.
func (p *queryParser) page(key string, vals []string) {
	n, err := strconv.Atoi(last(vals))
	switch {
	case err != nil || n < 0:
		p.bad("%s=%q: want a whole number ≥ 0", key, last(vals))
	case key == "limit" && n > MaxLimit:
		p.bad("limit=%d: at most %d", n, MaxLimit)
	case key == "limit":
		p.q.Limit = n
	default:
		p.q.Offset = n
	}
}

// order reads sort keys: a simple field each, descending with a leading "-".
func (p *queryParser) order(vals []string) {
	for _, o := range vals {
		name, desc := strings.CutPrefix(o, "-")
		fd, err := simpleField(p.md, p.view, name)
		if err != nil {
			p.bad("order=%q: %v", o, err)
			continue
		}
		p.q.Order = append(p.q.Order, OrderKey{Field: fd, Desc: desc})
	}
}

// fields reads the field selection: any field, or a derived one.
func (p *queryParser) fields(vals []string) {
	for _, f := range vals {
		_, derived := p.view.Derived[f]
		if _, flag := p.view.Flags[f]; derived || flag {
			p.q.Fields = append(p.q.Fields, f)
			continue
		}
		fd := p.view.field(p.md, f)
		if fd == nil {
			p.bad("field=%q: %s has no such field", f, p.md.Name())
			continue
		}
		p.q.Fields = append(p.q.Fields, p.view.apiName(fd))
	}
}

// filter reads a filter, key being field or field__operator (eq when
// none); in and notin are eq and ne over a list.
func (p *queryParser) filter(key string, vals []string) {
	name, op, ok := strings.Cut(key, "__")
	if !ok {
		op = "eq"
	}
	if !slices.Contains(operators, op) {
		p.bad("%s: unknown operator %q (want one of %s)", key, op, strings.Join(operators, ", "))
		return
	}
	if flag := p.view.Flags[name]; flag != nil && p.view.field(p.md, name) == nil {
		p.flagFilter(key, name, op, flag, vals)
		return
	}
	fd, err := simpleField(p.md, p.view, name)
	if err != nil {
		p.bad("%s: %v", key, err)
		return
	}
	if op == "contains" && fd.Kind() != protoreflect.StringKind {
		p.bad("%s: contains needs a text field", key)
		return
	}
	f := Filter{Name: name, Field: fd, Op: op}
	switch op {
	case "in", "notin":
		f.Op = map[string]string{"in": "eq", "notin": "ne"}[op]
		vals = splitList(vals)
	}
	for _, s := range vals {
		val, err := parseValue(fd, s)
		if err != nil {
			p.bad("%s=%q: %v", key, s, err)
			continue
		}
		f.Values = append(f.Values, val)
	}
	if len(f.Values) > 0 {
		p.q.Filters = append(p.q.Filters, f)
	}
}

// flagFilter reads a filter on a View's flag: eq or ne (in and notin over
// a list) a boolean.
func (p *queryParser) flagFilter(key, name, op string, flag func(proto.Message) bool, vals []string) {
	switch op {
	case "eq", "ne":
	case "in", "notin":
		op = map[string]string{"in": "eq", "notin": "ne"}[op]
		vals = splitList(vals)
	default:
		p.bad("%s: %q is computed: it can be filtered with eq, ne, in or notin", key, name)
		return
	}
	f := Filter{Name: name, Flag: flag, Op: op}
	for _, s := range vals {
		val, err := parseBool(s)
		if err != nil {
			p.bad("%s=%q: %v", key, s, err)
			continue
		}
		f.Values = append(f.Values, val)
	}
	if len(f.Values) > 0 {
		p.q.Filters = append(p.q.Filters, f)
	}
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, strings.Split(v, ",")...)
	}
	return out
}

func last(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[len(vals)-1]
}

// simpleField returns the top-level scalar field of md the view calls name.
func simpleField(md protoreflect.MessageDescriptor, view View, name string) (protoreflect.FieldDescriptor, error) {
	fd := view.field(md, name)
	switch {
	case fd == nil && view.Flags[name] != nil:
		return nil, fmt.Errorf("%q is computed: it can be selected and filtered on, not sorted by", name)
	case fd == nil && view.Derived[name] != nil:
		return nil, fmt.Errorf("%q is computed: it can be selected but not filtered on or sorted by", name)
	case fd == nil:
		return nil, fmt.Errorf("%s has no field %q", md.Name(), name)
	case fd.IsList() || fd.IsMap() || fd.Message() != nil:
		return nil, fmt.Errorf("%q is not a simple field", name)
	}
	return fd, nil
}

// parseBool reads Buildbot's spellings of a boolean: on/off, true/false,
// yes/no, 1/0.
func parseBool(s string) (protoreflect.Value, error) {
	switch strings.ToLower(s) {
	case "on", "true", "yes", "1":
		return protoreflect.ValueOfBool(true), nil
	case "off", "false", "no", "0":
		return protoreflect.ValueOfBool(false), nil
	}
	return protoreflect.Value{}, fmt.Errorf("want true or false")
}

// parseValue reads s as a value of fd's kind. Booleans take Buildbot's
// spellings: on/off, true/false, yes/no, 1/0.
func parseValue(fd protoreflect.FieldDescriptor, s string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return parseBool(s)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("want a 32-bit integer")
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("want an integer")
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("want a 32-bit whole number")
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("want a whole number")
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("want a number")
		}
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByName(protoreflect.Name(s))
		if ev == nil {
			if n, err := strconv.ParseInt(s, 10, 32); err == nil {
				return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
			}
			return protoreflect.Value{}, fmt.Errorf("not a value of %s", fd.Enum().Name())
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil
	}
	return protoreflect.Value{}, fmt.Errorf("cannot filter on a %s field", fd.Kind())
}
