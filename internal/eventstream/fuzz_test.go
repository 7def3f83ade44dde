package eventstream

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// FuzzFrame runs any client frame through a session (the decoder and the
// commands) on a real bus: it never panics, and every answer is one valid
// UTF-8 JSON object with a code and an _id.
func FuzzFrame(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"ping","_id":1}`,
		`{"cmd":"startConsuming","path":"builds/*/*","_id":2}`,
		`{"cmd":"stopConsuming","path":"builds/*/*","_id":"x"}`,
		`{"cmd":"startConsuming","path":["a"],"_id":{"a":[1,2]}}`,
		`{"cmd":"startConsuming","path":"a","b":1,"_id":3}`,
		`{"type":"start","_id":4}`,
		`{"_id":null}`, `[1]`, `null`, `"x"`, `{`, "\xff", `{"cmd":5,"_id":1e999}`,
		`{"cmd":"startConsuming","path":"x/\u00e9","_id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		bus := mq.New()
		sub := bus.Subscribe(t.Context(), 1)
		sess := newSession(sub, allowAll{}, 2)
		for range 2 { // twice: the second sees the state the first left
			answer := sess.handle(frame)
			if !utf8.Valid(answer) {
				t.Fatalf("answer to %q is not UTF-8: %q", frame, answer)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(answer, &m); err != nil {
				t.Fatalf("answer to %q is not a JSON object: %q: %v", frame, answer, err)
			}
			if _, ok := m["code"]; !ok {
				t.Fatalf("answer to %q has no code: %s", frame, answer)
			}
			if _, ok := m["_id"]; !ok {
				t.Fatalf("answer to %q has no _id: %s", frame, answer)
			}
		}
		if got := sub.Len(); got != len(sess.paths) {
			t.Fatalf("subscription has %d filters, session %d paths", got, len(sess.paths))
		}
	})
}
