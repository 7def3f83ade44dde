// Package startup makes a buildmaster process cheaper to start. Most calls
// of the binary are short client commands (`buildmaster tree`, `force` …)
// that pay for the package initialisation of the whole master; heap
// profiling samples each 512 KiB allocated and records its stack, a cost
// during that initialisation that nothing reads. The package turns it off
// in its init, which runs before nearly every other package's (Go
// initialises packages in import path order as soon as their imports are,
// and this one imports only the runtime); a master turns it back on with
// ProfileMemory when it starts, so that /debug/pprof/heap samples as usual.
//
// cmd/buildmaster imports it first; it accepts no messages.
package startup

import "runtime"

// memProfileRate is the runtime's default MemProfileRate.
const memProfileRate = 512 * 1024

func init() { runtime.MemProfileRate = 0 }

// ProfileMemory turns heap profiling back on at the runtime's default
// rate. Allocations made before it are not in the heap profile.
func ProfileMemory() { runtime.MemProfileRate = memProfileRate }
