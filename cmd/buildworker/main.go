// Command buildworker runs a build worker for a buildmaster. See
// `buildworker --help`.
package main

import (
	"os"

	"github.com/buildmaster/buildmaster/internal/worker"
)

func main() { os.Exit(worker.Main(os.Args[1:], os.Stdout, os.Stderr)) }
