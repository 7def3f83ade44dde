package ui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/messages"
)

// errorScans is how many logs' searches errorFinder remembers.
const errorScans = 4096

// errorFinder finds the first line of a log that looks like an error
// (?find=error on the build page). A log's lines never change once
// written, so it reads each line of a log at most once: it remembers, per
// log, the line it found, or how far it read without finding one, and the
// next search of that log starts there (a log being written is searched
// again only in its new lines).
type errorFinder struct {
	logs LogReader
	seen *lru.Cache[uint64, errorScan] // by log id
}

// errorScan is what the searches of one log found so far.
type errorScan struct {
	stepid uint64 // the log's step: a log id reused by another log is not this one
	read   int64  // lines 0…read-1 were read
	found  int64  // the first error line among them, -1 when none
}

func newErrorFinder(logs LogReader) *errorFinder {
	seen, _ := lru.New[uint64, errorScan](errorScans) // the size is positive: no error
	return &errorFinder{logs: logs, seen: seen}
}

// errFound stops a read at the line looked for.
var errFound = errors.New("found")

// first returns the 0-based number of l's first line that looks like an
// error (header lines of stdio logs excepted), -1 when none. It reads the
// log's lines it has not read before, in one pass that stops at the first.
func (f *errorFinder) first(ctx context.Context, l *messages.Log) (int64, error) {
	if f.logs == nil {
		return -1, nil
	}
	scan, ok := f.seen.Get(l.Id)
	if !ok || scan.stepid != l.Stepid || scan.read > l.NumLines {
		scan = errorScan{stepid: l.Stepid, found: -1}
	}
	if scan.found >= 0 || scan.read >= l.NumLines {
		return scan.found, nil
	}
	var lower []byte
	_, err := f.logs.Read(ctx, l.Id, scan.read, l.NumLines-scan.read, func(line logchunk.Line) error {
		if line.Stream != logchunk.Header && looksLikeError(line.Text, &lower) {
			scan.found = line.N
			return errFound
		}
		scan.read = line.N + 1
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist): // no file yet: nothing to find
		return -1, nil
	case err != nil && !errors.Is(err, errFound):
		return -1, fmt.Errorf("reading log %d: %w", l.Id, err)
	}
	if scan.found >= 0 {
		scan.read = scan.found + 1
	}
	f.seen.Add(l.Id, scan)
	return scan.found, nil
}
