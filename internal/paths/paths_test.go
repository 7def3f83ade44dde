package paths_test

import (
	"testing"

	"github.com/buildmaster/buildmaster/internal/paths"
)

// The paths are the protoactor ids other processes (the CLI)
// address: they must not change by accident.
func TestPaths(t *testing.T) {
	for got, want := range map[string]string{
		paths.Master:                "master",
		paths.DB:                    "master/db",
		paths.PBManager:             "master/pbmanager",
		paths.Changes:               "master/change_svc",
		paths.Botmaster:             "master/botmaster",
		paths.Schedulers:            "master/scheduler_manager",
		paths.BRD:                   "master/botmaster/brd",
		paths.Logs:                  "master/db/logs",
		paths.Janitor:               "master/db/janitor",
		paths.Worker("linux-1"):     "master/botmaster/worker:linux-1",
		paths.Conn("linux-1"):       "master/pbmanager/conn:linux-1",
		paths.Builder("runtests"):   "master/botmaster/builder:runtests",
		paths.Build("runtests", 42): "master/botmaster/builder:runtests/build:42",
		paths.Scheduler("nightly"):  "master/scheduler_manager/nightly",
		paths.ChangeSource("poll"):  "master/change_svc/poll",
	} {
		if got != want {
			t.Errorf("path %q, want %q", got, want)
		}
	}
}
