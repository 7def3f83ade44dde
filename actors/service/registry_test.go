package service

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// TestRegistryBucketsHaveOneShard: an actor system made in a process that
// imports this package has one shard per registry bucket, not 32.
func TestRegistryBucketsHaveOneShard(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	if n := len(system.ProcessRegistry.LocalPIDs.GetBucket("master")); n != 1 {
		t.Fatalf("a registry bucket has %d shards, want 1", n)
	}
}
