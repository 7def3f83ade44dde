package testkit

import (
	"io"
	"os/exec"
	"testing"
)

// StartPiped starts cmd, a helper process of the test (often os.Args[0]
// run again), with pipes to its stdin and from its stdout, and fails tb if
// it cannot. Closing stdin is the usual way to tell such a helper to end;
// waiting for it is the caller's.
func StartPiped(tb testing.TB, cmd *exec.Cmd) (stdin io.WriteCloser, stdout io.Reader) {
	tb.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err = cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return stdin, stdout
}
