package logchunk

import "sync"

// indexSpacing is how many file bytes apart a sparse index keeps chunks
// (Store.indexSpacing, which tests change): a read from any line walks at
// most the headers of that many bytes.
const indexSpacing = 256 << 10

// maxIndexes is how many logs' sparse indexes a Store keeps (about 16
// bytes per indexSpacing of file: 10 KiB for a log of 1 GiB of output).
const maxIndexes = 256

// index is a sparse index of one log's file: the offset and first line of
// a chunk every indexSpacing bytes or more, in order. Writers and readers
// add to it as they pass; a read from line N starts at the last chunk at
// or before N. It is a cache: an entry that does not match the file is
// dropped with the rest (see scanner.seek).
type index struct {
	spacing int64
	mu      sync.Mutex
	offs    []int64
	lines   []int64
}

// add notes the chunk at off starting at line, if it is far enough past
// the last one.
func (x *index) add(off, line int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.offs); n > 0 && (off < x.offs[n-1]+x.spacing || line <= x.lines[n-1]) {
		return
	}
	if len(x.offs) == 0 && off < x.spacing {
		return // the first chunk is found without an index
	}
	x.offs, x.lines = append(x.offs, off), append(x.lines, line)
}

// find returns the last chunk noted at or before line whose header starts
// before byte limit (ok false if none).
func (x *index) find(line, limit int64) (off, first int64, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	lo, hi := 0, len(x.lines) // find the first entry > line
	for lo < hi {
		m := (lo + hi) / 2
		if x.lines[m] <= line {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for lo > 0 && x.offs[lo-1] >= limit {
		lo--
	}
	if lo == 0 {
		return 0, 0, false
	}
	return x.offs[lo-1], x.lines[lo-1], true
}

// reset forgets every entry (the file did not match one).
func (x *index) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.offs, x.lines = nil, nil
}

// index returns the sparse index of logid, made empty when fresh; with
// maxIndexes kept already, one of them is forgotten first.
func (s *Store) index(logid uint64, fresh bool) *index {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.indexes[logid]
	if x == nil || fresh {
		if x == nil && len(s.indexes) >= maxIndexes {
			for id := range s.indexes {
				delete(s.indexes, id)
				break
			}
		}
		x = &index{spacing: s.indexSpacing}
		s.indexes[logid] = x
	}
	return x
}

// forget drops the sparse index of logid (its file was cut).
func (s *Store) forget(logid uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.indexes, logid)
}
