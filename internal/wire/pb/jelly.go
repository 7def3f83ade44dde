package pb

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
)

// Jelly is Twisted's object serialisation on top of Banana
// (twisted/spread/jelly.py). The subset PB and Buildbot use, in Go:
//
//	Python            jelly s-expression                    Go
//	None              ["None"]                              nil
//	True/False        ["boolean", "true"|"false"]           bool
//	int               a Banana integer                      int64
//	float             a Banana float                        float64
//	bytes             a Banana string                       []byte
//	str               ["unicode", utf-8 bytes]              string
//	list              ["list", items…]                      []any
//	tuple             ["tuple", items…]                     Tuple
//	set, frozenset    ["set"|"frozenset", items…]           []any (decode only)
//	dict              ["dictionary", [key, value]…]         map[string]any (str or bytes keys)
//	shared object     ["reference", id, obj] ["dereference", id]   resolved (decode only)
//	Referenceable     ["remote", luid]                      RemoteRef (the peer's) / an object of ours (encode)
//	our object back   ["local", luid]                       LocalRef
//	Copyable          [class, state]                        *RemoteError for twisted.spread.pb.CopyableFailure, else Copy
//	unpersistable     ["unpersistable", reason]             Unpersistable
//
// Anything else (modules, classes, functions, caches, datetimes) is
// refused with an error naming it.

// Tuple is a Python tuple.
type Tuple []any

// RemoteRef names an object of the peer (a pb.RemoteReference): calls on
// it go to the peer. The value is the peer's local id.
type RemoteRef int64

// LocalRef is one of our own objects sent back to us by the peer.
type LocalRef int64

// Copy is an instance of a Copyable class that is not a failure.
type Copy struct {
	Class string
	State any
}

// Unpersistable is what Jelly sends for an object it could not serialise.
type Unpersistable struct{ Reason string }

// localObject is how one of our objects is sent: ["remote", luid].
type localObject int64

const failureClass = "twisted.spread.pb.CopyableFailure"

// unjelly turns a decoded Banana expression into Go values.
func unjelly(sexp any) (any, error) {
	u := unjellier{}
	return u.value(sexp, 0)
}

type unjellier struct {
	refs  map[int64]shared // reference id → value; nil value while being built
	nodes int              // values made so far, a shared one counted at each use
}

// shared is a referenced value and how many values it holds, its own
// shared values counted at each use.
type shared struct {
	v     any
	nodes int
}

// maxNodes bounds the values of one expression, a shared value counted
// each time it is dereferenced: a consumer walking the result (neutral)
// copies every use. Without it a few dozen dereferences, each of a value
// made of the previous two, would stand for 2^32 values. The bound is
// what a 1 MiB message could hold without sharing (one byte a value); PB
// traffic shares nothing (Python shares only mutable containers used twice
// in one call).
const maxNodes = 1 << 20

var errCircular = errors.New("jelly: circular references are not supported")

func (u *unjellier) value(sexp any, depth int) (any, error) {
	if depth > defaultMaxNest {
		return nil, fmt.Errorf("jelly: nested deeper than %d", defaultMaxNest)
	}
	if err := u.count(1); err != nil {
		return nil, err
	}
	switch v := sexp.(type) {
	case int64, float64, []byte:
		return v, nil
	case []any:
		return u.list(v, depth)
	default:
		return nil, fmt.Errorf("jelly: unexpected %T", sexp)
	}
}

