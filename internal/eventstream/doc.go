// Package eventstream serves the event bus (internal/mq) to browsers and
// scripts, as Buildbot's www does:
//
//   - GET /ws upgrades to a WebSocket speaking Buildbot's JSON protocol.
//     Client frames are commands with an "_id": startConsuming and
//     stopConsuming (with a "path", "*" for any one segment) and ping;
//     each gets one answer, {"msg":"OK","code":200,"_id":1} or
//     {"error":…,"code":400|403|404,"_id":…} (frame.go, session.go). An
//     event is {"k":"builds/12/finished","m":{…}}. A client consuming
//     overlapping paths gets each event once; every event published before
//     a command is handled is sent before that command's answer, and an
//     answer to startConsuming before any event it brings.
//   - GET /sse/listen[/PATH] opens a Server-Sent Events stream: first
//     "event: handshake" with the consumer id, then "event: event" whose
//     data is {"key":["builds","12","finished"],"message":{…}}.
//     GET /sse/add/ID/PATH and /sse/remove/ID/PATH change what stream ID
//     consumes (answers: "ok", 400 "unknown uuid", 404 "consumer is not
//     listening to this event").
//
// Events reach a client in batches: its writer waits FlushInterval
// (20 ms) after an event for the ones behind it and sends them all in one
// write, each event's frame encoded once for every client
// (mq.Event.Encoded); answers to commands are not held back. One clock
// for all streams (a timing wheel of 1 ms slots) wakes a writer when its
// batch is due, and only then: a writer with nothing to send sleeps.
// With many clients the wait grows so that all of them together make at
// most Limits.WriteRate writes a second (past 1,000 clients by default).
//
// Everything a client can cost is bounded (Limits): streams open at once,
// paths per client, client frame size, events queued per client. A client
// that falls behind by more than its queue is dropped by the bus (WebSocket
// close 1013 "try again later", or the SSE response ends); the publisher
// never waits for a client. A WebSocket that does not answer pings is
// closed; an SSE write that does not complete in time ends the stream.
//
// Authorization is a hook (Authorizer): it resolves the Viewer of each
// stream once, which is asked before each subscription and once per event
// class (mq.Event.Class: "builders/ID") before delivering events of that
// class. The WebSocket upgrade's Origin is checked (Options.CheckOrigin).
package eventstream
