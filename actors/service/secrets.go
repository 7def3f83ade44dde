package service

import (
	"context"
	"sync"

	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/messages"
)

// Secrets is what the config's secret providers gave for the config in
// force: where more are looked up (`%(secret:NAME)s` in steps) and the
// values the config used, which every output redacts.
type Secrets struct {
	Provider secrets.Provider // nil before the master sets it
	Used     secrets.Values
	// Refs is the config in force as it was loaded, its secret fields
	// still holding their references: a reconfig with the same input
	// resolves it again, to see rotated values.
	Refs *messages.MasterConfig
}

// noProviders answers every lookup of a master whose secrets were never set.
type noProviders struct{}

func (noProviders) Get(_ context.Context, name string) (string, error) {
	return "", &secrets.NotFoundError{Name: name, Reason: "the config lists no secret providers"}
}

// Secrets returns the secrets of the config in force (never nil, and its
// Provider never nil).
func (rt *Runtime) Secrets() *Secrets {
	if s := rt.secrets.Load(); s != nil && s.Provider != nil {
		return s
	} else if s != nil {
		return &Secrets{Provider: noProviders{}, Used: s.Used, Refs: s.Refs}
	}
	return &Secrets{Provider: noProviders{}}
}

// SetSecrets installs the secrets of a new config; only the master calls
// it, with SetConfig. Redactor, and the log's redactor (LogRedactor), then
// redact s.Used, the values builds have rendered, and the values the
// config's secrets had before (rotated, or no longer used): the last
// secrets.RetiredPerName of each, for as long as the master runs.
func (rt *Runtime) SetSecrets(s *Secrets) {
	rt.rendered.update(rt, s, secrets.Values{})
}

// RenderedSecrets records values a build has rendered (`%(secret:NAME)s`
// in a step), so that Redactor and the master's log redact them from now
// on, for as long as the master runs: a step's output, and anything a
// build's error carries, may hold them. A name's value rendered before a
// new one stays redacted too (the last secrets.RetiredPerName).
func (rt *Runtime) RenderedSecrets(v secrets.Values) {
	if v.Len() > 0 {
		rt.rendered.update(rt, nil, v)
	}
}

// Redactor returns the redactor of the secret values in use: the config's
// and those builds have rendered. It is built once per change, so calling
// it often costs an atomic load.
func (rt *Runtime) Redactor() *secrets.Redactor {
	if r := rt.redactor.Load(); r != nil {
		return r
	}
	return secrets.NewRedactor(nil)
}

// renderedSecrets is the set behind RenderedSecrets, and the values
// secrets no longer have.
type renderedSecrets struct {
	mu      sync.Mutex
	values  secrets.Values
	retired secrets.Retired
}

// update installs, in one critical section, the config's secrets cfg (nil:
// those in force stay; their former values are retired) and the rendered
// values v (a rendered value that v replaces is retired), and the redactor
// of the config's values, every value rendered and the values retired. It
// rebuilds the redactor only for a new config or when v brings a name or
// value it does not hold yet. The redactor is installed before the
// config's secrets, so that whoever sees the new secrets (rt.Secrets) sees
// a redactor that hides them.
func (s *renderedSecrets) update(rt *Runtime, cfg *Secrets, v secrets.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := rt.redactor.Load() == nil || cfg != nil
	for _, n := range v.Names() {
		val, _ := v.Value(n)
		if old, ok := s.values.Value(n); !ok || old != val {
			changed = true
			if ok {
				s.retired.Add(n, old)
			}
		}
	}
	if !changed {
		return
	}
	s.values.Merge(v)
	prev := rt.secrets.Load()
	if cfg != nil && prev != nil {
		s.retired.Replaced(prev.Used, cfg.Used)
	}
	in := cfg
	if in == nil {
		in = prev
	}
	var used secrets.Values
	if in != nil {
		used = in.Used
	}
	r := used.RedactorWith(&s.retired, s.values)
	rt.redactor.Store(r)
	if rt.LogRedactor != nil {
		rt.LogRedactor.SetRedactor(r)
	}
	if cfg != nil {
		rt.secrets.Store(cfg)
	}
}
