// Package schedulers is the `scheduler_manager` service (Buildbot's
// SchedulerManager): the parent of every configured scheduler, one child per
// scheduler named by its config.
//
// It accepts messages.ApplyConfig (schedulers diffed by name). Unlike
// Buildbot, which replaces a changed scheduler, a scheduler actor accepts its
// new messages.SchedulerConfig in place.
package schedulers

import (
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/messages"
)

// Name is the service's name in the tree.
const Name = "scheduler_manager"

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: Name, Kind: "scheduler_manager", Groups: func() []service.Group {
		return []service.Group{service.LeafGroup("scheduler", "",
			(*messages.MasterConfig).GetSchedulers, (*messages.SchedulerConfig).GetName)}
	}}
}
