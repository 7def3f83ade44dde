package mq

import (
	"fmt"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// Every kind and event, with every id set, gives Buildbot's keys; the
// golden file is the table a reader checks against buildbot/data/*.py.
func TestKeysGolden(t *testing.T) {
	full := Change{ID: 12, BuilderID: 3, Number: 7, WorkerID: 5, BuildsetID: 9, BuildID: 40, StepID: 41, Slug: "stdio"}
	var out strings.Builder
	for kind := Changes; kind <= TestResultSets; kind++ {
		for _, r := range routes[kind].rules {
			for _, ev := range r.events {
				c := full
				c.Kind, c.Event = kind, ev
				keys, err := Keys(c)
				if err != nil {
					t.Fatalf("%v %s: %v", kind, ev, err)
				}
				fmt.Fprintf(&out, "%s %s (class %q):\n", kind, ev, c.Class())
				for _, k := range keys {
					fmt.Fprintf(&out, "  %s\n", k)
				}
			}
		}
	}
	testkit.Golden(t, "testdata/routing.golden", []byte(out.String()))
}

func TestKeysOptionalWorker(t *testing.T) {
	keys, err := Keys(Change{Kind: Builds, Event: "new", ID: 12, BuilderID: 3, Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(keys); got != "[builders/3/builds/1/new builds/12/new]" {
		t.Errorf("keys without a worker: %s", got)
	}
}

func TestKeysErrors(t *testing.T) {
	for _, tc := range []struct {
		c   Change
		err string
	}{
		{Change{Event: "new", ID: 1}, "routing keys: unknown kind Kind(0)"},
		{Change{Kind: 99, Event: "new", ID: 1}, "routing keys: unknown kind Kind(99)"},
		{Change{Kind: Builds, Event: "cancel", ID: 1}, `routing keys: builds has no event "cancel" (known: [new update finished])`},
		{Change{Kind: Builds, Event: "new", ID: 1, Number: 1}, "routing keys: builds new: key builders/… needs BuilderID"},
		{Change{Kind: Builds, Event: "new", BuilderID: 1, Number: 1}, "routing keys: builds new: key builds/… needs ID"},
		{Change{Kind: BuildRequests, Event: "new", ID: 1, BuilderID: 2}, "routing keys: buildrequests new: key buildsets/… needs BuildsetID"},
		{Change{Kind: Logs, Event: "append", ID: 1, StepID: 2}, "routing keys: logs append: key steps/… needs Slug"},
		{Change{Kind: Logs, Event: "append", ID: 1, StepID: 2, Slug: "a/b"}, `routing keys: key "steps/2/logs/a/b/append": segment 4: "a/b": byte 2 ('/') cannot appear in a key`},
		{Change{Kind: Steps, Event: "new", ID: 1}, "routing keys: steps new: key builds/… needs BuildID"},
	} {
		_, err := Keys(tc.c)
		if errString(err) != tc.err {
			t.Errorf("Keys(%+v) = %v, want %q", tc.c, err, tc.err)
		}
	}
}

func TestPublishChange(t *testing.T) {
	b := New()
	all := subscribe(t, b, 10, "builds/*/*", "builders/*/builds/*/*", "workers/*/builds/*/*")
	if err := b.PublishChange(Change{Kind: Builds, Event: "finished", ID: 12, BuilderID: 3, Number: 7, WorkerID: 5}, []byte(`{"buildid":12}`)); err != nil {
		t.Fatal(err)
	}
	got := queued(all)
	want := []string{
		`builders/3/builds/7/finished {"buildid":12}`,
		`builds/12/finished {"buildid":12}`,
		`workers/5/builds/12/finished {"buildid":12}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	err := b.PublishChange(Change{Kind: Builds, Event: "finished", ID: 12, BuilderID: 3, Number: 7}, []byte(`{`))
	if errString(err) != "publish builds finished: body is not one JSON value" {
		t.Errorf("bad body: %v", err)
	}
	if err := b.PublishChange(Change{Kind: Builds, Event: "nope"}, []byte(`{}`)); err == nil {
		t.Error("bad change published")
	}
	if st := b.Stats(); st.Published != 3 {
		t.Errorf("stats %+v", st)
	}
}
