package state

import (
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applySetSchedulerEnabled enables or disables the scheduler named name
// (ConfigureMaster adds schedulers enabled).
func applySetSchedulerEnabled(txn *memdb.Txn, _ *ids, c *messages.SetSchedulerEnabled) (*messages.CommandResult, error) {
	const kind = "set_scheduler_enabled"
	if err := checkStr(kind, "name", c.GetName(), MaxFieldBytes); err != nil {
		return nil, err
	}
	s, err := get[*messages.Scheduler](txn, TableSchedulers, IndexName, c.GetName())
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, bad(kind, "there is no scheduler named %q", c.GetName())
	}
	if s.Enabled == c.GetEnabled() {
		return &messages.CommandResult{Id: s.Id}, nil
	}
	s = proto.CloneOf(s)
	s.Enabled = c.GetEnabled()
	return &messages.CommandResult{Id: s.Id}, txn.Insert(TableSchedulers, s)
}

// SchedulerEnabled reports whether the scheduler named name is enabled; a
// scheduler not (yet) in the state is.
func SchedulerEnabled(txn *memdb.Txn, name string) bool {
	s, _ := First(txn, TableSchedulers, IndexName, name).(*messages.Scheduler)
	return s == nil || s.Enabled
}
