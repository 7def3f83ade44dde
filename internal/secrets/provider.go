package secrets

import (
	"context"
	"errors"
	"fmt"
)

// Provider gives the value of a secret by name. Get returns an error
// wrapping ErrNotFound (a *NotFoundError) when the provider has no such
// secret, so that a Chain tries the next provider; any other error means the
// provider could not answer (unreadable file, Vault sealed) and stops the
// Chain. Errors never contain a secret value.
//
// A Provider that also implements fmt.Stringer names itself in errors
// ("dir /etc/buildmaster/secrets").
type Provider interface {
	Get(ctx context.Context, name string) (string, error)
}

// ErrNotFound is wrapped by every error that says a secret does not exist.
var ErrNotFound = errors.New("secret not found")

// NotFoundError says that a secret does not exist in a provider (or, from a
// Chain, in any of them).
type NotFoundError struct {
	Name    string // the secret's name
	Context string // what asked for it, set by Render (`step "deploy" of builder "app"`)
	Where   string // the provider or providers asked ("dir /etc/x", "env BM_SECRET_*")
	Reason  string // why, when it is not just absence ("name contains a path separator")
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("secret %q not found", e.Name)
	if e.Context != "" {
		msg += " (" + e.Context + ")"
	}
	if e.Where != "" {
		msg += " in " + e.Where
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// describe names p for errors.
func describe(p Provider) string {
	if s, ok := p.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", p)
}
