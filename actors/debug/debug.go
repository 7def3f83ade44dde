// Package debug is the `debug` service (Buildbot's DebugServices): it owns
// the debug endpoint (`listen.debug`, default 127.0.0.1:8011), which serves
//
//	GET  /debug/tree                   the live tree as JSON (?format=text, ?format=html)
//	GET  /debug/actors/{path}          one actor: its node and what it publishes (secrets blanked)
//	POST /debug/actors/{path}/crash    fault injection: the actor panics (needs debug.actions and the admin token)
//	GET  /healthz                      liveness and the config generation
//	GET  /metrics                      Prometheus text format
//	     /debug/pprof/                 Go's profiler
//
// The tree is read from the actors' own bookkeeping (service.Tree), never
// from a list, and never through a mailbox, so a wedged actor cannot hide
// it. The service accepts messages.ApplyConfig; its listener cannot change
// while the master runs.
package debug

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/messages"
)

// Name is the service's name in the tree.
const Name = "debug"

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: Name, Kind: "debug_services",
		Part: func(c *messages.MasterConfig) proto.Message {
			return &messages.MasterConfig{Debug: c.GetDebug(), Listen: &messages.ListenConfig{Debug: c.GetListen().GetDebug()}}
		},
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			return &debugService{Base: service.NewBase(rt, s)}
		},
	}
}

type debugService struct {
	service.Base
	srv *http.Server
}

// Receive implements actor.Actor.
func (d *debugService) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		d.Base.Receive(ctx)
		d.serve()
	case *actor.Stopping, *actor.Restarting:
		if d.srv != nil {
			d.srv.Close()
			d.srv = nil
		}
	default:
		d.Base.Receive(ctx)
	}
}

func (d *debugService) serve() {
	addr := d.Config.GetListen().GetDebug()
	if addr == "" {
		return
	}
	l, err := listen(addr)
	if err != nil {
		// The master checks its listeners before it starts, so this is a
		// restart racing the old socket's release; say so, do not crash-loop.
		d.RT.Log.Error("debug endpoint cannot listen", slog.String("addr", addr), slog.Any("error", err))
		return
	}
	d.srv = &http.Server{Handler: Handler(d.RT), ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.RT.Log.Error("debug endpoint stopped", slog.Any("error", err))
		}
	}(d.srv)
}

// listen retries briefly: a restarted service may find its old socket still
// being released.
func listen(addr string) (net.Listener, error) {
	var err error
	for range 20 {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}
