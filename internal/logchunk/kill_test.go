package logchunk

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// TestKilledWriter runs a writer in another process (this test binary,
// TestKilledWriterHelper), which appends lines without end and prints the
// line count after each Sync; it is killed with SIGKILL mid-stream. Every
// line it had synced is read back after Recover, in order, and the file
// holds no damage after Recover.
func TestKilledWriter(t *testing.T) {
	dir := t.TempDir()
	synced := int64(0)
	syncs := 0
	killAfter(t, "TestKilledWriterHelper", dir, func(line string) bool {
		if n, err := strconv.ParseInt(line, 10, 64); err == nil {
			synced = n
		}
		syncs++
		return syncs < 20
	})
	if synced == 0 {
		t.Fatal("the writer synced nothing before it was killed")
	}

	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := st.Recover(context.Background(), 1)
	if err != nil || rep.Lines < synced {
		t.Fatalf("recover: %+v, %v; %d lines were synced", rep, err, synced)
	}
	t.Logf("killed after %d lines synced: %d lines in the file, %d bytes cut off", synced, rep.Lines, rep.Torn)
	var next int64
	res, err := st.Read(context.Background(), 1, 0, -1, func(l Line) error {
		if l.N != next || string(l.Text) != lineText(l.N) {
			t.Fatalf("line %d: %d %q", next, l.N, l.Text)
		}
		next++
		return nil
	})
	if err != nil || next < synced || len(res.Damage) > 0 || len(res.Lost) > 0 {
		t.Errorf("read %d lines after recover, %+v, %v; want at least %d and no damage", next, res, err, synced)
	}
}

// killAfter runs the test helper in another process (this test binary)
// with LOGCHUNK_KILL_DIR=dir, hands each line it prints to line until line
// returns false or the output ends, then kills it with SIGKILL.
func killAfter(t *testing.T, helper, dir string, line func(string) bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	cmd.Env = append(os.Environ(), "LOGCHUNK_KILL_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && line(sc.Text()) {
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestKilledWriterHelper is the writer TestKilledWriter kills; it does
// nothing unless run by it.
func TestKilledWriterHelper(t *testing.T) {
	dir := os.Getenv("LOGCHUNK_KILL_DIR")
	if dir == "" {
		t.Skip("run by TestKilledWriter only")
	}
	st, err := Open(dir, Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.Create(1, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	for n := int64(0); ; n++ {
		if _, err := w.Append(Stdout, []byte(lineText(n))); err != nil {
			t.Fatal(err)
		}
		if n%500 == 499 {
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stdout.WriteString(strconv.FormatInt(n+1, 10) + "\n"); err != nil {
				return // the test has gone
			}
		}
	}
}
