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

// Remove deletes the files of logs logids, in order, and the directories
// it leaves empty. A log without a file counts as removed; one with a
// Writer open is skipped with an error (ErrOpen). It returns how many were
// removed and the errors met, going on past them; it stops when ctx ends.
func (s *Store) Remove(ctx context.Context, logids ...uint64) (int, error) {
	n := 0
	var errs []error
	for _, id := range logids {
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
	}
	return nil
}

// List returns the ids of at most limit logs that have a file, in increasing
// order, from the first one after after (0 for all). It reads one
// directory of at most 4096 names at a time.
func (s *Store) List(ctx context.Context, after uint64, limit int) ([]uint64, error) {
	var ids []uint64
	his, err := s.dirIDs(s.dir, after>>24)
	if err != nil {
		return nil, err
	}
	for _, hi := range his {
		mids, err := s.dirIDs(filepath.Join(s.dir, strconv.FormatUint(hi, 16)), 0)
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
			logs, err := logIDs(filepath.Join(s.dir, hd, md))
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

// dirIDs returns the directories of dir named in hex, from from on, sorted.
func (s *Store) dirIDs(dir string, from uint64) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("logchunk: list: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		if id, err := strconv.ParseUint(e.Name(), 16, 64); err == nil && e.IsDir() && id >= from {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// logIDs returns the ids of the log files in dir, sorted.
func logIDs(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("logchunk: list: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if id, err := strconv.ParseUint(name, 10, 64); ok && err == nil && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
