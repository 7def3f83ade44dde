package msgpack

import "time"

// Settings are what set_worker_settings tells a worker about output
// buffering and line splitting; all four are required by Buildbot's worker.
type Settings struct {
	BufferSize    int64         // bytes of output the worker buffers before it sends an update
	BufferTimeout time.Duration // how long it buffers at most
	NewlineRE     string        // what ends a line besides \n
	MaxLineLength int64         // longer lines are split
}

// DefaultSettings are the values Buildbot's master sends.
func DefaultSettings() Settings {
	return Settings{
		BufferSize:    64 << 10,
		BufferTimeout: 5 * time.Second,
		NewlineRE:     `(\r\n|\r(?=.)|\033\[u|\033\[[0-9]+;[0-9]+[Hf]|\033\[2J|\x08+)`,
		MaxLineLength: 4096,
	}
}

func (s Settings) args() map[string]any {
	timeout := any(s.BufferTimeout.Seconds())
	if s.BufferTimeout%time.Second == 0 {
		timeout = int64(s.BufferTimeout / time.Second)
	}
	return map[string]any{
		"buffer_size":     s.BufferSize,
		"buffer_timeout":  timeout,
		"newline_re":      s.NewlineRE,
		"max_line_length": s.MaxLineLength,
	}
}

func settingsFrom(v any) (Settings, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Settings{}, answer(`message did not contain obligatory "args" key`)
	}
	var s Settings
	size, ok1 := asInt(m["buffer_size"])
	timeout, ok2 := asFloat(m["buffer_timeout"])
	re, ok3 := m["newline_re"].(string)
	line, ok4 := asInt(m["max_line_length"])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return s, answer("message did not contain obligatory settings for worker")
	}
	s.BufferSize, s.NewlineRE, s.MaxLineLength = size, re, line
	s.BufferTimeout = time.Duration(timeout * float64(time.Second))
	return s, nil
}
