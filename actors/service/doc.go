// Package service holds what every service actor of the master shares: the
// live tree bookkeeping (Tree, Node), the supervisor strategy that restarts a
// failing child and escalates past a limit (Strategy), spawning with both
// attached (Spawn, SpawnRoot), the runtime a service gets at spawn (Runtime),
// the generic "named children" reconfiguration of Buildbot's
// BuildbotServiceManager (Group, NamedGroup), and the actor of a service that
// serves HTTP on one of the master's listeners (HTTPService).
//
// Every actor spawned through this package accepts messages.InjectFailure,
// which makes it panic; that is how the debug endpoint shows supervision.
package service
