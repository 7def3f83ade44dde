// Package control is the wire of the master's control endpoint
// (listen.remote), the one the buildmaster command line uses for what
// changes a master (reconfig, tree, sendchange, force, stop …): one HTTP
// POST per request, answered with the actor's reply on the same connection.
// The client needs no listener of its own and nothing connects back to it.
//
// A request is POST /v1/TARGET, where TARGET is the path of the actor asked
// (paths.Master, paths.Changes …), with a body of one serialised
// google.protobuf.Any holding a buildmaster.v1 message, and optionally a
// TimeoutHeader saying how long the caller waits. The answer 200 has a body
// of one Any holding the actor's reply, a messages.ControlError when the
// actor refused; any other status is a refusal by the endpoint itself,
// with a line of text saying why.
//
// Handler serves it behind a Server's policy, before any actor sees a
// message:
//
//   - only the targets the policy names accept messages, and each only the
//     message types listed for it;
//   - only messages of the buildmaster.v1 schema that decode;
//   - bodies are bounded (MaxMessageBytes), and so is the wait (MaxTimeout).
//
// Every refusal is logged with the peer, target and type (rate limited) and
// counted by reason. Authentication of what is let through (the admin
// token, a user's API token, carried in the message) is the receiving
// actor's job; it learns the peer's address from the message header
// FromHeader, for its logs.
package control
