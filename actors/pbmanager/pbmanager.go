// Package pbmanager is the `pbmanager` service (Buildbot's PBManager): it
// owns the remote endpoint on which workers and clients log in, and hands
// each login to the service registered for its name. It accepts
// messages.ApplyConfig; the listener itself cannot change while the master
// runs.
package pbmanager

import (
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/messages"
)

// Name is the service's name in the tree.
const Name = "pbmanager"

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: Name, Kind: "pbmanager", Part: func(c *messages.MasterConfig) proto.Message {
		return &messages.ListenConfig{Remote: c.GetListen().GetRemote()}
	}}
}
