package report

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sender sends one report to one target. A nil error means delivered (or
// nothing to deliver); otherwise the error is an *SendError saying whether
// and when to try again, or wraps ErrSkipped.
type Sender interface {
	Send(ctx context.Context, r *Report) error
}

// ErrSkipped is wrapped by the errors of a report the target cannot take
// and never will (no revision, no pull request, no recipient …): treat it
// as done, not as a failure to retry.
var ErrSkipped = errors.New("report skipped")

// Skipf returns an error wrapping ErrSkipped with the reason.
func Skipf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSkipped, fmt.Sprintf(format, args...))
}

// SendError is a failed delivery. It never holds a token or a password.
type SendError struct {
	// Target is what was being done, e.g. "POST https://api.github.com/repos/o/r/statuses/abc"
	// or "SMTP smtp.example.org:587" (URLs redacted).
	Target string
	// Status is the HTTP or SMTP status code; 0 when none was received.
	Status int
	// Retryable says whether the same report may succeed later.
	Retryable bool
	// RetryAfter is how long the target asked to wait (Retry-After, or a
	// rate limit's reset); 0 when it did not say.
	RetryAfter time.Duration
	// Detail is a short excerpt of the target's answer.
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *SendError) Error() string {
	msg := e.Target
	if e.Status != 0 {
		msg += fmt.Sprintf(": status %d", e.Status)
	}
	if e.Detail != "" {
		msg += fmt.Sprintf(" (%s)", e.Detail)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Retryable {
		msg += "; retryable"
		if e.RetryAfter > 0 {
			msg += fmt.Sprintf(" after %s", e.RetryAfter)
		}
	} else {
		msg += "; permanent"
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.Err }

// RetryInfo reads an error from Send: whether to retry, and the wait the
// target asked for (0: use the backoff). Errors that are not a *SendError
// and do not wrap ErrSkipped are retryable (a client bug should not lose
// reports); ErrSkipped and nil are not.
func RetryInfo(err error) (retry bool, after time.Duration) {
	if err == nil || errors.Is(err, ErrSkipped) {
		return false, 0
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.Retryable, se.RetryAfter
	}
	return true, 0
}
