// Package debug is the `debug` service (Buildbot's DebugServices): it owns
// the debug endpoint (`listen.debug`, default 127.0.0.1:8011), which serves
//
//	GET  /debug/tree                   the live tree as JSON (?format=text, ?format=html)
//	GET  /debug/db                     the state: rows per table, raft's last index and term, last snapshot, bytes on disk
//	GET  /debug/actors/{path}          one actor: its node and what it publishes (secrets blanked)
//	POST /debug/actors/{path}/crash    fault injection: the actor panics (needs debug.actions and the admin token)
//	GET  /healthz                      liveness, the config generation, and "degraded: disk full" while the state cannot be written (still 200)
//	GET  /metrics                      Prometheus text format
//	     /debug/pprof/                 Go's profiler
//
// The tree is read from the actors' own bookkeeping (service.Tree), never
// from a list, and never through a mailbox, so a wedged actor cannot hide
// it. The service accepts messages.ApplyConfig; its listener (Runtime.Debug,
// bound by the master) cannot change while the master runs.
package debug

import (
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.DebugName, Kind: "debug_services",
		Part: func(c *messages.MasterConfig) proto.Message {
			return &messages.MasterConfig{Debug: c.GetDebug(), Listen: &messages.ListenConfig{Debug: c.GetListen().GetDebug()}}
		},
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			return service.NewHTTPService(rt, s, rt.Debug, Handler(rt))
		},
	}
}
