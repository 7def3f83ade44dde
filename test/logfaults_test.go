package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// outLines is what the stdio log of step of build n of big holds, as
// /contents serves it: the lines of stdout (o) without their prefix, and
// the notes of lost lines; not the header lines (h) the worker adds.
func (m *master) outLines(n int, step string) []string {
	m.t.Helper()
	_, body := m.wwwGet(fmt.Sprintf("/api/v2/builders/big/builds/%d/steps/%s/logs/stdio/contents", n, step))
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
	got := m.outLines(1, "first")
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
	lines := m.outLines(1, "flood")
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

// logOf returns the id of the stdio log of step of build n of big.
func (m *master) logOf(n int, step string) uint64 {
	m.t.Helper()
	_, body := m.wwwGet(fmt.Sprintf("/api/v2/builders/big/builds/%d/steps/%s/logs/stdio", n, step))
	var page struct{ Logs []struct{ Logid uint64 } }
	if err := json.Unmarshal(body, &page); err != nil || len(page.Logs) != 1 {
		m.t.Fatalf("log of %s in build %d: %v %s", step, n, err, body)
	}
	return page.Logs[0].Logid
}

// logFile is the file of log logid (internal/logchunk's layout).
func (m *master) logFile(logid uint64) string {
	return filepath.Join(m.dir, "data", "logs", strconv.FormatUint(logid>>24, 16), fmt.Sprintf("%03x", (logid>>12)&0xfff), fmt.Sprintf("%d.log", logid))
}

// TestDamagedLogFiles: the files of two finished logs are damaged on disk,
// one with a byte flipped in its middle, one cut inside its last chunk. Reading them serves
// every line they still hold, in place, and a note for the others, which
// the log's row then marks lost; a restarted master starts and serves them
// the same.
func TestDamagedLogFiles(t *testing.T) {
	t.Parallel()
	m := newMaster(t, strings.Replace(floodConfig, "seq 1 100000000", "true", 1))
	m.start(binary)
	startWorker(t, m, "w1", "pw1")
	for n := 1; n <= 2; n++ {
		m.force("big")
		m.waitBuild("big", n)
	}
	flipped, cut := m.logOf(1, "first"), m.logOf(2, "first")
	data, err := os.ReadFile(m.logFile(flipped))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(m.logFile(flipped), data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(m.logFile(cut))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(m.logFile(cut), fi.Size()-100); err != nil { // inside its last chunk
		t.Fatal(err)
	}

	// served: the lines 1, 2, 3 … the file still holds, in place, and one
	// note or more for the others; the row marks them lost.
	served := func(build int, logid uint64) {
		t.Helper()
		prev, held, notes, afterNote := 0, 0, 0, false
		for _, l := range m.outLines(build, "first") {
			if lostNoteLine.MatchString(l) {
				notes, afterNote = notes+1, true
				continue
			}
			n, err := strconv.Atoi(l)
			if err != nil || (afterNote && n <= prev) || (!afterNote && n != prev+1) {
				t.Fatalf("build %d: line %q after %d", build, l, prev)
			}
			prev, held, afterNote = n, held+1, false
		}
		if notes == 0 || held == 0 {
			t.Fatalf("build %d: %d lines held, %d notes of lost lines", build, held, notes)
		}
		m.waitAPI(fmt.Sprintf("/api/v2/logs/%d", logid), `"lost":[{"from":`)
	}
	served(1, flipped)
	served(2, cut)
	m.signal(syscall.SIGTERM)
	m.wait()
	m.start(binary)
	served(1, flipped)
	served(2, cut)
}
