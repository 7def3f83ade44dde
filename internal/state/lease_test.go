package state

import (
	"testing"
	"time"
)

// An idle master's raft leader wakes only to check its lease: at most
// once a second.
func TestLeaderChecksItsLeaseOnceASecond(t *testing.T) {
	var o Options
	o.defaults()
	conf := raftConfig(o, newHCLogger(quiet(), 0))
	if conf.LeaderLeaseTimeout < time.Second {
		t.Errorf("the leader checks its lease every %s, want at least 1s", conf.LeaderLeaseTimeout)
	}
}

// A single voter stands for election at once, on a new directory and on
// reopening one: Open does not wait for raft's heartbeat timeout, here
// longer than Open may wait.
func TestOpenDoesNotWaitForTheHeartbeatTimeout(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), StartTimeout: 30 * time.Second, leaseCheck: time.Hour}
	for _, what := range []string{"new", "reopened"} {
		s, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
