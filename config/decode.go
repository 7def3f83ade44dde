package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/messages"
)

// Parse decodes the YAML config data (named name in errors) into a
// MasterConfig without applying defaults or validating it.
//
// The walk is driven by the protobuf descriptor, so it follows the schema
// without per-field code. It collects every error instead of stopping at the
// first; err is then an [Errors], sorted. Even on error, cfg and src are
// non-nil and hold everything that could be decoded: a value that could not be
// decoded is left unset (a list element is kept, zero, so that indexes match
// the file). An empty document is an empty config. Parse never panics.
func Parse(name string, data []byte) (cfg *messages.MasterConfig, src *Source, err error) {
	cfg = &messages.MasterConfig{}
	d := &decoder{src: &Source{file: name}}
	defer func() {
		// yaml.v3 is not ours; never let a bug in it take the master down.
		if r := recover(); r != nil {
			cfg, d.src = &messages.MasterConfig{}, &Source{file: name}
			d.errs = append(d.errs[:0], &Error{File: name, Msg: fmt.Sprintf("internal error while reading the config (please report it): %v", r)})
			err = d.errs.err()
		}
	}()
	if root := d.document(data); root != nil && !isNull(root) {
		pn := &d.src.root
		pn.line, pn.col = int32(root.Line), int32(root.Column)
		if d.expect(root, yaml.MappingNode, "a mapping (key: value) at the top level", pn) {
			d.message(root, cfg.ProtoReflect(), pn)
		}
	}
	return cfg, d.src, d.errs.err()
}

// decoder walks a yaml.Node tree against a message descriptor. Alongside,
// it builds the Source tree; each value is decoded with the posNode of its
// key (or list element), which locates its errors and knows its path.
type decoder struct {
	src  *Source
	errs Errors
}

// yamlLine matches the location prefix of yaml.v3's syntax errors.
var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: (?:line (\d+): )?`) })

// parserProblems are yaml.v3's parser (as opposed to scanner) errors. For
// these it reports the 0-based line of the enclosing node, or of the problem.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// document parses data and returns its one document's root node: nil for an
// empty document, or after reporting a syntax error or a second document.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, extra yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			d.syntaxError(err)
		}
		return nil
	}
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntaxError(err)
		return nil
	default:
		d.errorAt(&extra, "", "a config file holds one YAML document; found a second one")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if parserProblems[msg] {
			line++
		}
	}
	if strings.HasPrefix(msg, "unknown anchor ") {
		msg = aliasProblem
	}
	// Never echo the file's text: what yaml.v3 quotes may be a secret.
	msg = quoted().ReplaceAllString(msg, "'…'")
	d.errs = append(d.errs, &Error{File: d.src.file, Line: line, Msg: "YAML syntax error: " + msg})
}

// aliasProblem explains an alias without naming it: the name is the file's
// text after a '*', which may well be an unquoted password.
const aliasProblem = "YAML aliases are not supported (an unquoted value that starts with * is an alias: quote it); write the value out"

// quoted matches text yaml.v3 quotes from the file in its messages (but not
// the single characters it names, such as ',' or ']').
var quoted = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`'[^'\s][^']*[^'\s]'`) })

// errorAt records an error at node n, a key that was not recorded.
func (d *decoder) errorAt(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.src.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// errorf records an error at pn: the key of a field or map entry, or a list
// element.
func (d *decoder) errorf(pn *posNode, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.src.file, Line: int(pn.line), Column: int(pn.col), Path: pn.path(), Msg: fmt.Sprintf(format, args...)})
}

// expect reports whether n is a node of kind k, and an error (saying that
// want was expected) if it is not. Aliases are rejected here, wherever a
// value is read.
func (d *decoder) expect(n *yaml.Node, k yaml.Kind, want string, pn *posNode) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		d.errorf(pn, "%s", aliasProblem)
		return false
	case n.Kind != k:
		d.errorf(pn, "expected %s, got %s", want, describe(n))
		return false
	}
	return true
}

