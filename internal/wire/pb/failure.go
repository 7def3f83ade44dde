package pb

import (
	"errors"
	"fmt"
)

// RemoteError is a Python exception carried over PB as a Twisted
// CopyableFailure: what a worker's failed call or failed command sends,
// and what this package sends back for a refused login or a failed call.
type RemoteError struct {
	Type      string   // the exception's class, e.g. "twisted.cred.error.UnauthorizedLogin"
	Value     string   // str() of the exception
	Traceback string   // as the peer sent it; may be "Traceback unavailable\n"
	Parents   []string // Type and its base classes, most specific first
}

func (e *RemoteError) Error() string {
	if e.Value == "" {
		return e.Type
	}
	return e.Type + ": " + e.Value
}

// Is matches another *RemoteError of the same Type or one of its parents,
// so errors.Is(err, &RemoteError{Type: "twisted.spread.flavors.NoSuchMethod"})
// asks "is it a NoSuchMethod".
func (e *RemoteError) Is(target error) bool {
	t, ok := target.(*RemoteError)
	if !ok {
		return false
	}
	if t.Type == e.Type {
		return true
	}
	for _, p := range e.Parents {
		if p == t.Type {
			return true
		}
	}
	return false
}

var (
	// ErrNoSuchMethod matches a worker's answer to a method it lacks.
	ErrNoSuchMethod = &RemoteError{Type: "twisted.spread.flavors.NoSuchMethod"}
	// ErrUnauthorizedLogin matches a refused login.
	ErrUnauthorizedLogin = &RemoteError{Type: "twisted.cred.error.UnauthorizedLogin"}
)

// newFailure builds the failure this package sends: typ and its bases.
func newFailure(typ, value string, bases ...string) *RemoteError {
	parents := append([]string{typ}, bases...)
	parents = append(parents, "builtins.Exception", "builtins.BaseException", "builtins.object")
	return &RemoteError{Type: typ, Value: value, Traceback: "Traceback unavailable\n", Parents: parents}
}

func unauthorizedLogin(why string) *RemoteError {
	return newFailure(ErrUnauthorizedLogin.Type, why, "twisted.cred.error.LoginFailed", "twisted.cred.error.Unauthorized")
}

func noSuchMethod(method string) *RemoteError {
	return newFailure(ErrNoSuchMethod.Type, "No such method: remote_"+method, "builtins.AttributeError")
}

// pbError is Twisted's pb.Error, a "known error condition" sent without
// a traceback: what a master-side handler's Go error becomes.
func pbError(err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return re
	}
	return newFailure("twisted.spread.pb.Error", err.Error())
}

// failureFromState reads a CopyableFailure's state dictionary.
func failureFromState(state any) (*RemoteError, error) {
	m, ok := state.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("jelly: %s state is %T, not a dictionary", failureClass, state)
	}
	e := &RemoteError{Type: text(m["type"]), Value: text(m["value"]), Traceback: text(m["traceback"])}
	if ps, ok := m["parents"].([]any); ok {
		for _, p := range ps {
			e.Parents = append(e.Parents, text(p))
		}
	}
	return e, nil
}

// failure appends e as Twisted sends a CopyableFailure, its state's keys
// in the order Twisted writes them.
func (j jellier) failure(b []byte, e *RemoteError) []byte {
	b = appendPrefix(b, 2, typeList)
	b = j.atom(b, failureClass)
	b = j.head(b, 12, "dictionary")
	entry := func(key string, v any) {
		b = appendPrefix(b, 2, typeList)
		b, _ = j.append(b, key, 0)
		b, _ = j.append(b, v, 0)
	}
	entry("count", 0)
	entry("type", []byte(e.Type))
	entry("value", e.Value)
	entry("captureVars", false)
	entry("frames", []any{})
	entry("stack", []any{})
	entry("tb", nil)
	entry("parents", e.Parents)
	entry("pickled", 1)
	entry("unsafeTracebacks", false)
	entry("traceback", e.Traceback)
	return b
}
