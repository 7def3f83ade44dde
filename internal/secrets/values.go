package secrets

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// Values holds secret values by name: the secrets one build (or one
// config) has used, to be redacted from what it prints. Printing a Values
// (fmt, slog) shows its names only. The zero Values is empty and ready.
type Values struct {
	m map[string]string
}

// Add records name's value.
func (v *Values) Add(name, value string) {
	if v.m == nil {
		v.m = map[string]string{}
	}
	v.m[name] = value
}

// Merge adds every value of o.
func (v *Values) Merge(o Values) {
	for n, val := range o.m {
		v.Add(n, val)
	}
}

// Value returns name's value.
func (v Values) Value(name string) (string, bool) {
	s, ok := v.m[name]
	return s, ok
}

// Names returns the names, sorted.
func (v Values) Names() []string { return slices.Sorted(maps.Keys(v.m)) }

// Len is the number of names.
func (v Values) Len() int { return len(v.m) }

// Redactor returns a Redactor for these values.
func (v Values) Redactor() *Redactor { return NewRedactor(v.m) }

// String shows the names only.
func (v Values) String() string { return "secrets[" + strings.Join(v.Names(), " ") + "]" }

// GoString shows the names only, for %#v.
func (v Values) GoString() string { return fmt.Sprintf("secrets.Values{names: %q}", v.Names()) }

// Format shows the names only, whatever the verb (%d would otherwise
// print the fields).
func (v Values) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, v.GoString())
		return
	}
	fmt.Fprint(f, v.String())
}

// LogValue shows the names only.
func (v Values) LogValue() slog.Value { return slog.AnyValue(v.Names()) }
