// Command buildmaster runs a CI build master and drives a running one.
// See `buildmaster --help` and the README.
package main

import (
	"os"

	"github.com/buildmaster/buildmaster/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
