// Package status is the `status` service (Buildbot's www service and data
// API): it owns the www listener (`listen.www`, default 127.0.0.1:8010),
// which serves the data API read-only at /api/v2 (see API), and is the
// parent of the reporters (actors/reporters: one child reporter:NAME per
// configured reporter).
//
// It accepts messages.ApplyConfig; its listener (Runtime.WWW, bound by the
// master) cannot change while the master runs. It reads the state through
// immutable read transactions (rt.DB.Read), so a request never waits for a
// writer and never goes through a mailbox.
package status

import (
	"net/http"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/changes"
	"github.com/buildmaster/buildmaster/actors/reporters"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.StatusName, Kind: "status",
		Part: func(c *messages.MasterConfig) proto.Message {
			return &messages.MasterConfig{Listen: &messages.ListenConfig{Www: c.GetListen().GetWww()}}
		},
		Groups: func() []service.Group { return []service.Group{reporters.Group()} },
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			return service.NewHTTPService(rt, s, rt.WWW, Handler(rt))
		},
	}
}

// Handler is the www listener's handler, a service.Surface: the data API
// under /api/v2/, and the change hooks under /change_hook/.
func Handler(rt *service.Runtime) http.Handler {
	mux := http.NewServeMux()
	forceSchedulers(rt, mux)
	mux.Handle("/api/v2/", API(rt))
	mux.Handle(changes.HookPrefix, changes.HookHandler(rt))
	return service.Surface(rt, mux)
}
