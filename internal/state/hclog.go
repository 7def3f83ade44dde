package state

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger returns the hclog.Logger raft logs through: it writes JSON
// lines into a slogWriter, which turns each line into one slog record on l.
// level is the lowest level passed on.
func newHCLogger(l *slog.Logger, level slog.Level) hclog.Logger {
	var hl hclog.Level
	switch {
	case level <= slog.LevelDebug:
		hl = hclog.Debug
	case level <= slog.LevelInfo:
		hl = hclog.Info
	case level <= slog.LevelWarn:
		hl = hclog.Warn
	default:
		hl = hclog.Error
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "raft",
		Level:      hl,
		JSONFormat: true,
		Output:     &slogWriter{l: l},
	})
}

// slogWriter is an io.Writer of hclog's JSON lines that logs each on l.
type slogWriter struct{ l *slog.Logger }

// expected are raft's warnings that are the normal course of a single
// voter's start, not something an operator should act on.
var expected = map[string]bool{
	"heartbeat timeout reached, starting election":  true,
	"Election timeout reached, restarting election": true, // the vote took longer than the timeout (a loaded machine)
}

// Write logs each JSON line of p as one record at its level (raft's
// expected warnings at debug); a line that is not JSON is logged as a
// warning, as it is.
func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			w.l.Warn(string(line))
			continue
		}
		lvl := slog.LevelInfo
		switch m["@level"] {
		case "trace", "debug":
			lvl = slog.LevelDebug
		case "warn":
			lvl = slog.LevelWarn
		case "error":
			lvl = slog.LevelError
		}
		msg, _ := m["@message"].(string)
		if expected[msg] {
			lvl = slog.LevelDebug
		}
		attrs := make([]any, 0, 2*len(m))
		for k, v := range m {
			if strings.HasPrefix(k, "@") {
				if k == "@module" {
					attrs = append(attrs, "module", v)
				}
				continue
			}
			attrs = append(attrs, k, v)
		}
		w.l.Log(context.Background(), lvl, msg, attrs...)
	}
	return len(p), nil
}