func (u *unjellier) list(l []any, depth int) (any, error) {
	if len(l) == 0 {
		return nil, errors.New("jelly: empty expression")
	}
	atom, ok := l[0].([]byte)
	if !ok {
		return nil, fmt.Errorf("jelly: expression starts with %T, not a type name", l[0])
	}
	rest := l[1:]
	switch string(atom) {
	case "None":
		return nil, nil
	case "boolean":
		if len(rest) == 1 {
			if b, ok := rest[0].([]byte); ok {
				switch string(b) {
				case "true":
					return true, nil
				case "false":
					return false, nil
				}
			}
		}
		return nil, errors.New("jelly: boolean is not true or false")
	case "unicode":
		if len(rest) == 1 {
			if b, ok := rest[0].([]byte); ok {
				return string(b), nil
			}
		}
		return nil, errors.New("jelly: unicode without its bytes")
	case "list", "set", "frozenset":
		return u.items(rest, depth)
	case "tuple":
		items, err := u.items(rest, depth)
		return Tuple(items), err
	case "dictionary":
		return u.dictionary(rest, depth)
	case "reference":
		return u.reference(rest, depth)
	case "dereference":
		if len(rest) != 1 {
			return nil, errors.New("jelly: dereference needs one id")
		}
		id, ok := rest[0].(int64)
		if !ok {
			return nil, errors.New("jelly: dereference id is not an integer")
		}
		r, seen := u.refs[id]
		if !seen {
			return nil, fmt.Errorf("jelly: dereference of unknown id %d", id)
		}
		if r.v == nil {
			return nil, errCircular
		}
		if err := u.count(r.nodes); err != nil {
			return nil, err
		}
		return r.v, nil
	case "remote", "local":
		if len(rest) != 1 {
			return nil, fmt.Errorf("jelly: %s needs one id", atom)
		}
		id, ok := rest[0].(int64)
		if !ok {
			return nil, fmt.Errorf("jelly: %s id is not an integer", atom)
		}
		if string(atom) == "remote" {
			return RemoteRef(id), nil
		}
		return LocalRef(id), nil
	case "unpersistable":
		reason := ""
		if len(rest) == 1 {
			reason = text(rest[0])
		}
		return Unpersistable{Reason: reason}, nil
	}
	// A Copyable: [class, state], the class a dotted name.
	if len(rest) != 1 || !isDotted(atom) {
		return nil, fmt.Errorf("jelly: unsupported type %q", truncate(atom))
	}
	state, err := u.value(rest[0], depth+1)
	if err != nil {
		return nil, err
	}
	if string(atom) == failureClass {
		return failureFromState(state)
	}
	return Copy{Class: string(atom), State: state}, nil
}

