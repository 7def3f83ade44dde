// Package cli is the buildmaster command: `run` (the default) runs a master;
// `checkconfig` validates a config offline; `reconfig`, `tree`, `force`,
// `sendchange`, `stop`, `stop-build` and `worker` ask a running master's
// actors through its control endpoint (internal/control); `builds`, `logs` and `force --wait` read its data API
// over HTTP. $BUILDMASTER_MASTER, $BUILDMASTER_WWW and $BUILDMASTER_TOKEN
// give every client command its defaults (env.go).
package cli
