// Package remoting puts protoactor-go remote on the network safely.
//
// protoactor remote is plain gRPC: it delivers any message to any local PID
// by id, and a message whose type the receiver does not know, or whose
// indices point outside the batch, panics the receiving process. Start runs
// it behind a Policy enforced by gRPC interceptors, before the library sees
// a message:
//
//   - only the targets a Policy names accept messages from other processes,
//     and each only the message types listed for it; anything else is dropped
//     and logged with the peer, target and type;
//   - only protobuf messages of the buildmaster.v1 schema are accepted, never
//     protoactor's own system messages (Stop, Watch …) nor its JSON serializer;
//   - a sender must live at the peer's own address, so a reply cannot be
//     bounced to a third host;
//   - a target must be in this process (its address is the one Start
//     listens on): the library would forward any other to that address;
//   - malformed batches are dropped, panics are recovered, and the library's
//     unfinished unary diagnostics calls are refused.
//
// Authentication of what is let through (the admin token, a worker's
// password) is the receiving actor's job.
package remoting
