// Package caches is the `caches` service (Buildbot's CacheManager). For now
// it holds only the configured sizes (`caches` in the config: cache name →
// size) and shows them on its tree node: no cache is kept yet, so nothing
// reads them. It accepts messages.ApplyConfig, which replaces the sizes and
// reports a change of them as a change of this service.
package caches

import (
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: paths.CachesName, Kind: "cache_manager", Part: func(c *messages.MasterConfig) proto.Message {
		return &messages.MasterConfig{Caches: c.GetCaches()}
	}}
}
