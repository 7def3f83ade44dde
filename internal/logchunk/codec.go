package logchunk

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// codec compresses and decompresses chunk payloads. One is shared by all
// the Writers and readers of a Store: zstd's EncodeAll and DecodeAll are
// safe for concurrent use and keep their state between chunks.
type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// newCodec returns a codec that runs up to min(CPUs, 4) encoders and as
// many decoders at once (4: zstd's own cap for decoders; runtime.NumCPU
// does not follow a container's CPU limit, so it is capped for encoders
// too). The counts are given, not zstd's defaults: those read GOMAXPROCS
// when the codec is made, and the master makes it while
// internal/procpolicy holds it on one P.
func newCodec(level zstd.EncoderLevel) (*codec, error) {
	return newCodecOn(level, runtime.NumCPU())
}

// newCodecOn is newCodec on a machine of cpus CPUs.
func newCodecOn(level zstd.EncoderLevel, cpus int) (*codec, error) {
	n := min(4, cpus)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(n),
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(false), // the chunk header has a checksum
		zstd.WithLowerEncoderMem(true),
	)
	if err != nil {
		return nil, fmt.Errorf("logchunk: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(n),
		zstd.WithDecoderMaxMemory(MaxChunkRaw),
		zstd.WithDecodeAllCapLimit(true), // never more than the header's raw length
		zstd.WithDecoderLowmem(true),
		zstd.IgnoreChecksum(true),
	)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("logchunk: zstd decoder: %w", err)
	}
	return &codec{enc: enc, dec: dec}, nil
}

func (c *codec) close() {
	_ = c.enc.Close()
	c.dec.Close()
}

// appendChunk appends to dst one chunk (header and payload) holding raw, the
// lines first … first+lines-1, compressed with zstd (codecZstd) or s2
// (codecS2). The payload is stored as is when that does not make it
// smaller.
func (c *codec) appendChunk(dst []byte, codec byte, first int64, lines int, raw []byte) []byte {
	at := len(dst)
	dst = append(dst, make([]byte, ChunkHeaderLen)...)
	h := chunkHeader{codec: codec, firstLine: first, lines: uint32(lines), rawLen: uint32(len(raw))}
	switch codec {
	case codecS2:
		dst = slices.Grow(dst, s2.MaxEncodedLen(len(raw)))
		dst = dst[:len(dst)+len(s2.Encode(dst[len(dst):], raw))]
	default:
		dst = c.enc.EncodeAll(raw, dst)
	}
	if len(dst)-at-ChunkHeaderLen >= len(raw) {
		h.codec = codecStored
		dst = append(dst[:at+ChunkHeaderLen], raw...)
	}
	payload := dst[at+ChunkHeaderLen:]
	h.storedLen, h.crc = uint32(len(payload)), checksum(payload)
	h.put(dst[at:])
	return dst
}

// decode checks stored, the payload of the chunk h describes, and returns
// its lines, decoded into buf's storage when it is large enough (the
// caller keeps buf to use again).
func (c *codec) decode(h chunkHeader, stored, buf []byte, typ Type) ([]byte, error) {
	if len(stored) != int(h.storedLen) {
		return nil, fmt.Errorf("payload: %d bytes, header says %d", len(stored), h.storedLen)
	}
	if checksum(stored) != h.crc {
		return nil, fmt.Errorf("payload: bad checksum")
	}
	raw := stored
	if h.codec != codecStored && cap(buf) < int(h.rawLen) {
		buf = make([]byte, 0, h.rawLen)
	}
	switch h.codec {
	case codecZstd:
		var err error
		if raw, err = c.dec.DecodeAll(stored, buf[:0:h.rawLen]); err != nil {
			return nil, fmt.Errorf("payload: zstd: %w", err)
		}
	case codecS2:
		// The block says its decoded length first: check it before s2
		// allocates for a length the header does not give.
		if n, err := s2.DecodedLen(stored); err != nil || n != int(h.rawLen) {
			return nil, fmt.Errorf("payload: s2: decoded length %d (%v), header says %d", n, err, h.rawLen)
		}
		var err error
		if raw, err = s2.Decode(buf[:h.rawLen], stored); err != nil {
			return nil, fmt.Errorf("payload: s2: %w", err)
		}
	}
	if len(raw) != int(h.rawLen) {
		return nil, fmt.Errorf("payload: %d bytes decoded, header says %d", len(raw), h.rawLen)
	}
	return raw, checkLines(raw, int(h.lines), typ)
}

// checkLines checks that raw holds n lines, each ended by '\n' and, in a
// stdio log, started by a stream.
func checkLines(raw []byte, n int, typ Type) error {
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		return fmt.Errorf("payload: does not end with a newline")
	}
	if typ != Stdio {
		if got := bytes.Count(raw, []byte{'\n'}); got != n {
			return fmt.Errorf("payload: %d lines, header says %d", got, n)
		}
		return nil
	}
	got := 0
	for len(raw) > 0 {
		if !Stream(raw[0]).valid() {
			return fmt.Errorf("payload: line %d of the chunk starts with %q, not a stream (o, e, h)", got, raw[0])
		}
		i := bytes.IndexByte(raw, '\n')
		raw = raw[i+1:]
		got++
	}
	if got != n {
		return fmt.Errorf("payload: %d lines, header says %d", got, n)
	}
	return nil
}
