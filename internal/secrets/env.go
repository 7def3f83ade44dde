package secrets

import (
	"context"
	"fmt"
	"os"
)

// Env reads secrets from environment variables: secret NAME is the
// variable Prefix+NAME. A variable that is set but empty is an empty
// secret, not a missing one.
type Env struct {
	// Prefix is put before a secret's name to get the variable's name,
	// for instance "BUILDMASTER_SECRET_".
	Prefix string
	// LookupEnv reads a variable; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// String names the provider in errors.
func (e *Env) String() string { return fmt.Sprintf("env %s*", e.Prefix) }

// Get reads variable Prefix+name.
func (e *Env) Get(_ context.Context, name string) (string, error) {
	if name == "" {
		return "", &NotFoundError{Name: name, Where: e.String(), Reason: "empty name"}
	}
	lookup := e.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(e.Prefix + name)
	if !ok {
		return "", &NotFoundError{Name: name, Where: e.String()}
	}
	return v, nil
}
