// Package cli is the buildmaster command: `run` (the default) runs a master;
// `checkconfig` validates a config offline; `reconfig` and `tree` are remote
// actor clients of a running master.
package cli
