package secrets

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
)

// RetiredPerName is how many of a secret's former values Retired keeps.
const RetiredPerName = 4

// Retired holds the values secrets had before they were rotated (or left
// the config), so that a process can go on redacting them: text written
// before a rotation, or by something still holding the old value, must
// not show it once the new one is in use. It keeps the last
// RetiredPerName values of each name, so it stays bounded however often a
// secret is rotated. The zero Retired is empty and ready; it is not safe
// for concurrent use.
type Retired struct {
	m map[string][]string // oldest first
}

// Add records that name no longer has value.
func (r *Retired) Add(name, value string) {
	if r.m == nil {
		r.m = map[string][]string{}
	}
	old := slices.DeleteFunc(r.m[name], func(v string) bool { return v == value })
	old = append(old, value)
	if len(old) > RetiredPerName {
		old = slices.Delete(old, 0, len(old)-RetiredPerName)
	}
	r.m[name] = old
}

// Replaced records the values of was that now has not (a name gone, or
// holding another value).
func (r *Retired) Replaced(was, now Values) {
	for n, v := range was.m {
		if cur, ok := now.m[n]; !ok || cur != v {
			r.Add(n, v)
		}
	}
}

// Len is the number of values held.
func (r *Retired) Len() int {
	n := 0
	for _, vs := range r.m {
		n += len(vs)
	}
	return n
}

// RedactorWith returns a Redactor for these values and, behind the marker
// of their name, the retired values of r (nil: none) and the values of
// more (those a build rendered, which may differ from these under the same
// name: both are hidden).
func (v Values) RedactorWith(r *Retired, more ...Values) *Redactor {
	other := map[string][]string{}
	if r != nil {
		maps.Copy(other, r.m)
	}
	for _, m := range more {
		for n, val := range m.m {
			if cur, ok := v.m[n]; !ok || cur != val {
				other[n] = append(slices.Clip(other[n]), val)
			}
		}
	}
	return newRedactor(v.m, other)
}

// Format shows how many values are held, never one, whatever the verb.
func (r *Retired) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "secrets.Retired[%d values]", r.Len())
}

// LogValue shows how many values are held, never one.
func (r *Retired) LogValue() slog.Value { return slog.IntValue(r.Len()) }