// message decodes the mapping n into m; pn is m's position.
func (d *decoder) message(n *yaml.Node, m protoreflect.Message, pn *posNode) {
	fields := m.Descriptor().Fields()
	seen := newKeySet(n)
	pn.open(len(n.Content)/2, false)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.key(k, pn) || !seen.add(d, k, pn) {
			continue
		}
		fd := fields.ByName(protoreflect.Name(k.Value))
		if fd == nil {
			d.errorAt(k, fieldPath(pn.path(), k.Value), "%s", unknownKey(k.Value, m.Descriptor()))
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && !isNull(v) {
			if other := oneofSibling(n, i, fields, od); other != nil {
				d.errorAt(k, fieldPath(pn.path(), k.Value), "only one of %s may be set; %s is already set at line %d",
					oneofNames(od), other.Value, other.Line)
				continue
			}
		}
		kid := pn.add(k.Value, k.Line, k.Column)
		if !isNull(v) {
			d.field(v, m, fd, kid)
		}
	}
}

// oneofSibling returns the key before index i in mapping n that sets another
// member of oneof od, or nil.
func oneofSibling(n *yaml.Node, i int, fields protoreflect.FieldDescriptors, od protoreflect.OneofDescriptor) *yaml.Node {
	for j := 0; j < i; j += 2 {
		k := n.Content[j]
		if k.Kind != yaml.ScalarNode || k.Value == n.Content[i].Value || isNull(n.Content[j+1]) {
			continue
		}
		if fd := fields.ByName(protoreflect.Name(k.Value)); fd != nil && fd.ContainingOneof() == od {
			return k
		}
	}
	return nil
}

// key reports whether k, a key of the mapping at pn, can be used as a key.
func (d *decoder) key(k *yaml.Node, pn *posNode) bool {
	var problem string
	switch {
	case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
		problem = "YAML merge keys (<<) are not supported; write the keys out"
	case isNull(k):
		problem = "a key must not be null"
	case k.Kind == yaml.AliasNode:
		problem = aliasProblem
	case k.Kind != yaml.ScalarNode:
		problem = "a key must be a plain string, got " + describe(k)
	default:
		return true
	}
	d.errorAt(k, pn.path(), "%s", problem)
	return false
}

// field decodes v into field fd of m; pn is the field's position.
func (d *decoder) field(v *yaml.Node, m protoreflect.Message, fd protoreflect.FieldDescriptor, pn *posNode) {
	switch {
	case fd.IsMap():
		if d.expect(v, yaml.MappingNode, "a mapping (key: value)", pn) {
			d.mapField(v, m.Mutable(fd).Map(), fd, pn)
		}
	case fd.IsList():
		if d.expect(v, yaml.SequenceNode, "a list", pn) {
			d.listField(v, m.Mutable(fd).List(), fd, pn)
		}
	case isMessage(fd):
		// Set even when v is not a mapping: the key was written, and a oneof
		// member that is present does not also get "no kind set".
		msg := m.Mutable(fd).Message()
		if d.expect(v, yaml.MappingNode, "a mapping (key: value)", pn) {
			d.message(v, msg, pn)
		}
	case isSecret(fd) && v.Kind == yaml.MappingNode:
		if ref, ok := d.secretRef(v, pn); ok {
			m.Set(fd, protoreflect.ValueOfString(ref))
		}
	default:
		if val, ok := d.scalar(v, fd, pn); ok {
			m.Set(fd, val)
		}
	}
}

// secretRef decodes `{secret: NAME}`, the reference a secret field may hold
// in place of its value, into the reference's text form "%(secret:NAME)s"
// (SecretRef), which ResolveSecrets replaces by the value.
func (d *decoder) secretRef(v *yaml.Node, pn *posNode) (string, bool) {
	if len(v.Content) != 2 || v.Content[0].Value != "secret" || v.Content[1].Kind != yaml.ScalarNode {
		d.errorf(pn, "want a value or {secret: NAME}")
		return "", false
	}
	name := v.Content[1].Value
	if !validSecretName(name) {
		d.errorf(pn, "secret name %q: want letters, digits and . _ - / | only", name)
		return "", false
	}
	return SecretRef(name), true
}

