package state

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

func setLines(logid uint64, n int64, lost ...int64) *messages.Command {
	ll := &messages.LogLines{Logid: logid, NumLines: n}
	for i := 0; i+1 < len(lost); i += 2 {
		ll.Lost = append(ll.Lost, &messages.LineRange{From: lost[i], To: lost[i+1]})
	}
	return cmd(&messages.SetLogLines{Logs: []*messages.LogLines{ll}})
}

// SetLogLines records a log's file: the count never goes down and lost
// lines add up, whatever order the records come in; it removes the log's
// rows in logchunks.
func TestSetLogLines(t *testing.T) {
	db := fixture(t)
	mustApply(t, db, appendLog(1, "a\nb\n"))
	mustApply(t, db, setLines(1, 10, 2, 4))
	mustApply(t, db, setLines(1, 6, 5, 6)) // older count: kept at 10; its lost lines add
	mustApply(t, db, setLines(1, 10, 4, 5, 8, 9))
	txn := db.Txn(false)
	l, _ := get[*messages.Log](txn, TableLogs, IndexID, uint64(1))
	if l.NumLines != 10 || len(l.Lost) != 2 || l.Lost[0].From != 2 || l.Lost[0].To != 6 || l.Lost[1].From != 8 || l.Lost[1].To != 9 {
		t.Errorf("log %v", l)
	}
	if LostLines(l) != 5 {
		t.Errorf("LostLines = %d, want 5", LostLines(l))
	}
	if raw, _ := txn.First(TableLogChunks, IndexID+"_prefix", uint64(1)); raw != nil {
		t.Errorf("logchunks row left: %v", raw)
	}
	for _, c := range []struct {
		cmd  *messages.Command
		want string
	}{
		{cmd(&messages.SetLogLines{}), "logs is empty"},
		{setLines(9, 1), "log 9 does not exist"},
		{setLines(1, -1), "num_lines -1 is negative"},
		{setLines(1, 10, 3, 2), "lost[0] is lines 3…1"},
		{setLines(1, 10, 0, 2, 1, 3), "lost[1] is lines 1…2"},
		{setLines(1, 10, 5, 11), "within the 10 lines"},
		{cmd(&messages.SetLogLines{Logs: []*messages.LogLines{{Logid: 1, NumLines: 10, Record: make([]byte, MaxLogRecordBytes+1)}}}),
			"record of 131073 bytes, limit 131072"},
	} {
		if _, err := apply(db, c.cmd); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.cmd, err, c.want)
		}
	}
}

// No id is given twice, even when Expire removed the rows with the
// largest ids: build 1's last step (and its log) is the newest step, and
// it goes with the build.
func TestExpireKeepsIDs(t *testing.T) {
	db := fixture(t) // build 1 on b1, step 1, log 1
	for _, c := range []*messages.Command{
		buildset(130, 1), claim(1, 131, 3), addBuild(1, 3, 1, 131), // build 2 on b1
		addStep(2, "compile", 132), // step 2
		addStep(1, "test", 133),    // step 3, the newest, in build 1
		addLog(3, "stdio"),         // log 2
		cmd(&messages.FinishBuild{Buildid: 1, Results: ResultSuccess, CompleteAt: 140}),
		cmd(&messages.Expire{Builds: []uint64{1}}),
	} {
		mustApply(t, db, c)
	}
	if res := mustApply(t, db, addStep(2, "again", 150)); res.Id != 4 {
		t.Errorf("step after expiry: id %d, want 4", res.Id)
	}
	if res := mustApply(t, db, addLog(2, "more")); res.Id != 3 {
		t.Errorf("log after expiry: id %d, want 3", res.Id)
	}
	txn := db.Txn(false)
	if f, _ := idFloor(txn, TableSteps); f != 3 {
		t.Errorf("steps' id floor %d, want 3", f)
	}
	if s, _ := get[*messages.Step](txn, TableSteps, IndexID, uint64(1)); s != nil {
		t.Errorf("step 1 of the expired build is still there: %v", s)
	}
}

// apply applies cmd in its own transaction, committed only when it succeeds.
func apply(db *memdb.MemDB, c *messages.Command) (*messages.CommandResult, error) {
	txn := db.Txn(true)
	res, err := Apply(txn, c)
	if err != nil {
		txn.Abort()
		return nil, err
	}
	txn.Commit()
	return res, nil
}
