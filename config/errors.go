package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/buildmaster/buildmaster/messages"
)

// Error is one problem with a config, located as precisely as possible.
// Line and Column are 1-based; 0 means the error has no single place in the
// file. Path is the key path, e.g. "builders[2].workers[0]". Msg never holds
// the value of a secret field.
type Error struct {
	File         string
	Line, Column int
	Path         string
	Msg          string

	err error // the underlying error, for errors.Is/As; may be nil
}

// Error formats e as "file:line:col: path: msg", leaving out the parts that
// are empty or zero. The path is also left out when Msg already starts with
// it ("listen.www cannot change …").
func (e *Error) Error() string {
	var b strings.Builder
	e.format(&b)
	return b.String()
}

func (e *Error) format(b *strings.Builder) {
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteString(":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" && !strings.HasPrefix(e.Msg, e.Path+" ") {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
}

// Unwrap returns the error that caused e, if any (LoadFile's read error).
func (e *Error) Unwrap() error { return e.err }

// Proto returns e as the wire message carried by a ReconfigureResponse.
func (e *Error) Proto() *messages.ConfigError {
	return &messages.ConfigError{
		File:    e.File,
		Line:    int32(e.Line),
		Column:  int32(e.Column),
		Path:    e.Path,
		Message: e.Msg,
	}
}

// Errors is every problem found in one config. Its Error method lists them
// one per line in file order; functions of this package return Errors
// already sorted that way.
type Errors []*Error

// Error lists the errors one per line, sorted by line, column and path.
func (es Errors) Error() string {
	sorted := slices.Clone(es)
	sorted.sort()
	var b strings.Builder
	for i, e := range sorted {
		if i > 0 {
			b.WriteByte('\n')
		}
		e.format(&b)
	}
	return b.String()
}

// Unwrap returns the errors, so that errors.As and errors.Is see each one.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Proto returns the errors, in file order, as wire messages.
func (es Errors) Proto() []*messages.ConfigError {
	sorted := slices.Clone(es)
	sorted.sort()
	out := make([]*messages.ConfigError, len(sorted))
	for i, e := range sorted {
		out[i] = e.Proto()
	}
	return out
}

// sort orders es by file position, then path, then message.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
}

// err returns es as an error: nil when es is empty, otherwise es sorted.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}
