package test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

const floodConfig = `
workers: [{name: w1, password: pw1}]
builders:
  - name: big
    workers: [w1]
    steps:
      - name: first
        shell: {script: 'seq 1 50000'}
      - name: flood
        shell: {script: 'seq 1 100000000'}
schedulers: [{name: force, type: force, builders: [big]}]
`

// stepLogRow is the one log of step of build 1 of big, as the data API
// shows it.
func (m *master) stepLogRow(step string) (row struct {
	NumLines int64 `json:"num_lines"`
	Complete bool
	Lost     []struct{ From, To int64 }
}) {
	m.t.Helper()
	_, body := m.wwwGet("/api/v2/builders/big/builds/1/steps/" + step + "/logs/stdio")
	var page struct {
		Logs []json.RawMessage
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Logs) != 1 {
		m.t.Fatalf("log of step %s: %v %s", step, err, body)
	}
	if err := json.Unmarshal(page.Logs[0], &row); err != nil {
		m.t.Fatal(err)
	}
	return row
}

// outLines is what a stdio log of step of build 1 of big holds, as
// /contents serves it: the lines of stdout (o) without their prefix, and
// the notes of lost lines; not the header lines (h) the worker adds.
func (m *master) outLines(step string) []string {
	m.t.Helper()
	_, body := m.wwwGet("/api/v2/builders/big/builds/1/steps/" + step + "/logs/stdio/contents")
	var page struct{ Logchunks []struct{ Content string } }
	if err := json.Unmarshal(body, &page); err != nil || len(page.Logchunks) != 1 {
		m.t.Fatalf("contents of step %s: %v %.300s", step, err, body)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(page.Logchunks[0].Content, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "o"):
			out = append(out, l[1:])
		case strings.HasPrefix(l, "h") && lostNoteLine.MatchString(l[1:]):
			out = append(out, l[1:])
		}
	}
	return out
}

var lostNoteLine = regexp.MustCompile(`^\[lines (\d+)…(\d+) of this log were lost\]$`)

// TestMasterKilledDuringABigLog: a master killed with SIGKILL while a step
// floods its log loses no line of the step that finished before it (its
// lines were synced before its finish was acknowledged); on restart the
// flooding step's log is finished with the lines its file holds, in
// order, undamaged, and what the state counted beyond them is marked lost.
func TestMasterKilledDuringABigLog(t *testing.T) {
	t.Parallel()
	m := startMaster(t, floodConfig)
	startWorker(t, m, "w1", "pw1")
	m.force("big")
	testkit.Eventually(t, "the flood step's row counts 200,000 lines", func() bool {
		code, body := m.wwwGet("/api/v2/builders/big/builds/1/steps/flood/logs/stdio")
		return code == 200 && regexp.MustCompile(`"num_lines":\d{6,}`).Match(body)
	})
	m.signal(syscall.SIGKILL)
	m.wait()
	m.start(binary)
	if b := m.waitBuild("big", 1); *b.Results != 5 {
		t.Fatalf("build after the kill: results %d, want RETRY (5)", *b.Results)
	}

	first := m.stepLogRow("first")
	got := m.outLines("first")
	if !first.Complete || len(first.Lost) != 0 || len(got) != 50000 {
		t.Fatalf("the finished step's log after the kill: %+v, %d lines", first, len(got))
	}
	for i, l := range got {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("the finished step's line %d after the kill: %q", i, l)
		}
	}

	flood := m.stepLogRow("flood")
	if !flood.Complete || flood.NumLines < 100000 {
		t.Fatalf("the flooding step's log after the kill: %+v", flood)
	}
	lines := m.outLines("flood")
	// The file's lines first: 1, 2, 3 … as seq printed them.
	held := 0
	for held < len(lines) && lines[held] == strconv.Itoa(held+1) {
		held++
	}
	if held < 1000 {
		t.Fatalf("the flooding step's file holds %d lines in order; line %d is %q", held, held, lines[held])
	}
	// Then, if the state counted more lines than the file held, a note
	// for them, lines From … NumLines-1, as the row's one lost range says.
	switch rest := lines[held:]; {
	case len(rest) == 0 && len(flood.Lost) == 0:
	case len(rest) == 1 && len(flood.Lost) == 1 && flood.Lost[0].To == flood.NumLines &&
		rest[0] == fmt.Sprintf("[lines %d…%d of this log were lost]", flood.Lost[0].From, flood.NumLines-1):
	default:
		t.Fatalf("the flooding step's log: %d lines in order, then %d more starting %q; its row %+v", held, len(rest), rest[:min(3, len(rest))], flood)
	}
}