func (d *decoder) listField(n *yaml.Node, list protoreflect.List, fd protoreflect.FieldDescriptor, pn *posNode) {
	pn.open(len(n.Content), true)
	for _, e := range n.Content {
		kid := pn.add("", e.Line, e.Column)
		if isMessage(fd) {
			elem := list.AppendMutable().Message()
			if !isNull(e) && d.expect(e, yaml.MappingNode, "a mapping (key: value)", kid) {
				d.message(e, elem, kid)
			}
			continue
		}
		val, ok := protoreflect.Value{}, false
		if !isNull(e) {
			val, ok = d.scalar(e, fd, kid)
		}
		if !ok {
			val = list.NewElement() // keep the indexes of the file
		}
		list.Append(val)
	}
}

func (d *decoder) mapField(n *yaml.Node, mp protoreflect.Map, fd protoreflect.FieldDescriptor, pn *posNode) {
	kfd, vfd := fd.MapKey(), fd.MapValue()
	seen := newKeySet(n)
	pn.open(len(n.Content)/2, false)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.key(k, pn) || !seen.add(d, k, pn) {
			continue
		}
		kid := pn.add(k.Value, k.Line, k.Column)
		key, ok := d.scalar(k, kfd, kid)
		if !ok || isNull(v) {
			continue
		}
		if isMessage(vfd) {
			if d.expect(v, yaml.MappingNode, "a mapping (key: value)", kid) {
				d.message(v, mp.Mutable(key.MapKey()).Message(), kid)
			}
			continue
		}
		if isSecret(fd) && v.Kind == yaml.MappingNode {
			if ref, ok := d.secretRef(v, kid); ok {
				mp.Set(key.MapKey(), protoreflect.ValueOfString(ref))
			}
			continue
		}
		if val, ok := d.scalar(v, vfd, kid); ok {
			mp.Set(key.MapKey(), val)
		}
	}
}

// scalar decodes the scalar n as a value of fd's kind (or a Duration); pn is
// its position.
func (d *decoder) scalar(n *yaml.Node, fd protoreflect.FieldDescriptor, pn *posNode) (protoreflect.Value, bool) {
	if n.Kind != yaml.ScalarNode {
		d.expect(n, yaml.ScalarNode, wantScalar(fd), pn)
		return protoreflect.Value{}, false
	}
	tag, s := n.ShortTag(), n.Value
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s), true
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(s)), true
	case protoreflect.BoolKind:
		if tag != "!!bool" {
			return d.mismatch(pn, fd, "true or false", s)
		}
		return protoreflect.ValueOfBool(strings.EqualFold(s, "true")), true
	case protoreflect.EnumKind:
		return d.enum(s, fd, pn)
	case protoreflect.MessageKind:
		if fd.Message().FullName() == durationName {
			return d.duration(s, fd, pn)
		}
	default:
		v, want, ok := number(tag, s, fd.Kind())
		if ok {
			return v, true
		}
		if want != "" {
			return d.mismatch(pn, fd, want, s)
		}
	}
	d.errorf(pn, "cannot decode a field of kind %s", fd.Kind())
	return protoreflect.Value{}, false
}

// mismatch reports that the scalar s at pn is not the want that fd takes,
// quoting s unless fd is secret.
func (d *decoder) mismatch(pn *posNode, fd protoreflect.FieldDescriptor, want, s string) (protoreflect.Value, bool) {
	if isSecret(fd) {
		d.errorf(pn, "expected %s", want)
	} else {
		d.errorf(pn, "expected %s, got %s", want, quoteName(s))
	}
	return protoreflect.Value{}, false
}

