package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// hub is the tests' /ws: the part of Buildbot's protocol live.js speaks
// (startConsuming, stopConsuming, ping; events {"k","m"}), over a real
// WebSocket, with Publish in place of the event bus (internal/mq), which
// lands separately.
type hub struct {
	mu    sync.Mutex
	conns map[*hubConn]bool
}

type hubConn struct {
	c     *websocket.Conn
	wmu   sync.Mutex
	mu    sync.Mutex
	paths map[string]bool
}

func newHub() *hub { return &hub{conns: map[*hubConn]bool{}} }

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	hc := &hubConn{c: c, paths: map[string]bool{}}
	h.mu.Lock()
	h.conns[hc] = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, hc)
		h.mu.Unlock()
		c.CloseNow()
	}()
	for {
		_, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		var m struct {
			Cmd  string          `json:"cmd"`
			Path string          `json:"path"`
			ID   json.RawMessage `json:"_id"`
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		reply := map[string]any{"msg": "OK", "code": 200, "_id": m.ID}
		hc.mu.Lock()
		switch m.Cmd {
		case "startConsuming":
			hc.paths[m.Path] = true
		case "stopConsuming":
			delete(hc.paths, m.Path)
		case "ping":
			reply["msg"] = "pong"
		}
		hc.mu.Unlock()
		hc.send(r.Context(), reply)
	}
}

func (hc *hubConn) send(ctx context.Context, v any) {
	b, _ := json.Marshal(v)
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	_ = hc.c.Write(ctx, websocket.MessageText, b)
}

// pathMatch is Buildbot's: same number of segments, * matching any one.
func pathMatch(pattern, key string) bool {
	p, k := strings.Split(pattern, "/"), strings.Split(key, "/")
	if len(p) != len(k) {
		return false
	}
	for i := range p {
		if p[i] != "*" && p[i] != k[i] {
			return false
		}
	}
	return true
}

// publish sends the event to every connection consuming a matching path.
func (h *hub) publish(key string, msg any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for hc := range h.conns {
		hc.mu.Lock()
		match := false
		for p := range hc.paths {
			match = match || pathMatch(p, key)
		}
		hc.mu.Unlock()
		if match {
			hc.send(context.Background(), map[string]any{"k": key, "m": msg})
		}
	}
}

// consuming reports whether some connection consumes path.
func (h *hub) consuming(path string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for hc := range h.conns {
		hc.mu.Lock()
		ok := hc.paths[path]
		hc.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

func (h *hub) waitConsuming(t *testing.T, path string) {
	t.Helper()
	testkit.Eventually(t, "a page consuming "+path, func() bool { return h.consuming(path) })
}
