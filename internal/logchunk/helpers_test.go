package logchunk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// newStore opens a store in a new directory. Unless o says otherwise, every
// log has a file of its own: the tests of the file format write small
// logs; small_test.go's set SmallMax.
func newStore(t testing.TB, o Options) *Store {
	t.Helper()
	if o.SmallMax == 0 {
		o.SmallMax = -1
	}
	st, err := Open(filepath.Join(t.TempDir(), "logs"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// readLines reads lines offset … offset+limit-1 of logid in the form of
// Buildbot's content, one string per line, with their numbers.
func readLines(t testing.TB, st *Store, logid uint64, offset, limit int64) ([]string, []int64, ReadResult) {
	t.Helper()
	var lines []string
	var nums []int64
	res, err := st.Read(context.Background(), logid, offset, limit, func(l Line) error {
		lines = append(lines, string(l.AppendContent(nil)))
		nums = append(nums, l.N)
		return nil
	})
	if err != nil {
		t.Fatalf("read log %d at %d limit %d: %v", logid, offset, limit, err)
	}
	return lines, nums, res
}

// writeLog writes lines (Buildbot's content form, one line each) to a new
// log logid and closes it.
func writeLog(t testing.TB, st *Store, logid uint64, typ Type, lines []string) {
	t.Helper()
	w, err := st.Create(logid, typ)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if _, err := w.AppendChunk([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// buildOutput returns n lines of stdio content that look like a compiler's.
func buildOutput(n int) []string {
	streams := []byte{'o', 'o', 'o', 'e', 'h'}
	lines := make([]string, n)
	for i := range lines {
		s := streams[i%len(streams)]
		switch s {
		case 'e':
			lines[i] = fmt.Sprintf("e./pkg/mod%d/file_%d.go:%d:%d: warning: unused variable 'x%d'\n", i%17, i%101, i%997, i%80, i)
		case 'h':
			lines[i] = fmt.Sprintf("hstep %d: running 'go test -v ./pkg/mod%d/...'\n", i, i%17)
		default:
			lines[i] = fmt.Sprintf("o=== RUN   TestThing%d/case_%d\n", i%311, i)
		}
	}
	return lines
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