// number decodes s, of YAML tag tag, as a number of kind k, and says what
// k takes (want, for the error when ok is false); want is empty when k is
// not a number kind.
func number(tag, s string, k protoreflect.Kind) (v protoreflect.Value, want string, ok bool) {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		i, ok := parseInt(tag, s, 32)
		return protoreflect.ValueOfInt32(int32(i)), "an integer from -2147483648 to 2147483647", ok
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		i, ok := parseInt(tag, s, 64)
		return protoreflect.ValueOfInt64(i), "a 64-bit integer", ok
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		u, ok := parseUint(tag, s, 32)
		return protoreflect.ValueOfUint32(uint32(u)), "an integer from 0 to 4294967295", ok
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		u, ok := parseUint(tag, s, 64)
		return protoreflect.ValueOfUint64(u), "a non-negative 64-bit integer", ok
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(s, 64)
		if (tag != "!!float" && tag != "!!int") || err != nil ||
			(k == protoreflect.FloatKind && math.Abs(f) > math.MaxFloat32) {
			return protoreflect.Value{}, "a number", false
		}
		if k == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), "a number", true
		}
		return protoreflect.ValueOfFloat64(f), "a number", true
	}
	return protoreflect.Value{}, "", false
}

// enum decodes s as a value name of fd's enum; an unknown name is reported
// with the allowed ones and the closest.
func (d *decoder) enum(s string, fd protoreflect.FieldDescriptor, pn *posNode) (protoreflect.Value, bool) {
	if v, ok := enumValue(fd.Enum(), s); ok {
		return protoreflect.ValueOfEnum(v), true
	}
	msg := fmt.Sprintf("unknown %s %s; allowed: %s", fd.Name(), quoteName(s), strings.Join(enumNames(fd.Enum()), ", "))
	if best := closest(s, enumNames(fd.Enum())); best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	d.errorf(pn, "%s", msg)
	return protoreflect.Value{}, false
}

// duration decodes s as a Duration (parseDuration), not negative.
func (d *decoder) duration(s string, fd protoreflect.FieldDescriptor, pn *posNode) (protoreflect.Value, bool) {
	dur, err := parseDuration(s)
	if err != nil {
		return d.mismatch(pn, fd, durationExpected, s)
	}
	if dur < 0 {
		d.errorf(pn, "duration %s is negative", s)
		return protoreflect.Value{}, false
	}
	return protoreflect.ValueOfMessage(durationpb.New(dur).ProtoReflect()), true
}

const durationName = "google.protobuf.Duration"

// durationExpected is what an error says a duration looks like.
const durationExpected = "a duration such as 30s, 1m30s, 1h or 30d"

// parseDuration is time.ParseDuration that also takes a number of days
// first, as horizons are written: "30d", "1d12h".
func parseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil || days[0] == '+' {
		return 0, fmt.Errorf("time: invalid duration %q", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil || r < 0 {
		return 0, fmt.Errorf("time: invalid duration %q", s)
	}
	return d + r, nil
}

// isMessage reports whether fd (or its list elements) is a message decoded
// from a mapping; a Duration is decoded from a scalar.
func isMessage(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() != durationName
}

func isSecret(fd protoreflect.FieldDescriptor) bool {
	secret, _ := proto.GetExtension(fd.Options(), messages.E_Secret).(bool)
	return secret
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func parseInt(tag, s string, bits int) (int64, bool) {
	if tag != "!!int" {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, bits)
	return i, err == nil
}

func parseUint(tag, s string, bits int) (uint64, bool) {
	if tag != "!!int" {
		return 0, false
	}
	u, err := strconv.ParseUint(strings.TrimPrefix(strings.ReplaceAll(s, "_", ""), "+"), 0, bits)
	return u, err == nil
}

// enumPrefix is the prefix shared by the values of e, taken from its zero
// value: "SCHEDULER_TYPE_" from SCHEDULER_TYPE_UNSPECIFIED.
func enumPrefix(e protoreflect.EnumDescriptor) string {
	zero := e.Values().ByNumber(0)
	if zero == nil {
		return ""
	}
	name := string(zero.Name())
	return strings.TrimSuffix(name, "UNSPECIFIED")
}

// enumValue looks up the YAML spelling s ("single_branch") in e. The zero
// (_UNSPECIFIED) value is never accepted.
func enumValue(e protoreflect.EnumDescriptor, s string) (protoreflect.EnumNumber, bool) {
	if s == "" || s != strings.ToLower(s) {
		return 0, false
	}
	v := e.Values().ByName(protoreflect.Name(enumPrefix(e) + strings.ToUpper(s)))
	if v == nil || v.Number() == 0 {
		return 0, false
	}
	return v.Number(), true
}

// enumNames lists the YAML spellings of e's values, without the zero value.
func enumNames(e protoreflect.EnumDescriptor) []string {
	prefix := enumPrefix(e)
	var names []string
	for i := range e.Values().Len() {
		v := e.Values().Get(i)
		if v.Number() != 0 {
			names = append(names, strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix)))
		}
	}
	return names
}

