package remoting

import (
	"context"
	"log/slog"
)

// churn are protoactor's log messages for a peer going away. A CLI client
// exits right after its reply, so for a master they are routine, not errors.
var churn = map[string]bool{
	"EndpointWriter lost connection":       true,
	"EndpointReader failed to read":        true,
	"EndpointReader stream closed":         true,
	"EndpointReader is closing":            true,
	"EndpointWriter failed to SendMessage": true,
}

// LibraryHandler wraps the handler given to protoactor's logger so that its
// routine connection churn is logged at debug level instead of error.
func LibraryHandler(next slog.Handler) slog.Handler { return libHandler{next} }

type libHandler struct{ slog.Handler }

func (h libHandler) Handle(ctx context.Context, r slog.Record) error {
	if churn[r.Message] && r.Level > slog.LevelDebug {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return libHandler{h.Handler.WithAttrs(as)}
}
func (h libHandler) WithGroup(name string) slog.Handler { return libHandler{h.Handler.WithGroup(name)} }
