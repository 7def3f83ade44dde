package remoting

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLibraryHandlerDemotesConnectionChurn(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(LibraryHandler(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.Error("EndpointWriter lost connection", "address", "127.0.0.1:1")
	log.Error("something else broke")
	if out := b.String(); strings.Contains(out, "lost connection") || !strings.Contains(out, "something else broke") {
		t.Fatalf("output:\n%s", out)
	}
}
