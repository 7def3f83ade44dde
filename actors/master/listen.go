package master

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/messages"
)

// Listeners are listeners the caller of Start bound itself (a test, on
// 127.0.0.1:0), served in place of binding listen.remote, listen.www,
// listen.debug, listen.workers and listen.workers_pb. The master owns them
// from Start on: it closes them when it stops, or fails to start.
type Listeners struct {
	Remote, WWW, Debug, Workers, WorkersPB net.Listener
}

// bound are the listeners the master serves on; nil for one it has not.
type bound struct {
	remote, www, debug, workers, workersPB *httpserve.Listener
	// strangers is how many connections not logged in each worker
	// listener holds at once (listen.workers_max_unauthenticated).
	strangers int
}

func (b bound) all() []*httpserve.Listener {
	return []*httpserve.Listener{b.remote, b.www, b.debug, b.workers, b.workersPB}
}

// DefaultMaxConnections is each HTTP listener's connection limit when the
// config sets none, unless a quarter of the open-file limit is less.
const DefaultMaxConnections = 1024

// bindListeners binds the listeners of cfg (or adopts those given) with
// limits, all before anything else starts, so that a port that cannot be
// bound fails the start and no service ever binds one itself. On error
// nothing stays bound. Without control, listen.remote is not bound.
func bindListeners(cfg *messages.MasterConfig, given Listeners, limits httpserve.Limits, control bool) (bound, error) {
	l := cfg.GetListen()
	b := bound{strangers: maxStrangers(l, limits.MaxConns)}
	remote := l.GetRemote()
	if !control {
		remote = ""
	}
	for _, x := range []struct {
		key, addr string
		given     net.Listener
		into      **httpserve.Listener
	}{
		{"listen.remote", remote, given.Remote, &b.remote},
		{"listen.www", l.GetWww(), given.WWW, &b.www},
		{"listen.debug", l.GetDebug(), given.Debug, &b.debug},
		{"listen.workers", l.GetWorkers(), given.Workers, &b.workers},
		{"listen.workers_pb", l.GetWorkersPb(), given.WorkersPB, &b.workersPB},
	} {
		switch {
		case x.given != nil:
			*x.into = httpserve.Adopt(x.key, x.given, limits)
		case x.addr != "":
			bl, err := httpserve.Bind(x.key, x.addr, limits)
			if err != nil {
				closeListeners(b.all()...)
				for _, g := range []net.Listener{given.Remote, given.WWW, given.Debug, given.Workers, given.WorkersPB} {
					if g != nil {
						g.Close()
					}
				}
				return bound{}, err
			}
			*x.into = bl
		}
	}
	return b, nil
}

// maxStrangers is listen.workers_max_unauthenticated, or by default a
// quarter of the connections a listener holds (maxConns).
func maxStrangers(l *messages.ListenConfig, maxConns int) int {
	if l != nil && l.WorkersMaxUnauthenticated != nil {
		return int(l.GetWorkersMaxUnauthenticated())
	}
	return max(maxConns/4, 1)
}

// limitStrangers bounds the connections not logged in of the worker
// listeners (bound.strangers); a refused one is logged on refusals.
func limitStrangers(b bound, refusals *droplog.Log) {
	for key, l := range map[string]*httpserve.Listener{"listen.workers": b.workers, "listen.workers_pb": b.workersPB} {
		if l == nil {
			continue
		}
		l.LimitStrangers(b.strangers, func(remote string) {
			refusals.Refused(remote, "too many connections have not logged in, closing a new one",
				slog.String("listener", key), slog.Int("max", b.strangers))
		})
	}
}

// workersTLS loads the certificate of listen.workers_tls; nil when none.
func workersTLS(cfg *messages.MasterConfig) (*tls.Config, error) {
	t := cfg.GetListen().GetWorkersTls()
	if t.GetCertFile() == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.GetCertFile(), t.GetKeyFile())
	if err != nil {
		return nil, fmt.Errorf("listen.workers_tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// httpLimits are the limits of each listener under h (defaults applied),
// in a process that may open nofile files (0: unknown). Unless h sets it,
// the connection limit is a quarter of the descriptors, so that no one
// listener can take them all.
func httpLimits(h *messages.HttpConfig, nofile uint64) httpserve.Limits {
	conns := int(h.GetMaxConnections())
	if conns == 0 {
		conns = DefaultMaxConnections
		if nofile > 0 && nofile/4 < uint64(conns) {
			conns = max(int(nofile/4), 1)
		}
	}
	return httpserve.Limits{
		MaxConns:          conns,
		ReadHeaderTimeout: h.GetReadHeaderTimeout().AsDuration(),
		ReadTimeout:       h.GetReadTimeout().AsDuration(),
		WriteTimeout:      h.GetWriteTimeout().AsDuration(),
		IdleTimeout:       h.GetIdleTimeout().AsDuration(),
	}
}

// registerListeners reports the open connections of the listeners on reg,
// the connections of the worker listeners that have not logged in
// (buildmaster_listener_strangers) and those refused for it
// (buildmaster_listener_strangers_refused_total),
// as buildmaster_http_open_connections{listener="remote"|"www"|"debug"|"workers"|"workers_pb"},
// the requests their handlers answered and the time that took
// (buildmaster_http_requests_total, buildmaster_http_request_seconds_total),
// and, apart, the WebSocket and event streams they ended
// (buildmaster_http_streams_total), whose lifetime would swamp the time of
// the requests.
func registerListeners(reg prometheus.Registerer, ls map[string]*httpserve.Listener) {
	for name, l := range ls {
		if l == nil {
			continue
		}
		labels := prometheus.Labels{"listener": name}
		gauge := func(name, help string, f func() float64) {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
		}
		counter := func(name, help string, f func() float64) {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f))
		}
		gauge("buildmaster_http_open_connections", "Connections an HTTP listener holds open.",
			func() float64 { return float64(l.Open()) })
		counter("buildmaster_http_requests_total", "Requests an HTTP listener's handlers answered, streams apart.",
			func() float64 { n, _ := l.Served(); return float64(n) })
		counter("buildmaster_http_request_seconds_total", "Time an HTTP listener's handlers took, headers read to return.",
			func() float64 { _, d := l.Served(); return d.Seconds() })
		counter("buildmaster_http_streams_total", "WebSocket and event streams an HTTP listener's handlers ended (not among the requests).",
			func() float64 { return float64(l.Streams()) })
		if name != "workers" && name != "workers_pb" {
			continue
		}
		gauge("buildmaster_listener_strangers", "Connections a worker listener holds that have not logged in.",
			func() float64 { return float64(l.Strangers()) })
		counter("buildmaster_listener_strangers_refused_total", "Connections a worker listener closed at once: too many had not logged in (listen.workers_max_unauthenticated).",
			func() float64 { return float64(l.StrangersRefused()) })
	}
}

// closeListeners unbinds the listeners that are not nil.
func closeListeners(ls ...*httpserve.Listener) {
	for _, l := range ls {
		if l != nil {
			l.Close()
		}
	}
}

// addrOf is the address l is bound to; "" for none.
func addrOf(l *httpserve.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}
