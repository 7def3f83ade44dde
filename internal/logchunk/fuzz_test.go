package logchunk

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func fuzzCodec(f *testing.F) *codec {
	c, err := newCodec(zstd.SpeedDefault)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.close)
	return c
}

// seeds are the golden files: whole, and each chunk of them on its own.
func seeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, g := range goldenLogs {
		b, err := os.ReadFile(filepath.Join("testdata", g.name+".log"))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzChunk decodes one chunk (header and payload) of any bytes, its
// checksums made right first when seal is set (so that the fuzzer reaches
// the zstd and s2 decoders and the line checks): never a panic; what decodes is
// lines as the header says, and encodes back to a chunk that decodes to
// the same.
func FuzzChunk(f *testing.F) {
	c := fuzzCodec(f)
	for _, b := range seeds(f) {
		for off := FileHeaderSize; off+ChunkHeaderLen <= len(b); {
			h, err := parseChunkHeader(b[off:])
			if err != nil {
				break
			}
			end := off + ChunkHeaderLen + int(h.storedLen)
			f.Add(b[off:end], byte(b[5]), false)
			f.Add(b[off:end], byte(b[5]), true)
			off = end
		}
	}
	// An s2 chunk, as a small log's record holds.
	s2Chunk := c.appendChunk(nil, codecS2, 0, bytes.Count(shortLogContent(), []byte{'\n'}), shortLogContent())
	f.Add(s2Chunk, byte(Stdio), false)
	f.Add(s2Chunk, byte(Stdio), true)
	f.Fuzz(func(t *testing.T, b []byte, typ byte, seal bool) {
		if seal && len(b) >= ChunkHeaderLen {
			b = bytes.Clone(b)
			binary.LittleEndian.PutUint32(b[28:], checksum(b[ChunkHeaderLen:]))
			reseal(b, 32)
		}
		h, err := parseChunkHeader(b)
		if err != nil {
			return
		}
		raw, err := c.decode(h, b[ChunkHeaderLen:], nil, Type(typ))
		if err != nil {
			return
		}
		if len(raw) != int(h.rawLen) || bytes.Count(raw, []byte{'\n'}) != int(h.lines) {
			t.Fatalf("decoded %d bytes, %d lines; header %+v", len(raw), bytes.Count(raw, []byte{'\n'}), h)
		}
		again := c.appendChunk(nil, max(h.codec, codecZstd), h.firstLine, int(h.lines), raw)
		h2, err := parseChunkHeader(again)
		if err != nil {
			t.Fatal(err)
		}
		raw2, err := c.decode(h2, again[ChunkHeaderLen:], nil, Type(typ))
		if err != nil || !bytes.Equal(raw, raw2) {
			t.Fatalf("re-encoded chunk decodes to %q, %v; want %q", raw2, err, raw)
		}
	})
}

// FuzzScan reads a file of any bytes as log 1, through a window, whole,
// raw, and checks it (with the checksums of its headers and payloads made
// right first when seal is set, so that the fuzzer reaches the checks
// between chunks): never a panic; lines come in order inside the
// window, lost ranges are sorted, apart and hold no line served; and the
// file cut where Check says is sound.
func FuzzScan(f *testing.F) {
	c := fuzzCodec(f)
	for _, b := range seeds(f) {
		f.Add(b, int64(0), int64(-1), false)
		f.Add(b, int64(3), int64(2), true)
		f.Add(b[:len(b)-3], int64(1), int64(100), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, offset, limit int64, seal bool) {
		if seal {
			b = sealFile(b)
		}
		// A sparse index of small spacing, filled by the first walk (check),
		// used by the window's read.
		idx := &index{spacing: 64}
		scan := func(b []byte) *scanner { return newScanner(1, bytes.NewReader(b), int64(len(b)), c, idx) }
		window := Range{max(offset, 0), math.MaxInt64}
		if limit >= 0 && limit < math.MaxInt64-window.From {
			window.To = window.From + limit
		}
		if _, err := check(context.Background(), scan(b)); err != nil {
			t.Fatal(err)
		}
		var text []byte
		var served []int64
		res, err := scanLines(context.Background(), scan(b), window, func(l Line) error {
			if l.N < window.From || l.N >= window.To || len(served) > 0 && l.N <= served[len(served)-1] {
				t.Fatalf("line %d served in window %v after %v", l.N, window, served)
			}
			served = append(served, l.N)
			text = l.AppendContent(text)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Lines != int64(len(served)) {
			t.Fatalf("result counts %d lines, %d served", res.Lines, len(served))
		}
		last := int64(-1)
		for _, r := range res.Lost {
			if r.From <= last || r.To <= r.From || r.From < window.From || r.To > window.To {
				t.Fatalf("lost %v in window %v", res.Lost, window)
			}
			for _, n := range served {
				if n >= r.From && n < r.To {
					t.Fatalf("line %d served and lost (%v)", n, r)
				}
			}
			last = r.To
		}

		rep, err := check(context.Background(), scan(b))
		if err != nil || rep.Size+rep.Torn != int64(len(b)) || rep.Size < 0 {
			t.Fatalf("check %+v, %v of %d bytes", rep, err, len(b))
		}
		if rep.Torn == 0 && (len(rep.Damage) > 0 && rep.Damage[len(rep.Damage)-1].Tail) {
			t.Fatalf("check: tail damage %v but nothing torn", rep.Damage)
		}
		cut, err := check(context.Background(), scan(b[:rep.Size]))
		if err != nil || cut.Torn != 0 || cut.Lines != rep.Lines {
			t.Fatalf("file cut to %d bytes: check %+v, %v", rep.Size, cut, err)
		}

		raw := &RawReader{ctx: context.Background(), sc: scan(b), res: ReadResult{End: -1}}
		if _, err := io.Copy(io.Discard, raw); err != nil || raw.Result().End != rep.Lines {
			t.Fatalf("raw: %v, %+v; check says %d lines", err, raw.Result(), rep.Lines)
		}
	})
}

// sealFile returns b with the checksums of its file header, and of each
// chunk header and payload it finds walking the stored lengths, made right.
func sealFile(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) < FileHeaderSize {
		return b
	}
	reseal(b, 16)
	for off := FileHeaderSize; off+ChunkHeaderLen <= len(b); {
		h := b[off : off+ChunkHeaderLen]
		end := min(len(b), off+ChunkHeaderLen+int(binary.LittleEndian.Uint32(h[24:])))
		binary.LittleEndian.PutUint32(h[28:], checksum(b[off+ChunkHeaderLen:end]))
		reseal(h, 32)
		off = end
	}
	return b
}
