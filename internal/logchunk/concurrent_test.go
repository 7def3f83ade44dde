package logchunk

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func lineText(n int64) string {
	return fmt.Sprintf("line %d of a log being written %s", n, strings.Repeat("x", int(n%50)))
}

// Readers reading while a Writer appends see every line appended before
// the read began (written chunks and the Writer's buffer), in order,
// without damage, and the last read after Close sees all of them.
func TestReadWhileWriting(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 1024})
	w, err := st.Create(1, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	const total = 5000
	var appended atomic.Int64
	var closed atomic.Bool
	go func() {
		for n := int64(0); n < total; n++ {
			if _, err := w.Append(Stdout, []byte(lineText(n))); err != nil {
				t.Error(err)
				break
			}
			appended.Store(n + 1)
			if n%37 == 0 {
				if err := w.Flush(); err != nil {
					t.Error(err)
					break
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Error(err)
		}
		closed.Store(true)
	}()

	check := func(reader int, seen int64) int64 {
		var next int64
		res, err := st.Read(context.Background(), 1, 0, -1, func(l Line) error {
			if l.N != next || l.Stream != Stdout || string(l.Text) != lineText(l.N) {
				return fmt.Errorf("line %d: got %d %c %q", next, l.N, l.Stream, l.Text)
			}
			next++
			return nil
		})
		if err != nil || len(res.Damage) > 0 || len(res.Lost) > 0 || res.End != next {
			t.Errorf("reader %d: %v, %+v after %d lines", reader, err, res, next)
		}
		if next < seen {
			t.Errorf("reader %d: read %d lines after %d were appended", reader, next, seen)
		}
		return next
	}
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for {
				last := closed.Load()
				if n := check(r, appended.Load()); last {
					if n != total {
						t.Errorf("reader %d: %d lines after close, want %d", r, n, total)
					}
					return
				}
				raw, err := st.Raw(context.Background(), 1)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := io.Copy(io.Discard, raw); err != nil || len(raw.Result().Damage) > 0 {
					t.Errorf("raw while writing: %v %+v", err, raw.Result())
				}
				_ = raw.Close()
			}
		})
	}
	wg.Wait()
}
