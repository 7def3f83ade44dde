//go:build !linux

package hugeheap

import "log/slog"

// Prepare does nothing: transparent huge pages are Linux's.
func Prepare(size int64, log *slog.Logger) {}
