package logchunk

import (
	"context"
	"fmt"
	"math"
	"os"
)

// Report is what Check found in a log's file, reading all of it.
type Report struct {
	Type   Type
	Lines  int64   // the line after the last chunk whose header is sound
	Chunks int64   // readable chunks
	Lost   []Range // lines the file skips or holds in damaged chunks, before Lines
	Damage []*CorruptError
	Size   int64 // bytes up to the end of the last chunk whose header is sound
	Torn   int64 // bytes after Size that hold no sound chunk (Recover cuts them)
}

// Check reads the whole of log logid's file, verifying every chunk, at
// constant memory. Damage is reported, not returned as an error. Not for
// a log with a Writer open.
func (s *Store) Check(ctx context.Context, logid uint64) (Report, error) {
	if s.writer(logid) != nil {
		return Report{}, fmt.Errorf("logchunk: check log %d: %w", logid, ErrOpen)
	}
	f, sc, err := s.open(logid, Range{})
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	return check(ctx, sc)
}

// check is Check on the chunks sc walks.
func check(ctx context.Context, sc *scanner) (Report, error) {
	rep := Report{Type: sc.typ}
	res := ReadResult{}
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if _, _, ok := sc.chunk(Range{0, math.MaxInt64}, &res); !ok {
			break
		}
		rep.Chunks++
	}
	rep.Lines, rep.Lost, rep.Damage = sc.next, res.Lost, res.Damage
	rep.Size = sc.off
	if sc.tail != nil {
		rep.Size = sc.tail.Offset
	}
	rep.Torn = sc.size - rep.Size
	return rep, nil
}

// Recover checks log logid's file (see Check) and cuts off a torn or
// damaged tail, so that a file left by a crash ends with a whole chunk
// again; it makes the cut durable. A file whose header is damaged is cut
// to nothing (a log without lines). Not for a log with a Writer open.
func (s *Store) Recover(ctx context.Context, logid uint64) (Report, error) {
	rep, err := s.Check(ctx, logid)
	if err != nil || rep.Torn == 0 {
		return rep, err
	}
	if _, ok := s.small.lookup(logid); ok {
		return rep, nil // a record in a shared segment is not cut: readers skip its damage
	}
	size := rep.Size
	s.forget(logid)
	f, err := os.OpenFile(s.Path(logid), os.O_WRONLY, 0)
	if err != nil {
		return rep, fmt.Errorf("logchunk: recover log %d: %w", logid, err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("logchunk: recover log %d: cut to %d bytes: %w", logid, size, err)
	}
	return rep, nil
}
