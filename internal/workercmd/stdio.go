package workercmd

import (
	"os"

	"golang.org/x/sys/unix"
)

// This file makes a command's standard files with the fewest system calls,
// which are dear on a virtual machine: the worker makes them for every
// command it runs.

// outputPipe returns a pipe for one of a command's output streams: its
// read end non-blocking, in the runtime's poller; its write end a bare
// blocking descriptor, for the child, which the caller closes. Each end is
// made in the mode it is used in (os.Pipe makes both ends non-blocking and
// registers both with the poller, and os/exec then makes the child's end
// blocking again: six system calls more per pipe), and the child's end is
// no *os.File (whose making asks the kernel for its flags).
func outputPipe() (r *os.File, w int, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, -1, os.NewSyscallError("pipe2", err)
	}
	// A pipe's read end has no other status flag to keep.
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), p[1], nil
}

// devNull opens /dev/null for a command's standard input: a bare blocking
// descriptor, which the caller closes (os/exec's own /dev/null tries the
// poller and switches modes twice).
func devNull() (int, error) {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
	}
	return fd, nil
}
