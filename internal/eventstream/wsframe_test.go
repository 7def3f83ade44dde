package eventstream

import (
	"fmt"
	"strings"
	"testing"
)

// The frames the server writes itself are read by an independent client
// (the WebSocket library's) at each payload length where the header
// changes form.
func TestTextFrameLengths(t *testing.T) {
	ts := start(t, Options{})
	c := ts.dial(t, nil)
	c.call(`{"cmd":"startConsuming","path":"builds/*/*","_id":1}`)
	frameOf := func(body string) string { return `{"k":"builds/1/new","m":` + body + `}` }
	overhead := len(frameOf(`""`))
	for _, n := range []int{0, 125, 126, 127, 0xffff, 0x10000, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			body := `"` + strings.Repeat("x", max(n-overhead, 0)) + `"`
			want := frameOf(body)
			if n >= overhead && len(want) != n {
				t.Fatalf("payload of %d bytes, want %d", len(want), n)
			}
			ts.publish(t, "builds/1/new", "", body)
			if got := c.recv(); got != want {
				t.Fatalf("got %d bytes %.40q…, want %d", len(got), got, len(want))
			}
		})
	}
}
