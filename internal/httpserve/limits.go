package httpserve

import "time"

// Limits bound what the clients of one listener can cost. A zero field is no
// limit.
type Limits struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers.
	ReadHeaderTimeout time.Duration
}

// DefaultLimits are the limits of a listener the config says nothing about.
func DefaultLimits() Limits {
	return Limits{ReadHeaderTimeout: 10 * time.Second}
}
