package master_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/droplog"
)

// TestRefusalsRunOnTheirClock: the master's refusal budget
// (Runtime.Refusals) runs on Options.RefusalsNow: a source whose burst is
// spent is logged again once that clock, not the real one, has moved a
// period.
func TestRefusalsRunOnTheirClock(t *testing.T) {
	var now atomic.Int64
	m := mastertest.Start(t, "", "", nil, func(o *master.Options) {
		o.RefusalsNow = func() time.Time { return time.Unix(0, now.Load()) }
	})
	for range droplog.DefaultSourceBurst {
		m.RT.Refusals.Refused("192.0.2.1:1", "refused")
	}
	if m.RT.Refusals.Refused("192.0.2.1:1", "refused") {
		t.Fatal("logged past the source's burst")
	}
	now.Add(int64(droplog.DefaultSourceEvery))
	if !m.RT.Refusals.Refused("192.0.2.1:1", "refused") {
		t.Fatal("not logged once the budget's clock moved a period")
	}
}
