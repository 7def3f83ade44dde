//go:build !unix

package changes

import "os/exec"

// killGroup: elsewhere, cancelling kills git alone.
func killGroup(*exec.Cmd) {}
