package service

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServeHTTP starts serving h on addr in the background and returns the
// server, which its owner closes when it stops or restarts; nil when addr is
// "" or cannot be bound. what names the endpoint in logs.
func ServeHTTP(rt *Runtime, what, addr string, h http.Handler) *http.Server {
	if addr == "" {
		return nil
	}
	l, err := listen(addr)
	if err != nil {
		// The master checks its listeners before it starts, so this is a
		// restart racing the old socket's release; say so, do not crash-loop.
		rt.Log.Error(what+" cannot listen", slog.String("addr", addr), slog.Any("error", err))
		return nil
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.Log.Error(what+" stopped", slog.Any("error", err))
		}
	}()
	return srv
}

// listen retries briefly: a restarted service may find its old socket still
// being released.
func listen(addr string) (net.Listener, error) {
	var err error
	for range 20 {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

// WriteJSON answers v as JSON with status code, HTML left unescaped (as
// Buildbot's API does).
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
