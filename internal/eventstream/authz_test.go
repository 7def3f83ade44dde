package eventstream

import (
	"fmt"
	"testing"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// A stream asks its viewer once per class, whether the bus numbered the
// class (kept by number, up to the highest number the bus gives) or not
// (kept by name), and keeps each answer.
func TestClassesAskOnce(t *testing.T) {
	a := &testAuthz{noClasses: map[string]bool{"builders/1": true, "builders/3": true}}
	c := classes{viewer: &testViewer{a: a, user: "bob"}}
	events := []*mq.Event{
		{Class: "builders/1", ClassID: 1},
		{Class: "builders/2", ClassID: 2},
		{Class: "builders/3", ClassID: mq.MaxClassIDs},
		{Class: "builders/4", ClassID: 0},
		{Class: "", ClassID: 7},
	}
	for range 3 {
		var got []bool
		for _, ev := range events {
			got = append(got, c.allowed(ev))
		}
		if fmt.Sprint(got) != "[false true false true true]" {
			t.Fatalf("allowed: %v", got)
		}
	}
	if fmt.Sprint(a.asked) != "[bob:builders/1 bob:builders/2 bob:builders/3 bob:builders/4 bob:]" {
		t.Errorf("MayReceive calls: %q", a.asked)
	}
}
