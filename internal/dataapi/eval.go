package dataapi

import (
	"bytes"
	"cmp"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Match reports whether every filter of q holds for m.
func (q *Query) Match(m protoreflect.Message) bool {
	for _, f := range q.Filters {
		if !f.holds(m) {
			return false
		}
	}
	return true
}

// rejectsTrue reports whether f, on a boolean field or flag, fails for
// every row where it is true.
func (f Filter) rejectsTrue() bool {
	if f.Flag == nil && (f.Field == nil || f.Field.Kind() != protoreflect.BoolKind) {
		return false
	}
	hasTrue := slices.ContainsFunc(f.Values, func(v protoreflect.Value) bool { return v.Bool() })
	switch f.Op {
	case "eq":
		return !hasTrue
	case "ne":
		return hasTrue
	}
	return false
}

// holds applies the filter to m: eq, lt, le, gt, ge and contains hold when
// they hold for any of the values; ne holds when the field equals none.
func (f Filter) holds(m protoreflect.Message) bool {
	if f.Flag != nil {
		got := f.Flag(m.Interface())
		for _, want := range f.Values {
			if got == want.Bool() {
				return f.Op == "eq"
			}
		}
		return f.Op == "ne"
	}
	v := m.Get(f.Field)
	if f.Op == "ne" {
		for _, want := range f.Values {
			if compare(f.Field, v, want) == 0 {
				return false
			}
		}
		return true
	}
	for _, want := range f.Values {
		c := compare(f.Field, v, want)
		var ok bool
		switch f.Op {
		case "eq":
			ok = c == 0
		case "lt":
			ok = c < 0
		case "le":
			ok = c <= 0
		case "gt":
			ok = c > 0
		case "ge":
			ok = c >= 0
		case "contains":
			ok = strings.Contains(v.String(), want.String())
		}
		if ok {
			return true
		}
	}
	return false
}

// Compare orders a and b by q's sort keys: negative, zero or positive.
func (q *Query) Compare(a, b protoreflect.Message) int {
	for _, k := range q.Order {
		c := compare(k.Field, a.Get(k.Field), b.Get(k.Field))
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// compare orders two values of the scalar field fd.
func compare(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) int {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		x, y := a.Bool(), b.Bool()
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case protoreflect.StringKind:
		return strings.Compare(a.String(), b.String())
	case protoreflect.BytesKind:
		return bytes.Compare(a.Bytes(), b.Bytes())
	case protoreflect.EnumKind:
		return cmp.Compare(a.Enum(), b.Enum())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return cmp.Compare(a.Int(), b.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return cmp.Compare(a.Uint(), b.Uint())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return cmp.Compare(a.Float(), b.Float())
	}
	return 0
}
