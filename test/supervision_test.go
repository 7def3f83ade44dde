package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func stringify(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// crash asks the debug endpoint to make the actor at path panic.
func crash(t *testing.T, m *master, path string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+m.debug+"/debug/actors/"+path+"/crash?reason=e2e", nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("crash %s: %d %s", path, resp.StatusCode, body)
	}
}

func TestCrashInjectionRestartsTheActor(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	for i := 1; i <= 3; i++ {
		crash(t, m, "master/botmaster/worker:linux-1")
		n := m.waitTree(fmt.Sprintf("restart %d", i), func(n *treeNode) bool {
			w := n.find("master/botmaster/worker:linux-1")
			return w != nil && w.Restarts == int64(i) && w.Status == "running"
		}).find("master/botmaster/worker:linux-1")
		if n.LastFailure == nil || !strings.Contains(n.LastFailure.Reason, "injected failure: e2e") || n.LastFailure.Time.IsZero() {
			t.Fatalf("last_failure = %+v", n.LastFailure)
		}
	}
	// The parent and siblings were untouched.
	root := m.tree()
	if bm := root.find("master/botmaster"); bm.Restarts != 0 || bm.LastFailure != nil {
		t.Fatalf("botmaster = %+v", bm)
	}
	if w := root.find("master/botmaster/worker:linux-2"); w.Restarts != 0 {
		t.Fatalf("sibling restarted: %+v", w)
	}
	// A service restarts with its children re-created from the live config.
	crash(t, m, "master/scheduler_manager")
	m.waitTree("scheduler_manager restarted", func(n *treeNode) bool {
		s := n.find("master/scheduler_manager")
		return s.Restarts == 1 && s.Status == "running" && len(s.Children) == 1
	})
	// Its child is spawned as it starts, and runs once it has taken its
	// own Started: a tree read in between shows it starting.
	m.waitTree("the scheduler re-created after its parent restarted, running", func(n *treeNode) bool {
		s := n.find("master/scheduler_manager/force")
		return s != nil && s.Status == "running"
	})
}

func TestFailureEscalatesPastTheRestartLimit(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig+"supervision: {max_restarts: 2, within: 60s}\n")
	path := "master/botmaster/builder:runtests"
	for i := 1; i <= 2; i++ {
		crash(t, m, path)
		m.waitTree(fmt.Sprintf("restart %d", i), func(n *treeNode) bool {
			b := n.find(path)
			return b != nil && b.Restarts == int64(i) && b.Status == "running"
		})
	}
	// The third failure within the window is one too many: botmaster itself
	// is restarted by master, and with it a fresh builder.
	crash(t, m, path)
	root := m.waitTree("botmaster restarted", func(n *treeNode) bool {
		bm := n.find("master/botmaster")
		b := n.find(path)
		return bm.Restarts == 1 && bm.Status == "running" && b != nil && b.Status == "running" && b.Restarts == 0
	})
	bm := root.find("master/botmaster")
	if bm.LastFailure == nil || !strings.Contains(bm.LastFailure.Reason, "failed more than 2 times") {
		t.Fatalf("botmaster's last failure = %+v", bm.LastFailure)
	}
	if len(bm.Children) != 5 {
		t.Fatalf("botmaster's children after its restart: %v", bm.childNames())
	}
	if r := root.find("master"); r.Restarts != 0 {
		t.Fatalf("master restarted: %+v", r)
	}
}
