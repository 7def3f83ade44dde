package workercmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// capture records what RunShell hands to its Output.
type capture struct {
	mu      sync.Mutex
	text    [3]bytes.Buffer
	chunks  []capChunk
	changed chan struct{}
}

type capChunk struct {
	s Stream
	n int
}

func newCapture() *capture { return &capture{changed: make(chan struct{}, 1)} }

func (c *capture) out(s Stream, p []byte) {
	c.mu.Lock()
	c.text[s].Write(p)
	c.chunks = append(c.chunks, capChunk{s, len(p)})
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *capture) get(s Stream) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.text[s].String()
}

// waitFor waits until stream s contains substr and returns its text.
func (c *capture) waitFor(t *testing.T, s Stream, substr string) string {
	t.Helper()
	timeout := time.After(testkit.DefaultTimeout)
	for {
		if txt := c.get(s); strings.Contains(txt, substr) {
			return txt
		}
		select {
		case <-c.changed:
		case <-timeout:
			t.Fatalf("%s never contained %q; it has %q (header %q, stderr %q)", s, substr, c.get(s), c.get(Header), c.get(Stderr))
		}
	}
}

// running is a RunShell call in progress on another goroutine.
type running struct {
	cap    *capture
	cancel context.CancelFunc
	done   chan Result
}

// start runs s in the background. The cleanup interrupts it and waits.
func start(t *testing.T, s Shell) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cap: newCapture(), cancel: cancel, done: make(chan Result, 1)}
	go func() { r.done <- RunShell(ctx, s, r.cap.out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case res := <-r.done:
			r.done <- res
		case <-time.After(testkit.DefaultTimeout):
			t.Errorf("RunShell did not return after interrupt")
		}
	})
	return r
}

// wait returns the result of the run.
func (r *running) wait(t *testing.T) Result {
	t.Helper()
	select {
	case res := <-r.done:
		r.done <- res
		return res
	case <-time.After(testkit.DefaultTimeout):
		t.Fatalf("RunShell did not return; stdout %q stderr %q header %q",
			r.cap.get(Stdout), r.cap.get(Stderr), r.cap.get(Header))
	}
	return Result{}
}

// runShell runs s to its end.
func runShell(t *testing.T, s Shell) (Result, *capture) {
	t.Helper()
	r := start(t, s)
	return r.wait(t), r.cap
}

// liveMembers lists the processes of group pgid that are not zombies,
// from /proc.
func liveMembers(t *testing.T, pgid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid && f[0] != "Z" && f[0] != "X" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// requireGroupGone waits until no live process is left in group pgid.
// A process killed by SIGKILL may take a moment to leave the running
// state, so this polls, within the deadline.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	testkit.Retry(t, func() error {
		if m := liveMembers(t, pgid); len(m) != 0 {
			return fmt.Errorf("process group %d still has live members %v", pgid, m)
		}
		return nil
	})
}

// firstInts parses the first line of s as space-separated integers.
func firstInts(t *testing.T, s string) []int {
	t.Helper()
	line, _, _ := strings.Cut(s, "\n")
	var out []int
	for _, f := range strings.Fields(line) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, n)
	}
	return out
}

// writeFifo writes data to the fifo at path once a reader has opened it,
// failing after the deadline instead of blocking for ever.
func writeFifo(path, data string) error {
	end := time.Now().Add(testkit.DefaultTimeout)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			_, err = f.WriteString(data)
			f.Close()
			return err
		}
		if !errors.Is(err, syscall.ENXIO) {
			return err
		}
		if time.Now().After(end) {
			return fmt.Errorf("no reader opened %s within %v", path, testkit.DefaultTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
