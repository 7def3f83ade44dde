// Package caches is the `caches` service (Buildbot's CacheManager). It owns
// the master's LRU caches (service.Runtime.Caches, an internal/cache.Set):
// it sizes them from the `caches` config section (cache name → most
// entries, as Buildbot's c['caches']; a cache left out has its default
// size), and shows each cache's size, entries, hits, misses and evictions
// live on its tree node (messages.CachesState) and on /metrics
// (buildmaster_cache_*{cache}).
//
// It accepts messages.ApplyConfig, which resizes the caches at once and
// reports a change of the sizes as a change of this service.
package caches

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/cache"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: paths.CachesName, Kind: "cache_manager", Part: func(c *messages.MasterConfig) proto.Message {
		return &messages.MasterConfig{Caches: c.GetCaches()}
	}, New: newCaches}
}

type caches struct{ service.Base }

func newCaches(rt *service.Runtime, s service.Spec) actor.Actor {
	c := &caches{Base: service.NewBase(rt, s)}
	c.OnConfig = func(_ actor.Context, cfg *messages.MasterConfig) { rt.Caches.Resize(cfg.GetCaches()) }
	return c
}

// Receive implements actor.Actor.
func (c *caches) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		if n := service.NodeOf(ctx, c.RT); n != nil {
			set := c.RT.Caches
			n.SetLiveState(func() proto.Message { return State(set) })
		}
		// A restarted service finds its collector registered already.
		var dup prometheus.AlreadyRegisteredError
		if err := c.RT.Metrics.Register(collector{c.RT.Caches}); err != nil && !errors.As(err, &dup) {
			c.RT.Log.Warn("caches: metrics not registered", "error", err)
		}
	}
	c.Base.Receive(ctx)
}

// State is what the tree shows of set.
func State(set *cache.Set) *messages.CachesState {
	st := &messages.CachesState{}
	for _, s := range set.Stats() {
		st.Caches = append(st.Caches, &messages.CacheStats{Name: s.Name, Size: int32(s.Size), Entries: int32(s.Entries),
			Hits: s.Hits, Misses: s.Misses, Evictions: s.Evictions})
	}
	return st
}
