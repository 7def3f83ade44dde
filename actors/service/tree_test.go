package service

import (
	"slices"
	"testing"
)

// NotRunning names, sorted, every actor not running, whatever the reason.
func TestTreeNotRunning(t *testing.T) {
	tr := NewTree()
	root := tr.add(nil, "master", "master", "master")
	for path, status := range map[string]string{
		"master/db": StatusRunning, "master/botmaster": StatusStarting, "master/status": StatusRestarting,
		"master/debug": StatusFailed, "master/metrics": StatusStopping,
	} {
		tr.add(root, path, ChildName(path), "svc").setStatus(status)
	}
	want := []string{"master", "master/botmaster", "master/debug", "master/metrics", "master/status"}
	if got := tr.NotRunning(); !slices.Equal(got, want) || tr.AllRunning() {
		t.Fatalf("NotRunning = %v (AllRunning %v), want %v", got, tr.AllRunning(), want)
	}
	for _, path := range want {
		tr.Lookup(path).setStatus(StatusRunning)
	}
	if got := tr.NotRunning(); len(got) != 0 || !tr.AllRunning() {
		t.Fatalf("NotRunning = %v once all run", got)
	}
}
