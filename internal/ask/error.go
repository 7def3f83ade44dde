package ask

import (
	"strings"

	"github.com/buildmaster/buildmaster/messages"
)

// Error is a request that an actor refused or failed to carry out, as it
// crosses actor boundaries (a messages.ControlError): a code for programs,
// and a message for people.
type Error struct {
	Code    messages.ControlErrorCode
	Message string
}

// The codes, to match with errors.Is: errors.Is(err, ErrInvalidArgument)
// holds for every *Error with that code, whatever its message.
var (
	// ErrUnauthenticated: the token was missing or wrong.
	ErrUnauthenticated = &Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_UNAUTHENTICATED}
	// ErrFailed: the request could not be carried out (the store failed,
	// no answer from further on).
	ErrFailed = &Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED}
	// ErrInvalidArgument: the request itself was wrong; nothing was written.
	// The db service answers it for a command refused as bad
	// (state.ErrBadCommand).
	ErrInvalidArgument = &Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT}
	// ErrPermissionDenied: a user's token, refused by the authz rules.
	ErrPermissionDenied = &Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_PERMISSION_DENIED}
)

// FromProto is the error a ControlError carries.
func FromProto(ce *messages.ControlError) *Error {
	return &Error{Code: ce.GetCode(), Message: ce.GetMessage()}
}

// Proto is e as the message that carries it to another actor.
func (e *Error) Proto() *messages.ControlError {
	return &messages.ControlError{Code: e.Code, Message: e.Message}
}

// Error returns the message, or the code's name when there is none.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(e.Code.String(), "CONTROL_ERROR_CODE_"), "_", " "))
}

// Is reports whether target is an *Error with the same code and, unless
// target has none, the same message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}