func (u *unjellier) items(l []any, depth int) ([]any, error) {
	out := make([]any, len(l))
	for i, e := range l {
		v, err := u.value(e, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (u *unjellier) dictionary(l []any, depth int) (map[string]any, error) {
	out := make(map[string]any, len(l))
	for _, e := range l {
		kv, ok := e.([]any)
		if !ok || len(kv) != 2 {
			return nil, errors.New("jelly: dictionary entry is not a [key, value] pair")
		}
		k, err := u.value(kv[0], depth+1)
		if err != nil {
			return nil, err
		}
		var key string
		switch k := k.(type) {
		case string:
			key = k
		case []byte:
			key = string(k)
		default:
			return nil, fmt.Errorf("jelly: dictionary key of type %T is not supported", k)
		}
		v, err := u.value(kv[1], depth+1)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return out, nil
}

func (u *unjellier) reference(l []any, depth int) (any, error) {
	if len(l) != 2 {
		return nil, errors.New("jelly: reference needs an id and an object")
	}
	id, ok := l[0].(int64)
	if !ok {
		return nil, errors.New("jelly: reference id is not an integer")
	}
	if _, seen := u.refs[id]; seen {
		return nil, fmt.Errorf("jelly: reference id %d used twice", id)
	}
	if u.refs == nil {
		u.refs = map[int64]shared{}
	}
	u.refs[id] = shared{}
	before := u.nodes
	v, err := u.value(l[1], depth+1)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("jelly: reference to None")
	}
	u.refs[id] = shared{v: v, nodes: u.nodes - before}
	return v, nil
}

// count adds n values to the expression's, and refuses more than maxNodes.
func (u *unjellier) count(n int) error {
	if u.nodes += n; u.nodes > maxNodes {
		return fmt.Errorf("jelly: more than %d values, shared ones counted at each use", maxNodes)
	}
	return nil
}

func isDotted(b []byte) bool {
	return slices.Contains(b, '.')
}

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// text renders a decoded str or bytes value as a string.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// appendJelly appends the Banana encoding of v's jelly s-expression.
func appendJelly(b []byte, v any, vocab bool) ([]byte, error) {
	return jellier{vocab: vocab}.append(b, v, 0)
}

type jellier struct{ vocab bool }

func (j jellier) atom(b []byte, s string) []byte {
	b, _ = appendString(b, s, j.vocab) // atoms are short: no error
	return b
}

func (j jellier) head(b []byte, n int, atom string) []byte {
	return j.atom(appendPrefix(b, uint64(n), typeList), atom)
}

func (j jellier) append(b []byte, v any, depth int) ([]byte, error) {
	if depth > defaultMaxNest {
		return b, fmt.Errorf("jelly: value nested deeper than %d", defaultMaxNest)
	}
	switch v := v.(type) {
	case nil:
		return j.head(b, 1, "None"), nil
	case bool:
		word := "false"
		if v {
			word = "true"
		}
		return j.atom(j.head(b, 2, "boolean"), word), nil
	case int:
		return appendInt(b, int64(v)), nil
	case int64:
		return appendInt(b, v), nil
	case int32:
		return appendInt(b, int64(v)), nil
	case uint32:
		return appendInt(b, int64(v)), nil
	case float64:
		return AppendExpr(b, v, false)
	case string:
		b = j.head(b, 2, "unicode")
		return appendString(b, v, j.vocab)
	case []byte:
		return appendString(b, v, j.vocab)
	case Tuple:
		return j.items(j.head(b, len(v)+1, "tuple"), v, depth)
	case []any:
		return j.items(j.head(b, len(v)+1, "list"), v, depth)
	case []string:
		b = j.head(b, len(v)+1, "list")
		for _, s := range v {
			b, _ = j.append(b, s, depth+1)
		}
		return b, nil
	case map[string]any:
		return jellyDict(j, b, v, depth)
	case map[string]string:
		return jellyDict(j, b, v, depth)
	case localObject:
		return appendInt(j.head(b, 2, "remote"), int64(v)), nil
	case RemoteRef:
		return appendInt(j.head(b, 2, "local"), int64(v)), nil
	case *RemoteError:
		return j.failure(b, v), nil
	}
	return j.reflected(b, v, depth)
}

func (j jellier) items(b []byte, items []any, depth int) ([]byte, error) {
	var err error
	for _, e := range items {
		if b, err = j.append(b, e, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// jellyDict encodes a map with its keys sorted, so that the same map
// always gives the same bytes.
func jellyDict[V any](j jellier, b []byte, m map[string]V, depth int) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = j.head(b, len(keys)+1, "dictionary")
	var err error
	for _, k := range keys {
		b = appendPrefix(b, 2, typeList)
		b, _ = j.append(b, k, depth+1)
		if b, err = j.append(b, m[k], depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// reflected encodes the other integer kinds, slices and string-keyed maps.
func (j jellier) reflected(b []byte, v any, depth int) ([]byte, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(b, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt64 {
			return b, fmt.Errorf("jelly: %d does not fit 64 bits", rv.Uint())
		}
		return appendInt(b, int64(rv.Uint())), nil
	case reflect.Float32:
		return AppendExpr(b, rv.Float(), false)
	case reflect.String:
		return j.append(b, rv.String(), depth)
	case reflect.Bool:
		return j.append(b, rv.Bool(), depth)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return j.append(b, nil, depth)
		}
		b = j.head(b, rv.Len()+1, "list")
		var err error
		for i := range rv.Len() {
			if b, err = j.append(b, rv.Index(i).Interface(), depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return b, fmt.Errorf("jelly: map keys of type %s are not supported", rv.Type().Key())
		}
		if rv.IsNil() {
			return j.append(b, nil, depth)
		}
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[it.Key().String()] = it.Value().Interface()
		}
		return jellyDict(j, b, m, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return j.append(b, nil, depth)
		}
		return j.append(b, rv.Elem().Interface(), depth)
	}
	return b, fmt.Errorf("jelly: cannot encode %T", v)
}
