package pbmanager

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/internal/loginlimit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/messages"
)

// authenticator is the wire.Authenticator of both protocols: a worker logs
// in with the name and password of a configured worker (the config in
// force at the login). A worker without a password never logs in. Wrong
// passwords are counted per address (and per name and address) by the
// limiter, which refuses further attempts for a while (wire.RateLimited,
// with how long until the next).
// The protocol servers compare the passwords, in constant time, and log
// the refusals (within Runtime.Refusals' budget); refused counts every
// refusal (Stats.LoginsRefused, listener "workers").
type authenticator struct {
	config  func() *messages.MasterConfig
	limit   *loginlimit.Limiter
	refused *prometheus.CounterVec
}

var (
	_ wire.Authenticator = (*authenticator)(nil)
	_ wire.LoginObserver = (*authenticator)(nil)
)

// Password implements wire.Authenticator.
func (a *authenticator) Password(_ context.Context, name, remote string) (string, bool, error) {
	if ok, wait := a.limit.Attempt(name, remote); !ok {
		a.refused.WithLabelValues("workers", "rate_limited").Inc()
		return "", false, wire.RateLimited(wait)
	}
	for _, w := range a.config().GetWorkers() {
		if w.GetName() == name {
			return w.GetPassword(), w.GetPassword() != "", nil
		}
	}
	return "", false, nil
}

// LoginResult implements wire.LoginObserver: a success gives the attempt
// back; a login too malformed to name a worker counts against its address.
func (a *authenticator) LoginResult(name, remote string, ok bool) {
	switch {
	case ok:
		a.limit.Succeeded(name, remote)
	case name == "":
		a.refused.WithLabelValues("workers", "malformed").Inc()
		a.limit.Attempt("", remote)
	default:
		a.refused.WithLabelValues("workers", "wrong_credentials").Inc()
	}
}