// enumName returns the YAML spelling of an enum value: "single_branch" for
// SCHEDULER_TYPE_SINGLE_BRANCH, "" for the zero value.
func enumName(v protoreflect.Enum) string {
	if v.Number() == 0 {
		return ""
	}
	ev := v.Descriptor().Values().ByNumber(v.Number())
	if ev == nil {
		return strconv.Itoa(int(v.Number()))
	}
	return strings.ToLower(strings.TrimPrefix(string(ev.Name()), enumPrefix(v.Descriptor())))
}

func oneofNames(od protoreflect.OneofDescriptor) string {
	names := make([]string, od.Fields().Len())
	for i := range names {
		names[i] = string(od.Fields().Get(i).Name())
	}
	return strings.Join(names, ", ")
}

// unknownKey explains why key is not a field of md.
func unknownKey(key string, md protoreflect.MessageDescriptor) string {
	names := make([]string, md.Fields().Len())
	for i := range names {
		names[i] = string(md.Fields().Get(i).Name())
	}
	if best := closest(key, names); best != "" {
		return fmt.Sprintf("unknown key %s; did you mean %q?", quoteName(key), best)
	}
	return fmt.Sprintf("unknown key %s; allowed keys: %s", quoteName(key), strings.Join(names, ", "))
}

// wantScalar says what a scalar of fd's kind looks like, for "expected …".
func wantScalar(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "a string"
	case protoreflect.BoolKind:
		return "true or false"
	case protoreflect.EnumKind:
		return "one of " + strings.Join(enumNames(fd.Enum()), ", ")
	case protoreflect.MessageKind:
		return durationExpected
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "a number"
	default:
		return "an integer"
	}
}

// describe says what n is: "a list", "a mapping", "a number" …
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	default:
		return "a string"
	}
}

// keySet finds duplicate keys in one mapping.
type keySet struct {
	n    *yaml.Node
	seen map[string]*yaml.Node // only for large mappings; small ones are scanned
}

func newKeySet(n *yaml.Node) keySet {
	ks := keySet{n: n}
	if len(n.Content) > 64 {
		ks.seen = make(map[string]*yaml.Node, len(n.Content)/2)
	}
	return ks
}

// add reports whether k (a key of the mapping at pn) is new, and an error if not.
func (ks *keySet) add(d *decoder, k *yaml.Node, pn *posNode) bool {
	var first *yaml.Node
	if ks.seen != nil {
		if first = ks.seen[k.Value]; first == nil {
			ks.seen[k.Value] = k
		}
	} else {
		for j := 0; j < len(ks.n.Content) && ks.n.Content[j] != k; j += 2 {
			if c := ks.n.Content[j]; c.Kind == yaml.ScalarNode && c.Value == k.Value {
				first = c
				break
			}
		}
	}
	if first == nil {
		return true
	}
	d.errorAt(k, fieldPath(pn.path(), k.Value), "duplicate key %s (first at line %d)", quoteName(k.Value), first.Line)
	return false
}
