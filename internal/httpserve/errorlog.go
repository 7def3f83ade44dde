package httpserve

import (
	"log"
	"log/slog"
	"strings"

	"github.com/buildmaster/buildmaster/internal/droplog"
)

// tlsHandshakeError starts the line net/http logs for each connection
// whose TLS handshake fails: "http: TLS handshake error from ADDR: WHY".
const tlsHandshakeError = "http: TLS handshake error from "

// errorLog is an http.Server's ErrorLog: its lines go to "to" at Warn, but
// TLS handshake errors, which a stranger causes at will (one a connection),
// go through refusals.
func errorLog(to *slog.Logger, refusals *droplog.Log) *log.Logger {
	return log.New(errorWriter{log: to, refusals: refusals}, "", 0)
}

type errorWriter struct {
	log      *slog.Logger
	refusals *droplog.Log
}

// Write takes one line of the server's log.
func (w errorWriter) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	if rest, ok := strings.CutPrefix(line, tlsHandshakeError); ok {
		addr, why, _ := strings.Cut(rest, ": ")
		w.refusals.Refused(addr, "http: TLS handshake error", slog.String("err", droplog.Text(why)))
		return len(p), nil
	}
	w.log.Warn(line)
	return len(p), nil
}
