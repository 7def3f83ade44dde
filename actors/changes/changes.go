// Package changes is the `change_svc` service (Buildbot's ChangeManager): the
// parent of every configured change source, one child per source named by
// its config.
//
// It accepts messages.ApplyConfig (change sources diffed by name); a change
// source actor accepts its new messages.ChangeSourceConfig in place.
package changes

import (
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/messages"
)

// Name is the service's name in the tree.
const Name = "change_svc"

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: Name, Kind: "change_manager", Groups: func() []service.Group {
		return []service.Group{service.LeafGroup("change_source", "",
			(*messages.MasterConfig).GetChangeSources, (*messages.ChangeSourceConfig).GetName)}
	}}
}
