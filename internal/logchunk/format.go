package logchunk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Type is a log's type, Buildbot's one letter.
type Type byte

// The log types.
const (
	Stdio Type = 's' // lines carry their stream (Stream)
	Text  Type = 't'
	HTML  Type = 'h'
)

func (t Type) valid() bool { return t == Stdio || t == Text || t == HTML }

// Stream is the stream a line of a stdio log came from, its prefix byte in
// Buildbot's logchunks. Lines of text and html logs have NoStream.
type Stream byte

// The streams.
const (
	NoStream Stream = 0
	Stdout   Stream = 'o'
	Stderr   Stream = 'e'
	Header   Stream = 'h'
)

func (s Stream) valid() bool { return s == Stdout || s == Stderr || s == Header }

// Range is the lines From … To-1.
type Range struct{ From, To int64 }

// Len is the number of lines in r.
func (r Range) Len() int64 { return r.To - r.From }

func (r Range) String() string { return fmt.Sprintf("lines %d…%d", r.From, r.To-1) }

// Format constants (see the package doc).
const (
	Version        = 1
	FileHeaderSize = 20
	ChunkHeaderLen = 36
	MaxChunkRaw    = 1 << 20 // largest raw length a chunk may declare
	maxFirstLine   = 1 << 62

	codecStored = 0
	codecZstd   = 1
	codecS2     = 2
)

// codecName names the codecs in errors.
var codecName = [...]string{codecStored: "stored", codecZstd: "zstd", codecS2: "s2"}

var (
	fileMagic  = [4]byte{'B', 'M', 'L', 'G'}
	chunkMagic = [4]byte{'B', 'M', 'C', 'K'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// fileHeader is the first FileHeaderSize bytes of a log's file.
type fileHeader struct {
	typ   Type
	logid uint64
}

func (h fileHeader) append(b []byte) []byte {
	start := len(b)
	b = append(b, fileMagic[:]...)
	b = append(b, Version, byte(h.typ), 0, 0)
	b = binary.LittleEndian.AppendUint64(b, h.logid)
	return binary.LittleEndian.AppendUint32(b, checksum(b[start:]))
}

func parseFileHeader(b []byte) (fileHeader, error) {
	if len(b) < FileHeaderSize {
		return fileHeader{}, fmt.Errorf("file header: %d bytes, want %d", len(b), FileHeaderSize)
	}
	b = b[:FileHeaderSize]
	switch {
	case [4]byte(b[:4]) != fileMagic:
		return fileHeader{}, fmt.Errorf("file header: magic %q, want %q", b[:4], fileMagic[:])
	case binary.LittleEndian.Uint32(b[16:]) != checksum(b[:16]):
		return fileHeader{}, fmt.Errorf("file header: bad checksum")
	case b[4] != Version:
		return fileHeader{}, fmt.Errorf("file header: version %d, want %d", b[4], Version)
	case !Type(b[5]).valid():
		return fileHeader{}, fmt.Errorf("file header: log type %q, want s, t or h", b[5])
	case b[6] != 0 || b[7] != 0:
		return fileHeader{}, fmt.Errorf("file header: reserved bytes are not 0")
	}
	return fileHeader{typ: Type(b[5]), logid: binary.LittleEndian.Uint64(b[8:])}, nil
}

// chunkHeader is the ChunkHeaderLen bytes before each chunk's payload.
type chunkHeader struct {
	codec     byte
	firstLine int64
	lines     uint32
	rawLen    uint32
	storedLen uint32
	crc       uint32 // of the stored payload
}

// end is the number of the line after the chunk's last.
func (h chunkHeader) end() int64 { return h.firstLine + int64(h.lines) }

func (h chunkHeader) put(b []byte) {
	_ = b[ChunkHeaderLen-1]
	copy(b, chunkMagic[:])
	b[4], b[5], b[6], b[7] = h.codec, 0, 0, 0
	binary.LittleEndian.PutUint64(b[8:], uint64(h.firstLine))
	binary.LittleEndian.PutUint32(b[16:], h.lines)
	binary.LittleEndian.PutUint32(b[20:], h.rawLen)
	binary.LittleEndian.PutUint32(b[24:], h.storedLen)
	binary.LittleEndian.PutUint32(b[28:], h.crc)
	binary.LittleEndian.PutUint32(b[32:], checksum(b[:32]))
}

// parseChunkHeader checks everything a header says on its own; the caller
// checks its first line against the previous chunk's end.
func parseChunkHeader(b []byte) (chunkHeader, error) {
	if len(b) < ChunkHeaderLen {
		return chunkHeader{}, fmt.Errorf("chunk header: %d bytes, want %d", len(b), ChunkHeaderLen)
	}
	b = b[:ChunkHeaderLen]
	if [4]byte(b[:4]) != chunkMagic {
		return chunkHeader{}, fmt.Errorf("chunk header: magic %q, want %q", b[:4], chunkMagic[:])
	}
	if binary.LittleEndian.Uint32(b[32:]) != checksum(b[:32]) {
		return chunkHeader{}, fmt.Errorf("chunk header: bad checksum")
	}
	h := chunkHeader{
		codec:     b[4],
		firstLine: int64(binary.LittleEndian.Uint64(b[8:])), // < 2^62, checked below
		lines:     binary.LittleEndian.Uint32(b[16:]),
		rawLen:    binary.LittleEndian.Uint32(b[20:]),
		storedLen: binary.LittleEndian.Uint32(b[24:]),
		crc:       binary.LittleEndian.Uint32(b[28:]),
	}
	switch {
	case b[5] != 0 || b[6] != 0 || b[7] != 0:
		return h, fmt.Errorf("chunk header: reserved bytes are not 0")
	case binary.LittleEndian.Uint64(b[8:]) >= maxFirstLine:
		return h, fmt.Errorf("chunk header: first line %d ≥ 2^62", binary.LittleEndian.Uint64(b[8:]))
	case h.rawLen == 0 || h.rawLen > MaxChunkRaw:
		return h, fmt.Errorf("chunk header: raw length %d, want 1…%d", h.rawLen, MaxChunkRaw)
	case h.lines == 0 || h.lines > h.rawLen:
		return h, fmt.Errorf("chunk header: %d lines in %d bytes", h.lines, h.rawLen)
	case h.codec == codecStored && h.storedLen != h.rawLen:
		return h, fmt.Errorf("chunk header: stored chunk of %d bytes holds %d", h.rawLen, h.storedLen)
	case h.codec != codecStored && h.codec != codecZstd && h.codec != codecS2:
		return h, fmt.Errorf("chunk header: codec %d unknown", h.codec)
	case h.codec != codecStored && (h.storedLen == 0 || h.storedLen > h.rawLen):
		return h, fmt.Errorf("chunk header: %s chunk of %d bytes stored in %d", codecName[h.codec], h.rawLen, h.storedLen)
	}
	return h, nil
}
