package msgpack

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// TestUpgradeAuth checks Authorization at the upgrade as Buildbot does,
// with a real WebSocket handshake on a real socket.
func TestUpgradeAuth(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name   string
		header string // "" sends none
		want   int
		result string // what the LoginObserver hears, "" for nothing
	}{
		{"no header", "", http.StatusUnauthorized, ""},
		{"not Basic", "Bearer abc", http.StatusBadRequest, ":fail"},
		{"bad base64", "Basic !!!", http.StatusBadRequest, ":fail"},
		{"no colon", "Basic " + b64([]byte("w1")), http.StatusBadRequest, ":fail"},
		{"unknown worker", basic("w9", "pa:ss"), http.StatusUnauthorized, "w9:fail"},
		{"wrong password", basic("w1", "pa:sS"), http.StatusUnauthorized, "w1:fail"},
		{"password prefix", basic("w1", "pa"), http.StatusUnauthorized, "w1:fail"},
		{"another's password", basic("w1", "secret2"), http.StatusUnauthorized, "w1:fail"},
		{"right", basic("w1", "pa:ss"), http.StatusSwitchingProtocols, "w1:ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(m.auth.Results())
			h := http.Header{}
			if tt.header != "" {
				h.Set("Authorization", tt.header)
			}
			ws, resp, err := websocket.Dial(testCtx(t), m.url, &websocket.DialOptions{HTTPHeader: h})
			if ws != nil {
				ws.CloseNow()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			got := m.auth.Results()[before:]
			var want []string
			if tt.result != "" {
				want = []string{tt.result}
			}
			if len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
				t.Errorf("LoginObserver heard %v, want %v", got, want)
			}
		})
	}
	for _, secret := range []string{"pa:ss", "pa:sS", "secret2"} {
		if strings.Contains(m.logs.String(), secret) {
			t.Errorf("a password (%q) is in the log", secret)
		}
	}
}

func TestRateLimited(t *testing.T) {
	m := startMaster(t, ServerOptions{}, func(s *Server) { s.auth.(*testAuth).limited = true })
	_, resp, _ := websocket.Dial(testCtx(t), m.url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {basic("w1", "pa:ss")}}})
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("response %v, want 429", resp)
	}
	if got := resp.Header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After: %q, want 7", got)
	}
	_, err := Dial(testCtx(t), m.url, "w1", "pa:ss", newGoWorker(), DialOptions{})
	if !errors.Is(err, wire.ErrRateLimited) {
		t.Errorf("Dial = %v, want ErrRateLimited", err)
	}
	if wait, ok := wire.RetryAfter(err); !ok || wait != limitedFor {
		t.Errorf("RetryAfter(Dial's error) = %s, %v; want %s", wait, ok, limitedFor)
	}
}

// TestDialRetryAfter: Dial's error for a 429 carries its Retry-After when
// it is a whole number of seconds that fits 32 bits, and is still
// ErrRateLimited when it is not.
func TestDialRetryAfter(t *testing.T) {
	for header, want := range map[string]time.Duration{"7": 7 * time.Second, "0": 0, "4294967295": 4294967295 * time.Second,
		"": -1, "soon": -1, "-1": -1, "1.5": -1, "4294967296": -1, "Wed, 21 Oct 2026 07:28:00 GMT": -1} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if header != "" {
				w.Header().Set("Retry-After", header)
			}
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}))
		_, err := Dial(testCtx(t), "ws://"+srv.Listener.Addr().String(), "w1", "pa:ss", newGoWorker(), DialOptions{})
		srv.Close()
		if !errors.Is(err, wire.ErrRateLimited) {
			t.Errorf("Retry-After %q: Dial = %v, want ErrRateLimited", header, err)
		}
		wait, ok := wire.RetryAfter(err)
		if want < 0 && ok || want >= 0 && (!ok || wait != want) {
			t.Errorf("Retry-After %q: RetryAfter = %s, %v; want %s", header, wait, ok, want)
		}
	}
}

func TestDialRefused(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	_, err := Dial(testCtx(t), m.url, "w1", "nope", newGoWorker(), DialOptions{})
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Dial = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "nope") {
		t.Errorf("the password is in the error: %v", err)
	}
	for _, tt := range []struct{ url, name, want string }{
		{m.url, "a:b", "may not hold a colon"},
		{"http://" + m.addr, "w1", `scheme "http", want ws or wss`},
	} {
		if _, err := Dial(testCtx(t), tt.url, tt.name, "p", newGoWorker(), DialOptions{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Dial(%s, %s) = %v, want %q", tt.url, tt.name, err, tt.want)
		}
	}
	if _, err := Dial(testCtx(t), m.url, "w1", "pa:ss", newGoWorker(), DialOptions{CAFile: "ca.pem"}); err == nil || !strings.Contains(err.Error(), "use wss://") {
		t.Errorf("Dial with a CA file over ws:// = %v", err)
	}
}
