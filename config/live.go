package config

import (
	"strconv"

	"github.com/buildmaster/buildmaster/messages"
)

// LiveChangeErrors returns an error for each key whose value differs between
// old (the running config) and new (a reloaded one, located by src) but
// cannot change while the master runs: the listen.* addresses, the
// workers' TLS files and listen.workers_max_unauthenticated, and the bounds of the HTTP listeners, which are set when they
// are bound (all of http but max_body_bytes). Both configs should have had ApplyDefaults applied, so that
// leaving a key out compares as its default. A reconfig with any of these
// errors must be refused as a whole.
func LiveChangeErrors(old, new *messages.MasterConfig, src *Source) Errors {
	var errs Errors
	o, n := old.GetHttp(), new.GetHttp()
	for _, k := range [...]struct{ key, was, now string }{
		{"listen.remote", old.GetListen().GetRemote(), new.GetListen().GetRemote()},
		{"listen.www", old.GetListen().GetWww(), new.GetListen().GetWww()},
		{"listen.debug", old.GetListen().GetDebug(), new.GetListen().GetDebug()},
		{"listen.workers", old.GetListen().GetWorkers(), new.GetListen().GetWorkers()},
		{"listen.workers_pb", old.GetListen().GetWorkersPb(), new.GetListen().GetWorkersPb()},
		{"listen.workers_tls.cert_file", old.GetListen().GetWorkersTls().GetCertFile(), new.GetListen().GetWorkersTls().GetCertFile()},
		{"listen.workers_tls.key_file", old.GetListen().GetWorkersTls().GetKeyFile(), new.GetListen().GetWorkersTls().GetKeyFile()},
		{"listen.workers_max_unauthenticated", strconv.Itoa(int(old.GetListen().GetWorkersMaxUnauthenticated())), strconv.Itoa(int(new.GetListen().GetWorkersMaxUnauthenticated()))},
		{"http.max_connections", strconv.Itoa(int(o.GetMaxConnections())), strconv.Itoa(int(n.GetMaxConnections()))},
		{"http.read_header_timeout", o.GetReadHeaderTimeout().AsDuration().String(), n.GetReadHeaderTimeout().AsDuration().String()},
		{"http.read_timeout", o.GetReadTimeout().AsDuration().String(), n.GetReadTimeout().AsDuration().String()},
		{"http.write_timeout", o.GetWriteTimeout().AsDuration().String(), n.GetWriteTimeout().AsDuration().String()},
		{"http.idle_timeout", o.GetIdleTimeout().AsDuration().String(), n.GetIdleTimeout().AsDuration().String()},
	} {
		if k.was != k.now {
			errs = append(errs, src.Errorf(k.key,
				"%s cannot change while the master runs (was %q, now %q); restart the master to change it",
				k.key, k.was, k.now))
		}
	}
	errs.sort()
	return errs
}
