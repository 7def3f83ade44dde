package eventstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestWebSocketTranscripts plays each testdata/ws/*.txt against a real
// server through a real WebSocket client and compares the transcript,
// with every frame the server sent (lines "< "), to the .golden file
// next to it. Script lines:
//
//	> FRAME                         send FRAME, read up to its answer
//	publish KEY [class=C] BODY      publish on the bus
//	connect [USER]                  reconnect, as USER (header X-Test-User)
//	# …                             a comment, copied
//
// The servers allow 3 paths per connection; user bob may not consume
// builders/1/… nor receive class builders/1.
func TestWebSocketTranscripts(t *testing.T) {
	scripts, err := filepath.Glob("testdata/ws/*.txt")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, script := range scripts {
		t.Run(strings.TrimSuffix(filepath.Base(script), ".txt"), func(t *testing.T) {
			in, err := os.ReadFile(script)
			if err != nil {
				t.Fatal(err)
			}
			ts := start(t, Options{
				Limits:     Limits{MaxSubscriptions: 3},
				Authorizer: &testAuthz{noPaths: []string{"builders/1/"}, noClasses: map[string]bool{"builders/1": true}},
			})
			var out strings.Builder
			c := ts.dial(t, nil)
			for _, line := range strings.Split(strings.TrimSuffix(string(in), "\n"), "\n") {
				out.WriteString(line + "\n")
				switch {
				case strings.HasPrefix(line, "> "):
					for _, f := range c.call(strings.TrimPrefix(line, "> ")) {
						out.WriteString("< " + f + "\n")
					}
				case strings.HasPrefix(line, "publish "):
					f := strings.SplitN(strings.TrimPrefix(line, "publish "), " ", 2)
					class := ""
					if rest, ok := strings.CutPrefix(f[1], "class="); ok {
						class, f[1], _ = strings.Cut(rest, " ")
					}
					ts.publish(t, f[0], class, f[1])
				case line == "connect" || strings.HasPrefix(line, "connect "):
					c.c.CloseNow()
					c = ts.dial(t, user(strings.TrimPrefix(strings.TrimPrefix(line, "connect"), " ")))
				case line == "" || strings.HasPrefix(line, "#"):
				default:
					t.Fatalf("%s: bad script line %q", script, line)
				}
			}
			testkit.Golden(t, strings.TrimSuffix(script, ".txt")+".golden", []byte(out.String()))
		})
	}
}
