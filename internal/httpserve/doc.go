// Package httpserve is the master's one HTTP layer. It owns the life of each
// HTTP listener (www, debug):
//
//   - Bind binds a listener once, when the master starts and before any
//     service runs, so that a port that cannot be bound fails the start, and
//     a service restarted by its supervisor serves on the same socket again
//     instead of binding it anew; Adopt takes a listener a test bound itself.
//   - Serve serves a handler on a Listener with the listener's timeouts;
//     Server.Stop stops gracefully (requests in flight may finish), and
//     neither Stop nor Close unbinds the socket: only Listener.Close does,
//     when the master stops.
//   - WriteJSON is how every surface answers JSON.
//
// A surface is a handler served on a Listener: the service that owns the
// listener (status for www, debug for debug) builds one handler, wraps it once
// in auth.Middleware, and calls Serve when it starts.
package httpserve
