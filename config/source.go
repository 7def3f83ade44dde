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
	root posNode
}

// posNode is the position of one decoded key or list element, with the keys
// or elements decoded below it: a tree that mirrors the file, cheaper to build
// than a map from every path.
type posNode struct {
	parent    *posNode // nil for the root
	key       string   // the mapping key; "" for a list element
	line, col int32
	index     int32     // the index of a list element
	list      bool      // kids are list elements, by index; else mapping entries
	kids      []posNode // capacity fixed by open, so that &kids[i] stays valid
}

// open prepares pn to receive up to n kids.
func (pn *posNode) open(n int, list bool) {
	pn.list, pn.kids = list, make([]posNode, 0, n)
}

// add records a kid of pn at line, col and returns it. key is "" for a list
// element.
func (pn *posNode) add(key string, line, col int) *posNode {
	pn.kids = append(pn.kids, posNode{parent: pn, key: key, line: int32(line), col: int32(col), index: int32(len(pn.kids))})
	return &pn.kids[len(pn.kids)-1]
}

// path returns pn's key path, e.g. "builders[2].workers[0]".
func (pn *posNode) path() string {
	p := pn.parent
	if p == nil {
		return ""
	}
	if p.list {
		return indexPath(p.path(), int(pn.index))
	}
	return fieldPath(p.path(), pn.key)
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
	pn, _ := s.find(path)
	if pn == nil {
		return 0, 0
	}
	return int(pn.line), int(pn.col)
}

// written reports whether path itself (not just an ancestor) was in the file.
func (s *Source) written(path string) bool {
	_, rest := s.find(path)
	return s != nil && rest == "" && s.root.line > 0
}

// find returns the node of the longest recorded prefix of path, and the rest
// of path that was not found.
func (s *Source) find(path string) (*posNode, string) {
	if s == nil {
		return nil, path
	}
	pn := &s.root
	for path != "" {
		key, index, rest, ok := nextSegment(path, pn == &s.root)
		if !ok {
			break
		}
		var kid *posNode
		switch {
		case pn.list && index >= 0 && index < len(pn.kids):
			kid = &pn.kids[index]
		case !pn.list && index < 0:
			for i := range pn.kids {
				if pn.kids[i].key == key {
					kid = &pn.kids[i]
					break
				}
			}
		}
		if kid == nil {
			break
		}
		pn, path = kid, rest
	}
	return pn, path
}

// nextSegment splits the first element off path: a key (".name", or "name"
// at the start, or `["a.b"]`) or an index ("[2]", with index ≥ 0).
func nextSegment(path string, first bool) (key string, index int, rest string, ok bool) {
	switch {
	case strings.HasPrefix(path, `["`):
		q, err := strconv.QuotedPrefix(path[1:])
		if err != nil || !strings.HasPrefix(path[1+len(q):], "]") {
			return "", -1, "", false
		}
		key, _ = strconv.Unquote(q)
		return key, -1, path[2+len(q):], true
	case strings.HasPrefix(path, "["):
		end := strings.IndexByte(path, ']')
		if end < 0 {
			return "", -1, "", false
		}
		n, ok := digits(path[1:end], 9)
		return "", n, path[end+1:], ok
	case strings.HasPrefix(path, "."):
		path = path[1:]
	case !first:
		return "", -1, "", false
	}
	end := strings.IndexAny(path, ".[")
	if end < 0 {
		end = len(path)
	}
	return path[:end], -1, path[end:], end > 0
}

// Errorf returns an error located at path (see Pos) in the Source's file.
func (s *Source) Errorf(path, format string, args ...any) *Error {
	line, col := s.Pos(path)
	return &Error{File: s.File(), Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)}
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

// indexPath returns the path of element i of the list at parent.
func indexPath(parent string, i int) string {
	var buf [24]byte
	return parent + "[" + string(strconv.AppendInt(buf[:0], int64(i), 10)) + "]"
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
