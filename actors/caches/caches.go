// Package caches is the `caches` service (Buildbot's CacheManager): it owns
// the named caches and their sizes (`caches` in the config). It accepts
// messages.ApplyConfig; a change of sizes resizes the caches in place.
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
