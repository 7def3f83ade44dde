// Package httpserve is the master's one HTTP layer. It owns the life of each
// HTTP listener (www, debug) and what a client of one can cost:
//
//   - Bind binds a listener once, when the master starts and before any
//     service runs, so that a port that cannot be bound fails the start
//     ("listen.www 127.0.0.1:8010: address already in use", BindError), and a
//     service restarted by its supervisor serves on the same socket again
//     instead of binding it anew; Adopt takes a listener a test bound itself.
//     A Listener holds at most Limits.MaxConns connections open (Open counts
//     them); more wait in the system's accept queue.
//   - Serve serves a handler on a Listener with the listener's timeouts
//     (Limits); Server.Stop stops gracefully (requests in flight may
//     finish), and neither Stop nor Close unbinds the socket: only
//     Listener.Close does, when the master stops.
//   - LimitBody bounds request bodies (413 past the bound); WriteJSON is how
//     every surface answers JSON.
//
// A surface is a handler served on a Listener: the service that owns the
// listener (status for www, debug for debug) builds one handler, wraps it once
// in its middleware (service.Surface: LimitBody, then auth.Middleware), and
// serves it with service.HTTPService.
package httpserve
