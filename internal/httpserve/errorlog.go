package httpserve

import (
	"log"
	"log/slog"
	"strings"

	"github.com/buildmaster/buildmaster/internal/droplog"
)

// strangerLine is a line net/http logs, as often as a stranger likes (one
// a connection), that starts with prefix: the peer's address follows it,
// then ": " and why, unless noAddr.
type strangerLine struct {
	prefix, msg string
	noAddr      bool
}

// strangerLines are the lines of net/http (and its HTTP/2 server, which a
// TLS listener offers) that a stranger causes at will.
var strangerLines = []strangerLine{
	{prefix: "http: TLS handshake error from ", msg: "http: TLS handshake error"},
	{prefix: "http2: server: error reading preface from client ", msg: "http2: server: error reading preface"},
	{prefix: "http2: server connection error from ", msg: "http2: server connection error"},
	{prefix: "timeout waiting for SETTINGS frames from ", msg: "http2: timeout waiting for SETTINGS frames"},
	{prefix: "http2: received GOAWAY ", msg: "http2: received GOAWAY", noAddr: true},
	{prefix: "http2: server closing client connection: ", msg: "http2: server closing client connection", noAddr: true},
}

// errorLog is an http.Server's ErrorLog: strangerLines go through
// refusals by the peer's address (the lines without one share a source
// named by their message); every other line goes through refusals too, at
// Warn, all under one source, otherSource: net/http has more lines a
// stranger causes at will (a query with a semicolon logs one a request),
// and a Go release may reword those listed, so no line of the server's log
// escapes a budget.
func errorLog(refusals *droplog.Log) *log.Logger {
	return log.New(errorWriter{refusals: refusals}, "", 0)
}

// otherSource is the refusal budget's source of the server's lines that
// strangerLines do not name.
const otherSource = "net/http"

type errorWriter struct {
	refusals *droplog.Log
}

// Write takes one line of the server's log.
func (w errorWriter) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	for _, s := range strangerLines {
		rest, ok := strings.CutPrefix(line, s.prefix)
		if !ok {
			continue
		}
		if s.noAddr {
			w.refusals.Refused(s.msg, s.msg, slog.String("err", droplog.Text(rest)))
			return len(p), nil
		}
		addr, why, _ := strings.Cut(rest, ": ")
		w.refusals.Refused(addr, s.msg, slog.String("err", droplog.Text(why)))
		return len(p), nil
	}
	w.refusals.LogAt(slog.LevelWarn, otherSource, line)
	return len(p), nil
}
