package filetransfer

import (
	"errors"
	"strings"
)

// CheckRelative refuses a destination under the root that is empty,
// absolute, or has a ".." element: the error says which (it reads after the
// path, e.g. `masterdest "../x" leaves its directory`).
func CheckRelative(p string) error {
	switch {
	case p == "":
		return errors.New("is empty")
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`):
		return errors.New("is absolute")
	case strings.ContainsRune(p, 0):
		return errors.New("holds a NUL byte")
	}
	for _, e := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if e == ".." {
			return errors.New(`leaves its directory ("..")`)
		}
	}
	return nil
}
