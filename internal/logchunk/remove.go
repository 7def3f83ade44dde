package logchunk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Remove deletes logs logids: the small logs leave the index at once, in
// one removal record (their segment goes with the last of its logs), and
// touch no file of their own; the others' files go, in order, with the
// directories they leave empty. A log with neither counts as removed; one
// with a Writer open is skipped with an error (ErrOpen). It returns how
// many were removed and the errors met, going on past them; it stops when
// ctx ends.
func (s *Store) Remove(ctx context.Context, logids ...uint64) (int, error) {
	// Small logs first (a log with a Writer has no record yet).
	files, err := s.small.remove(logids)
	n := len(logids) - len(files)
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("logchunk: remove: %w", err))
	}
	for _, id := range files {
		if err := ctx.Err(); err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		if err := s.remove(id); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (s *Store) remove(logid uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writers[logid] != nil {
		return fmt.Errorf("logchunk: remove log %d: %w", logid, ErrOpen)
	}
	delete(s.indexes, logid)
	path := s.Path(logid)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logchunk: remove log %d: %w", logid, err)
	}
	// Directories left empty go too (an error means one is not empty).
	for d := filepath.Dir(path); d != s.dir; d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
		delete(s.made, d)
	}
	return nil
}

// List returns the ids of at most limit logs that have a file or a small
// log's record, in increasing order, from the first one after after (0 for
// all). It reads one directory of at most 4096 names at a time.
func (s *Store) List(ctx context.Context, after uint64, limit int) ([]uint64, error) {
	files, err := s.listFiles(ctx, after, limit)
	small := s.small.ids(after, limit)
	ids := make([]uint64, 0, min(limit, len(files)+len(small)))
	for len(ids) < limit && (len(files) > 0 || len(small) > 0) {
		if len(small) == 0 || len(files) > 0 && files[0] < small[0] {
			ids, files = append(ids, files[0]), files[1:]
		} else {
			ids, small = append(ids, small[0]), small[1:]
		}
	}
	return ids, err
}

// listFiles is List of the logs with a file of their own.
func (s *Store) listFiles(ctx context.Context, after uint64, limit int) ([]uint64, error) {
	var ids []uint64
	his, err := numbered(s.dir, shardDir)
	if err != nil {
		return nil, err
	}
	for _, hi := range his {
		if hi < after>>24 {
			continue
		}
		mids, err := numbered(filepath.Join(s.dir, strconv.FormatUint(hi, 16)), shardDir)
		if err != nil {
			return ids, err
		}
		for _, mid := range mids {
			if hi<<12|mid < after>>12 {
				continue
			}
			if err := ctx.Err(); err != nil {
				return ids, err
			}
			hd, md := shard(hi<<24 | mid<<12)
			logs, err := numbered(filepath.Join(s.dir, hd, md), logFile)
			if err != nil {
				return ids, err
			}
			for _, id := range logs {
				if id <= after {
					continue
				}
				if len(ids) == limit {
					return ids, nil
				}
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// numbered returns the numbers parse finds in the entries of dir, sorted;
// a directory that does not exist has none.
func numbered(dir string, parse func(fs.DirEntry) (uint64, bool)) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("logchunk: list: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		if id, ok := parse(e); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// shardDir parses the name of a directory of log files (hex).
func shardDir(e fs.DirEntry) (uint64, bool) {
	id, err := strconv.ParseUint(e.Name(), 16, 64)
	return id, err == nil && e.IsDir()
}

// logFile parses the name of a log's file (ID.log).
func logFile(e fs.DirEntry) (uint64, bool) {
	name, ok := strings.CutSuffix(e.Name(), ".log")
	id, err := strconv.ParseUint(name, 10, 64)
	return id, ok && err == nil && e.Type().IsRegular()
}

// Locate says where log logid's bytes are: its file (off 0), or a small
// log's record, at off in a segment file; size is how many bytes they are
// (a file image, as described in the package doc, either way). A log with
// neither is fs.ErrNotExist.
func (s *Store) Locate(logid uint64) (path string, off, size int64, err error) {
	if loc, ok := s.small.lookup(logid); ok {
		return s.small.segmentPath(loc.seg), int64(loc.off), int64(loc.n), nil
	}
	fi, err := os.Stat(s.Path(logid))
	if err != nil {
		return "", 0, 0, fmt.Errorf("logchunk: log %d: %w", logid, err)
	}
	return s.Path(logid), 0, fi.Size(), nil
}
