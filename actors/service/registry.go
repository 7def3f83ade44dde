package service

import cmap "github.com/orcaman/concurrent-map"

// Every protoactor actor system makes a process registry of 1024 buckets,
// each a concurrent map of cmap.SHARD_COUNT shards: 32 by default, so 32,768
// maps, about 3.5 MB and a third of the CPU time of a whole `buildmaster
// force` (measured: 115 ms → 82 ms median). 1024 buckets of one shard each
// still spread the registry's locks over 1024 mutexes. The library reads
// the variable only as it makes a system, so setting it here, at package
// init (before any system exists, with no goroutine running), is safe;
// every binary that starts an actor system imports this package.
func init() { cmap.SHARD_COUNT = 1 }
