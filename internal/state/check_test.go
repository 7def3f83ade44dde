package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// buildProps is a property list the size of a build's (the scheduler's,
// the builder's, the worker's and the build's own).
func buildProps(n int) []*messages.Property {
	props := make([]*messages.Property, n)
	for i := range props {
		props[i] = &messages.Property{Name: fmt.Sprintf("prop%d", i), Source: "Build", ValueJson: `"some value"`}
	}
	return props
}

// checkProps refuses each kind of bad property with the message that
// names it, with a short list and with a long one (names compared
// pairwise or through a map).
func TestCheckPropsRefuses(t *testing.T) {
	for _, n := range []int{3, smallProps + 5} {
		for _, c := range []struct {
			name  string
			spoil func(*messages.Property)
			want  string
		}{
			{"no name", func(p *messages.Property) { p.Name = "" }, "p[2] has no name"},
			{"long name", func(p *messages.Property) { p.Name = strings.Repeat("n", MaxFieldBytes+1) }, "p[2].name is 4097 bytes, limit 4096"},
			{"long source", func(p *messages.Property) { p.Source = strings.Repeat("s", MaxFieldBytes+1) }, "p[2].source is 4097 bytes, limit 4096"},
			{"long value", func(p *messages.Property) { p.ValueJson = strings.Repeat("1", MaxPropertyValueBytes+1) }, `p[2] ("prop2").value_json is 65537 bytes, limit 65536`},
			{"bad json", func(p *messages.Property) { p.ValueJson = "{" }, `p[2] ("prop2").value_json is not valid JSON`},
			{"twice", func(p *messages.Property) { p.Name = "prop0" }, `p[2]: property "prop0" given twice`},
		} {
			t.Run(fmt.Sprintf("%s/%d", c.name, n), func(t *testing.T) {
				props := buildProps(n)
				c.spoil(props[2])
				err := checkProps("k", "p", props)
				if !errors.Is(err, ErrBadCommand) || !strings.HasSuffix(err.Error(), "k: "+c.want) {
					t.Fatalf("got %v, want a bad command ending %q", err, c.want)
				}
			})
		}
		if err := checkProps("k", "p", buildProps(n)); err != nil {
			t.Errorf("%d good properties: %v", n, err)
		}
	}
	dup := buildProps(smallProps + 5)
	dup[smallProps+4].Name = "prop1"
	if err := checkProps("k", "p", dup); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a name given twice in a long list: %v", err)
	}
}

// Checking a build's properties, at every build start, allocates nothing
// (it used to format two labels per property and fill a map: 143
// allocations for 20 properties). Under -race, sync.Pool drops a quarter
// of what it is given, so json.Valid's pooled scanner is sometimes made
// anew: the bound is half an allocation per property.
func TestCheckPropsAllocs(t *testing.T) {
	props := buildProps(20)
	if n := testing.AllocsPerRun(100, func() {
		if err := checkProps("add_build", "properties", props); err != nil {
			t.Fatal(err)
		}
	}); n > float64(len(props))/2 {
		t.Errorf("checking %d properties: %.1f allocations, want none", len(props), n)
	}
}
