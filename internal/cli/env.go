package cli

import "os"

// The environment variables every client command reads, so that a user
// who sets them once types no flags. A flag given on the command line
// overrides its variable.
const (
	// MasterEnv is the master's control endpoint, HOST:PORT (--master).
	MasterEnv = "BUILDMASTER_MASTER"
	// WWWEnv is the master's www listener, a URL (--www): the data API
	// that builds, logs and force --wait read.
	WWWEnv = "BUILDMASTER_WWW"
	// TokenEnv (token.go) is the admin token (--token).
)

// envOr returns the value of the environment variable name, or def when it
// is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
