package master_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
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

// TestBadTokensDoNotFloodTheLog: control requests with a wrong admin token
// (which the remote endpoint lets through to the actor, from any peer),
// repeated at one instant of the refusal budget's clock, log their
// source's burst of lines, each naming the source (from=), and are all
// refused.
func TestBadTokensDoNotFloodTheLog(t *testing.T) {
	log, logs := testkit.NewLogs()
	m := mastertest.Start(t, "", "", log, mastertest.RefusalsStandStill)
	for range 3 * droplog.DefaultSourceBurst {
		res, err := m.RT.System.Root.RequestFuture(m.PID, &messages.GetTreeRequest{Token: "wrong"}, testkit.DefaultTimeout).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ce, ok := res.(*messages.ControlError); !ok || ce.GetCode() != messages.ControlErrorCode_CONTROL_ERROR_CODE_UNAUTHENTICATED {
			t.Fatalf("reply to a bad token: %v", res)
		}
	}
	lines := strings.Count(logs.String(), `msg="control request refused: bad admin token" from=`)
	if lines != droplog.DefaultSourceBurst {
		t.Errorf("%d bad tokens logged %d lines, want %d:\n%s", 3*droplog.DefaultSourceBurst, lines, droplog.DefaultSourceBurst, logs)
	}
}
