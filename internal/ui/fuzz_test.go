package ui

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"testing"
)

var spanTag = regexp.MustCompile(`<span class="[a-z0-9 ]+">|</span>`)

// FuzzANSI: any log line renders to text and balanced spans only: nothing
// of the line can open a tag or an attribute.
func FuzzANSI(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[1;31mred\x1b[0m", "\x1b[38;5;208m\x1b[48;2;1;2;3mx", "\x1b]8;;u\x1b\\l", "a\rb\r", "<script>&", "\x1b[", "\x1b[38;5", "\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var buf bytes.Buffer
		st := plain
		writeANSI(&buf, line, &st)
		out := buf.Bytes()
		opens, closes := bytes.Count(out, []byte("<span")), bytes.Count(out, []byte("</span>"))
		if opens != closes {
			t.Fatalf("%q → %q: %d spans opened, %d closed", line, out, opens, closes)
		}
		if rest := spanTag.ReplaceAll(out, nil); bytes.ContainsAny(rest, `<>"`) {
			t.Fatalf("%q → %q: markup outside the spans", line, out)
		}
	})
}

// FuzzRPC: any body posted to a control endpoint gets a JSON-RPC answer,
// never a crash.
func FuzzRPC(f *testing.F) {
	fx := newFixture(f)
	u := newUI(f, fx.store, newRecorder())
	for _, s := range []string{`{"jsonrpc":"2.0","method":"stop","params":{"reason":"x"},"id":1}`, `{"jsonrpc":"2.0","method":"force","params":{"builderNames":[1,{}],"builderid":"x"}}`,
		`{"jsonrpc":"2.0","method":"enable","params":{"enabled":"yes"}}`, `[]`, `{"jsonrpc":"2.0","method":"force","params":{"reason":7}}`, ``} {
		f.Add("builds", "4", s)
		f.Add("forceschedulers", "force", s)
		f.Add("schedulers", "2", s)
	}
	f.Fuzz(func(t *testing.T, resource, id, body string) {
		rec := newRecorder()
		u.opts.Control = rec
		res := post(u, "/api/v2/"+url.PathEscape(resource)+"/"+url.PathEscape(id), "application/json", body, "Origin", "http://example.com")
		if res.Header().Get("Content-Type") != "application/json" && res.Code >= 300 && res.Code < 500 {
			return // the mux's answer to a path the route does not match ("." or an empty segment)
		}
		var out map[string]any
		if err := json.Unmarshal(res.Body.Bytes(), &out); err != nil || out["jsonrpc"] != "2.0" {
			t.Fatalf("%s/%s %q: %d %q", resource, id, body, res.Code, res.Body)
		}
	})
}
