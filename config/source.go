package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Source remembers where in the file each decoded key path was written, so
// that checks made after decoding can point at a line. A nil *Source is
// valid: it knows no positions and names no file.
type Source struct {
	file string
	pos  map[string]position
}

type position struct{ line, col int32 }

func newSource(file string) *Source {
	return &Source{file: file, pos: make(map[string]position)}
}

// File returns the name the config was parsed under ("" for a nil Source).
func (s *Source) File() string {
	if s == nil {
		return ""
	}
	return s.file
}

// Pos returns the 1-based line and column of the key at path, such as
// "builders[2].workers[0]", "caches.Builds" or "listen.debug". A path that
// was not written in the file (a defaulted field) gets the position of its
// nearest written ancestor; 0, 0 when there is none.
func (s *Source) Pos(path string) (line, col int) {
	if s == nil {
		return 0, 0
	}
	for {
		if p, ok := s.pos[path]; ok {
			return int(p.line), int(p.col)
		}
		if path == "" {
			return 0, 0
		}
		path = parentPath(path)
	}
}

// Errorf returns an error located at path (see Pos) in the Source's file.
func (s *Source) Errorf(path, format string, args ...any) *Error {
	line, col := s.Pos(path)
	return &Error{File: s.File(), Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// written reports whether path itself (not just an ancestor) was in the file.
func (s *Source) written(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.pos[path]
	return ok
}

func (s *Source) record(path string, line, col int) {
	s.pos[path] = position{int32(line), int32(col)}
}

// fieldPath returns the path of field (or map key) name under parent.
// A name that would be ambiguous in a path is written as ["name"].
func fieldPath(parent, name string) string {
	if name == "" || strings.ContainsAny(name, ".[]\"") || strings.IndexFunc(name, isSpaceOrControl) >= 0 {
		return parent + "[" + strconv.Quote(name) + "]"
	}
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// indexPath returns the path of element i of the sequence at parent.
func indexPath(parent string, i int) string {
	var buf [24]byte
	return parent + "[" + string(strconv.AppendInt(buf[:0], int64(i), 10)) + "]"
}

// parentPath strips the last element from path: "a.b[2]" → "a.b" → "a" → "".
func parentPath(path string) string {
	if strings.HasSuffix(path, `"]`) {
		// A quoted key: its opening `["` is the last one, since quoting
		// escapes every `"` inside the key.
		if i := strings.LastIndex(path, `["`); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// under reports whether path is prefix itself or lies below it.
func under(path, prefix string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '.' || path[len(prefix)] == '['
}
