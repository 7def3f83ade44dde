package service

import (
	"github.com/buildmaster/buildmaster/internal/secrets"
)

// Secrets is what the config's secret providers gave for the config in
// force: where more are looked up (`%(secret:NAME)s` in steps) and the
// values the config used, which every output redacts.
type Secrets struct {
	Provider secrets.Provider // nil before the master sets it
	Used     secrets.Values
}

// Secrets returns the secrets of the config in force (never nil).
func (rt *Runtime) Secrets() *Secrets {
	if s := rt.secrets.Load(); s != nil {
		return s
	}
	return &Secrets{}
}

// SetSecrets installs the secrets of a new config; only the master calls
// it, with SetConfig. The log's redactor (LogRedactor) then redacts s.Used.
func (rt *Runtime) SetSecrets(s *Secrets) {
	rt.secrets.Store(s)
	if rt.LogRedactor != nil {
		rt.LogRedactor.SetRedactor(s.Used.Redactor())
	}
}

// Redactor returns the redactor of the secret values in use.
func (rt *Runtime) Redactor() *secrets.Redactor { return rt.Secrets().Used.Redactor() }
