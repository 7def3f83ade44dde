package master

import (
	"net"

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

// bindListeners binds the HTTP listeners of cfg (or adopts those given), all
// before anything else starts, so that a port that cannot be bound fails the
// start and no service ever binds one itself. On error nothing stays bound.
func bindListeners(cfg *messages.MasterConfig, given Listeners) (www, debug *httpserve.Listener, err error) {
	limits := httpserve.DefaultLimits()
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
