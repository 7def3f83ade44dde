package master

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/messages"
)

// Listeners are HTTP listeners the caller of Start bound itself (a test, on
// 127.0.0.1:0), served in place of binding listen.www and listen.debug. The
// master owns them from Start on: it closes them when it stops, or fails to
// start.
type Listeners struct {
	WWW, Debug net.Listener
}

// DefaultMaxConnections is each HTTP listener's connection limit when the
// config sets none, unless a quarter of the open-file limit is less.
const DefaultMaxConnections = 1024

// bindListeners binds the HTTP listeners of cfg (or adopts those given) with
// limits, all before anything else starts, so that a port that cannot be
// bound fails the start and no service ever binds one itself. On error
// nothing stays bound.
func bindListeners(cfg *messages.MasterConfig, given Listeners, limits httpserve.Limits) (www, debug *httpserve.Listener, err error) {
	bind := func(key, addr string, l net.Listener) (*httpserve.Listener, error) {
		switch {
		case l != nil:
			return httpserve.Adopt(key, l, limits), nil
		case addr == "":
			return nil, nil
		}
		return httpserve.Bind(key, addr, limits)
	}
	if www, err = bind("listen.www", cfg.GetListen().GetWww(), given.WWW); err == nil {
		debug, err = bind("listen.debug", cfg.GetListen().GetDebug(), given.Debug)
	}
	if err != nil {
		closeListeners(www, debug)
		for _, l := range []net.Listener{given.WWW, given.Debug} {
			if l != nil {
				l.Close()
			}
		}
		return nil, nil, err
	}
	return www, debug, nil
}

// httpLimits are the limits of each HTTP listener under h (defaults
// applied), in a process that may open nofile files (0: unknown). Unless h
// sets it, the connection limit leaves at least half the descriptors to
// workers, the remote endpoint and the state (there are two HTTP listeners).
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

// registerListeners reports the open connections of the HTTP listeners on
// reg, as buildmaster_http_open_connections{listener="www"|"debug"}.
func registerListeners(reg prometheus.Registerer, ls map[string]*httpserve.Listener) {
	for name, l := range ls {
		if l == nil {
			continue
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "buildmaster_http_open_connections", Help: "Connections an HTTP listener holds open.",
			ConstLabels: prometheus.Labels{"listener": name},
		}, func() float64 { return float64(l.Open()) }))
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
