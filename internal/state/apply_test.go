package state

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/messages"
)

func addChange(c *messages.Change) *messages.Command {
	return &messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: c}}}
}
func masterStarted(id uint64, name string, t int64) *messages.Command {
	return &messages.Command{Kind: &messages.Command_MasterStarted{MasterStarted: &messages.MasterStarted{Masterid: id, Name: name, Time: t}}}
}
func builder(name string) *messages.Command {
	return &messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{Name: name}}}
}
func buildset(at int64, builderids ...uint64) *messages.Command {
	return &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
		Reason: "test", SubmittedAt: at, Builderids: builderids,
		Properties: []*messages.Property{{Name: "p", ValueJson: `"v"`, Source: "test"}}}}}
}
func claim(master uint64, at int64, brids ...uint64) *messages.Command {
	return &messages.Command{Kind: &messages.Command_ClaimBuildRequests{ClaimBuildRequests: &messages.ClaimBuildRequests{Masterid: master, ClaimedAt: at, Brids: brids}}}
}
func addBuild(builderid, brid, master uint64, at int64) *messages.Command {
	return &messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{Builderid: builderid, Buildrequestid: brid, Masterid: master, StartedAt: at, StateString: "building"}}}
}
func addStep(buildid uint64, name string, at int64) *messages.Command {
	return &messages.Command{Kind: &messages.Command_AddStep{AddStep: &messages.AddStep{Buildid: buildid, Name: name, StartedAt: at}}}
}
func addLog(stepid uint64, slug string) *messages.Command {
	return &messages.Command{Kind: &messages.Command_AddLog{AddLog: &messages.AddLog{Stepid: stepid, Name: slug, Slug: slug, Type: "s"}}}
}
func appendLog(logid uint64, content string) *messages.Command {
	return &messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{Logid: logid, Content: content}}}
}

// cmd wraps k, one of the commands, in a Command.
func cmd(k proto.Message) *messages.Command {
	c := &messages.Command{}
	m := c.ProtoReflect()
	fields := m.Descriptor().Oneofs().ByName("kind").Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); fd.Message().FullName() == k.ProtoReflect().Descriptor().FullName() {
			m.Set(fd, protoreflect.ValueOfMessage(k.ProtoReflect()))
			return c
		}
	}
	panic(fmt.Sprintf("cmd: %T is not a command", k))
}

func change(author, branch string, when int64) *messages.Change {
	return &messages.Change{Author: author, Branch: branch, WhenTimestamp: when, Repository: "git://r", Project: "p",
		Revision: "rev-" + author, Comments: "c", Files: []string{"a.go"},
		Properties: []*messages.Property{{Name: "k", ValueJson: `1`, Source: "Change"}}}
}

func mustApply(t testing.TB, db *memdb.MemDB, cmd *messages.Command) *messages.CommandResult {
	t.Helper()
	txn := db.Txn(true)
	res, err := Apply(txn, cmd)
	if err != nil {
		txn.Abort()
		t.Fatalf("apply %v: %v", cmd, err)
	}
	txn.Commit()
	return res
}

func dump(t testing.TB, db *memdb.MemDB) string {
	t.Helper()
	var b bytes.Buffer
	if err := Dump(&b, db.Txn(false)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func newDB(t testing.TB) *memdb.MemDB {
	db, err := NewDB()
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// fixture: master 1, builder 1 and 2, change 1 (ss 1), buildset 1 with requests 1 (b1), 2 (b2),
// request 1 claimed by master 1, build 1 on builder 1, step 1, log 1.
func fixture(t testing.TB) *memdb.MemDB {
	db := newDB(t)
	for _, c := range fixtureCommands() {
		mustApply(t, db, c)
	}
	return db
}

// fixtureCommands are the commands that write fixture.
func fixtureCommands() []*messages.Command {
	return []*messages.Command{
		masterStarted(0, "m1", 100), builder("b1"), builder("b2"),
		addChange(change("alice", "main", 100)), buildset(110, 1, 2), claim(1, 120, 1),
		addBuild(1, 1, 1, 121), addStep(1, "compile", 122), addLog(1, "stdio"),
	}
}

func TestApply(t *testing.T) {
	big := strings.Repeat("x", MaxCommentsBytes+1)
	manyFiles := make([]string, MaxFiles+1)
	for i := range manyFiles {
		manyFiles[i] = "f"
	}
	tests := []struct {
		name    string
		cmd     *messages.Command
		wantErr string // substring; "" means success
		check   func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn)
	}{
		{name: "add change", cmd: addChange(change("bob", "main", 200)), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 2 {
				t.Fatalf("changeid %d, want 2", res.Id)
			}
			c, _ := get[*messages.Change](txn, TableChanges, IndexID, uint64(2))
			if c.Author != "bob" || c.Sourcestampid != 2 || len(c.ParentChangeids) != 1 || c.ParentChangeids[0] != 1 {
				t.Fatalf("change %v", c)
			}
			ss, _ := get[*messages.SourceStamp](txn, TableSourceStamps, IndexID, uint64(2))
			if ss == nil || ss.Revision != "rev-bob" || ss.CreatedAt != 200 {
				t.Fatalf("sourcestamp %v", ss)
			}
		}},
		{name: "add change same sourcestamp", cmd: addChange(change("alice", "main", 300)), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Sourcestampid != 1 {
				t.Fatalf("sourcestamp %d, want 1 (same hash)", res.Sourcestampid)
			}
		}},
		{name: "add change other branch no parent", cmd: addChange(change("carol", "dev", 300)), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			c, _ := get[*messages.Change](txn, TableChanges, IndexID, res.Id)
			if len(c.ParentChangeids) != 0 {
				t.Fatalf("parents %v", c.ParentChangeids)
			}
		}},
		{name: "change no author", cmd: addChange(&messages.Change{WhenTimestamp: 1}), wantErr: "change.author is required"},
		{name: "change no time", cmd: addChange(&messages.Change{Author: "a"}), wantErr: "when_timestamp"},
		{name: "change missing", cmd: &messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{}}}, wantErr: "change is missing"},
		{name: "change with id", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Changeid: 5}), wantErr: "assigned by the database"},
		{name: "comments too big", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Comments: big}), wantErr: "change.comments is 65537 bytes, limit 65536"},
		{name: "too many files", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Files: manyFiles}), wantErr: "change.files has 10001 files"},
		{name: "file name too long", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Files: []string{"a", strings.Repeat("f", MaxFileNameBytes+1)}}), wantErr: "change.files[1]"},
		{name: "property too big", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Properties: []*messages.Property{{Name: "big", ValueJson: `"` + strings.Repeat("v", MaxPropertyValueBytes) + `"`}}}), wantErr: `change.properties[0] ("big").value_json is 65538 bytes`},
		{name: "property bad json", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Properties: []*messages.Property{{Name: "j", ValueJson: `{`}}}), wantErr: "not valid JSON"},
		{name: "property twice", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Properties: []*messages.Property{{Name: "j", ValueJson: `1`}, {Name: "j", ValueJson: `2`}}}), wantErr: "given twice"},
		{name: "branch too long", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Branch: strings.Repeat("b", MaxFieldBytes+1)}), wantErr: "change.branch is 4097 bytes"},
		{name: "unknown parent", cmd: addChange(&messages.Change{Author: "a", WhenTimestamp: 1, ParentChangeids: []uint64{99}}), wantErr: "change 99 does not exist"},
		{name: "empty command", cmd: &messages.Command{}, wantErr: "no command kind"},
		{name: "nil command", cmd: nil, wantErr: "nil command"},
		{name: "master started by id", cmd: masterStarted(1, "", 500), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 1 || res.BuildsRetried != 1 || res.RequestsUnclaimed != 1 {
				t.Fatalf("result %v", res)
			}
		}},
		{name: "master started new name", cmd: masterStarted(0, "m2", 500), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 2 || res.BuildsRetried != 0 {
				t.Fatalf("result %v", res)
			}
		}},
		{name: "master started unknown id", cmd: masterStarted(7, "", 500), wantErr: "master 7 does not exist"},
		{name: "master started wrong name", cmd: masterStarted(1, "other", 500), wantErr: `named "m1"`},
		{name: "master started no time", cmd: masterStarted(1, "", 0), wantErr: "time is required"},
		{name: "master started nothing", cmd: masterStarted(0, "", 5), wantErr: "masterid or name is required"},
		{name: "builder existing", cmd: builder("b2"), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 2 {
				t.Fatalf("id %d", res.Id)
			}
		}},
		{name: "builder new", cmd: builder("b3"), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 3 {
				t.Fatalf("id %d", res.Id)
			}
		}},
		{name: "builder no name", cmd: builder(""), wantErr: "name is required"},
		{name: "buildset", cmd: buildset(130, 2, 1), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 2 || len(res.Ids) != 2 || res.Ids[0] != 3 || res.Ids[1] != 4 {
				t.Fatalf("result %v", res)
			}
			rs, _ := collect[*messages.BuildRequest](txn.Get(TableBuildRequests, IndexBuildset, uint64(2)))
			if len(rs) != 2 {
				t.Fatalf("requests by buildset: %d", len(rs))
			}
		}},
		{name: "buildset unknown builder", cmd: buildset(130, 1, 9), wantErr: "builderids[1]: builder 9 does not exist"},
		{name: "buildset no builders", cmd: buildset(130), wantErr: "builderids and builder_names are empty"},
		{name: "buildset no time", cmd: buildset(0, 1), wantErr: "submitted_at is required"},
		{name: "claim", cmd: claim(1, 130, 2), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			r, _ := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, uint64(2))
			if r.Claim == nil || r.Claim.Masterid != 1 {
				t.Fatalf("claim %v", r)
			}
		}},
		{name: "claim already claimed is atomic", cmd: claim(1, 130, 2, 1), wantErr: "build request 1 is already claimed by master 1"},
		{name: "claim unknown", cmd: claim(1, 130, 42), wantErr: "build request 42 does not exist"},
		{name: "claim twice in list", cmd: claim(1, 130, 2, 2), wantErr: "listed twice"},
		{name: "claim unknown master", cmd: claim(5, 130, 2), wantErr: "master 5 does not exist"},
		{name: "build", cmd: addBuild(1, 0, 1, 140), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 2 || res.Number != 2 {
				t.Fatalf("result %v", res)
			}
		}},
		{name: "build first on builder", cmd: addBuild(2, 2, 1, 140), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Number != 1 {
				t.Fatalf("result %v", res)
			}
		}},
		{name: "build unknown builder", cmd: addBuild(9, 0, 1, 140), wantErr: "builder 9 does not exist"},
		{name: "build unknown request", cmd: addBuild(1, 9, 1, 140), wantErr: "build request 9 does not exist"},
		{name: "step", cmd: addStep(1, "test", 150), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if res.Id != 2 || res.Number != 1 {
				t.Fatalf("result %v", res)
			}
		}},
		{name: "step name too long", cmd: addStep(1, strings.Repeat("s", 51), 150), wantErr: "limit 50"},
		{name: "step unknown build", cmd: addStep(8, "x", 150), wantErr: "build 8 does not exist"},
		{name: "log", cmd: addLog(1, "other"), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			ls, _ := collect[*messages.Log](txn.Get(TableLogs, IndexStep, uint64(1)))
			if res.Id != 2 || len(ls) != 2 {
				t.Fatalf("result %v, logs %v", res, ls)
			}
		}},
		{name: "log same slug", cmd: addLog(1, "stdio"), wantErr: `slug "stdio"`},
		{name: "log bad type", cmd: &messages.Command{Kind: &messages.Command_AddLog{AddLog: &messages.AddLog{Stepid: 1, Name: "n", Slug: "n", Type: "x"}}}, wantErr: "not one of s, t, h"},
		{name: "append log", cmd: appendLog(1, "a\nb\nc"), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			l, _ := get[*messages.Log](txn, TableLogs, IndexID, uint64(1))
			ch, _ := get[*messages.LogChunk](txn, TableLogChunks, IndexID, uint64(1), int64(0))
			if l.NumLines != 3 || ch == nil || ch.LastLine != 2 || string(ch.Content) != "a\nb\nc\n" {
				t.Fatalf("log %v chunk %v", l, ch)
			}
		}},
		{name: "append log too big", cmd: appendLog(1, strings.Repeat("l", MaxLogAppendBytes+1)), wantErr: "content is 65537 bytes"},
		{name: "append log unknown", cmd: appendLog(3, "x"), wantErr: "log 3 does not exist"},
		{name: "buildset by builder names and sourcestamp fields", cmd: &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
			Reason: "force", SubmittedAt: 500, BuilderNames: []string{"b2", "new-builder"},
			Sourcestamps: []*messages.SourceStamp{{Branch: "main", Revision: "rev-alice", Repository: "git://r", Project: "p"}, {Branch: "x"}}}}},
			check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
				bs, _ := get[*messages.Buildset](txn, TableBuildsets, IndexID, res.Id)
				// The first sourcestamp is change 1's (same fields); the second is new.
				if len(bs.SourcestampIds) != 2 || bs.SourcestampIds[0] != 1 || bs.SourcestampIds[1] != 2 {
					t.Fatalf("buildset %v", bs)
				}
				ss, _ := get[*messages.SourceStamp](txn, TableSourceStamps, IndexID, uint64(2))
				if ss.Branch != "x" || ss.CreatedAt != 500 {
					t.Fatalf("sourcestamp %v", ss)
				}
				b, _ := get[*messages.Builder](txn, TableBuilders, IndexName, "new-builder")
				r, _ := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, res.Ids[1])
				if b == nil || b.Id != 3 || len(res.Ids) != 2 || r.Builderid != 3 {
					t.Fatalf("builder %v, requests %v", b, res.Ids)
				}
			}},
		{name: "buildset empty builder name", cmd: &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
			SubmittedAt: 1, BuilderNames: []string{"b1", ""}}}}, wantErr: "builder_names[1] is empty"},
		{name: "finish log unknown", cmd: cmd(&messages.FinishLog{Logid: 9}), wantErr: "log 9 does not exist"},
		{name: "finish step bad results", cmd: cmd(&messages.FinishStep{Stepid: 1, Results: 7, CompleteAt: 1}), wantErr: "results 7 is not a result code"},
		{name: "finish step no time", cmd: cmd(&messages.FinishStep{Stepid: 1}), wantErr: "complete_at is required"},
		{name: "finish step unknown", cmd: cmd(&messages.FinishStep{Stepid: 5, CompleteAt: 1}), wantErr: "step 5 does not exist"},
		{name: "add build with worker name and properties", cmd: &messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
			Builderid: 1, Masterid: 1, StartedAt: 300, WorkerName: "w9", Properties: []*messages.Property{{Name: "x", ValueJson: `"y"`, Source: "t"}}}}},
			check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
				b, _ := get[*messages.Build](txn, TableBuilds, IndexID, res.Id)
				w, _ := get[*messages.Worker](txn, TableWorkers, IndexName, "w9")
				if w == nil || b.Workerid != w.Id || b.Number != 2 || len(b.Properties) != 2 || b.Properties[1].ValueJson != "2" {
					t.Fatalf("build %v, worker %v", b, w)
				}
			}},
		{name: "add step with its logs", cmd: &messages.Command{Kind: &messages.Command_AddStep{AddStep: &messages.AddStep{
			Buildid: 1, Name: "test", StartedAt: 300, LogNames: []string{"stdio", "junit"}}}},
			check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
				l, _ := get[*messages.Log](txn, TableLogs, IndexID, res.Ids[1])
				if len(res.Ids) != 2 || l.Slug != "junit" || l.Stepid != res.Id {
					t.Fatalf("result %v, log %v", res, l)
				}
			}},
		{name: "add step with a log twice", cmd: &messages.Command{Kind: &messages.Command_AddStep{AddStep: &messages.AddStep{
			Buildid: 1, Name: "test", StartedAt: 300, LogNames: []string{"stdio", "stdio"}}}}, wantErr: `already has a log with slug "stdio"`},
		{name: "finish step with its last lines", cmd: cmd(&messages.FinishStep{Stepid: 1, CompleteAt: 200, Append: &messages.AppendLog{Logid: 1, Content: "olast\n"}}),
			check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
				l, _ := get[*messages.Log](txn, TableLogs, IndexID, uint64(1))
				if !l.Complete || l.NumLines != 1 {
					t.Fatalf("log %v", l)
				}
			}},
		{name: "finish step appending to another step's log", cmd: cmd(&messages.FinishStep{Stepid: 1, CompleteAt: 200, Append: &messages.AppendLog{Logid: 7, Content: "x"}}),
			wantErr: "append: log 7 is not a log of step 1"},
		{name: "finish build ends its requests", cmd: cmd(&messages.FinishBuild{Buildid: 1, Results: ResultFailure, CompleteAt: 200, Brids: []uint64{1}}),
			check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
				r, _ := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, uint64(1))
				b, _ := get[*messages.Build](txn, TableBuilds, IndexID, uint64(1))
				if !r.Complete || r.GetResults() != ResultFailure || r.Claim != nil || b.GetResults() != ResultFailure {
					t.Fatalf("request %v, build %v", r, b)
				}
			}},
		{name: "finish build RETRY unclaims", cmd: cmd(&messages.FinishBuild{Buildid: 1, Results: ResultRetry, CompleteAt: 200, Brids: []uint64{1}}),
			check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
				r, _ := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, uint64(1))
				if r.Complete || r.Claim != nil || res.RequestsUnclaimed != 1 {
					t.Fatalf("request %v", r)
				}
			}},
		{name: "finish build unknown request", cmd: cmd(&messages.FinishBuild{Buildid: 1, CompleteAt: 200, Brids: []uint64{9}}), wantErr: "build request 9 does not exist"},
		{name: "finish build unknown", cmd: cmd(&messages.FinishBuild{Buildid: 5, CompleteAt: 1}), wantErr: "build 5 does not exist"},
		{name: "finish build negative results", cmd: cmd(&messages.FinishBuild{Buildid: 1, Results: -1, CompleteAt: 1}), wantErr: "results -1"},
		{name: "complete requests empty", cmd: cmd(&messages.CompleteBuildRequests{CompleteAt: 1}), wantErr: "brids is empty"},
		{name: "complete requests unknown", cmd: cmd(&messages.CompleteBuildRequests{Brids: []uint64{1, 9}, CompleteAt: 1}), wantErr: "brids[1]: build request 9 does not exist"},
		{name: "complete requests twice", cmd: cmd(&messages.CompleteBuildRequests{Brids: []uint64{2, 2}, CompleteAt: 1}), wantErr: "listed twice"},
		{name: "unclaim no master", cmd: cmd(&messages.UnclaimBuildRequests{Brids: []uint64{1}}), wantErr: "masterid is required"},
		{name: "unclaim other master's claim", cmd: cmd(&messages.UnclaimBuildRequests{Masterid: 7, Brids: []uint64{1}}), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			r, _ := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, uint64(1))
			if r.Claim == nil || res.RequestsUnclaimed != 0 {
				t.Fatalf("another master's claim was dropped: %v", r)
			}
		}},
		{name: "build properties bad", cmd: cmd(&messages.SetBuildProperties{Buildid: 1, Properties: []*messages.Property{{Name: "x", ValueJson: "nope"}}}), wantErr: "not valid JSON"},
		{name: "build properties unknown build", cmd: cmd(&messages.SetBuildProperties{Buildid: 4}), wantErr: "build 4 does not exist"},
		{name: "worker no name", cmd: cmd(&messages.FindOrAddWorker{}), wantErr: "name is required"},
		{name: "worker connected unknown", cmd: cmd(&messages.WorkerConnected{Workerid: 3, Masterid: 1}), wantErr: "worker 3 does not exist"},
		{name: "worker connected unknown master", cmd: cmd(&messages.WorkerConnected{Workerid: 3, Masterid: 4}), wantErr: "master 4 does not exist"},
		{name: "object state bad json", cmd: cmd(&messages.SetObjectState{ObjectName: "s", ClassName: "c", Name: "n", ValueJson: "{"}), wantErr: "value_json is not valid JSON"},
		{name: "configure unknown master", cmd: cmd(&messages.ConfigureMaster{Masterid: 9}), wantErr: "master 9 does not exist"},
		{name: "configure empty scheduler name", cmd: cmd(&messages.ConfigureMaster{Masterid: 1, Schedulers: []string{"a", ""}}), wantErr: "schedulers[1] is empty"},
		{name: "object state no name", cmd: cmd(&messages.SetObjectState{ObjectName: "s", ClassName: "c", ValueJson: "1"}), wantErr: "name is required"},
		{name: "cancel claimed request", cmd: cmd(&messages.CompleteBuildRequests{Brids: []uint64{1}, Results: ResultCancelled, CompleteAt: 1, UnclaimedOnly: true}),
			wantErr: "build request 1 has started"},
		{name: "cancel unclaimed request", cmd: cmd(&messages.CompleteBuildRequests{Brids: []uint64{2}, Results: ResultCancelled, CompleteAt: 1, UnclaimedOnly: true}),
			check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
				r, _ := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, uint64(2))
				if !r.Complete || r.GetResults() != ResultCancelled {
					t.Fatalf("request %v", r)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := fixture(t)
			before := dump(t, db)
			txn := db.Txn(true)
			res, err := Apply(txn, tc.cmd)
			if tc.wantErr != "" {
				txn.Abort()
				if err == nil {
					t.Fatalf("no error, want %q", tc.wantErr)
				}
				if !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q, want ErrBadCommand with %q", err, tc.wantErr)
				}
				if after := dump(t, db); after != before {
					t.Fatalf("a refused command wrote something:\n%s", after)
				}
				return
			}
			if err != nil {
				txn.Abort()
				t.Fatal(err)
			}
			txn.Commit()
			if tc.check != nil {
				tc.check(t, res, db.Txn(false))
			}
		})
	}
}

// A refused command through a Store writes nothing either.
func TestStoreRefusesBadCommand(t *testing.T) {
	s := OpenEphemeral()
	defer s.Close()
	if _, err := s.Submit(addChange(change("a", "main", 1))).Wait(); err != nil {
		t.Fatal(err)
	}
	var before bytes.Buffer
	Dump(&before, s.Read())
	_, err := s.Submit(addChange(&messages.Change{Author: "a", WhenTimestamp: 1, Comments: strings.Repeat("x", MaxCommentsBytes+1)})).Wait()
	if !errors.Is(err, ErrBadCommand) {
		t.Fatalf("err %v", err)
	}
	var after bytes.Buffer
	Dump(&after, s.Read())
	if before.String() != after.String() {
		t.Fatal("bad command wrote something")
	}
}

// A change that can be refused without the database never reaches the
// journal of a durable Store.
func TestDurableStoreRefusesBadChangeBeforeTheJournal(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Submit(addChange(change("a", "main", 1))).Wait(); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().LastIndex
	files := make([]string, 2000)
	for i := range files {
		files[i] = fmt.Sprintf("%04d-%s", i, strings.Repeat("f", 1000))
	}
	for _, c := range []struct {
		change *messages.Change
		state  *messages.SetObjectState
		want   string
	}{
		{&messages.Change{Author: "a", WhenTimestamp: 1, Comments: strings.Repeat("x", MaxCommentsBytes+1)}, nil, "change.comments is 65537 bytes, limit 65536"},
		{&messages.Change{Author: "a", WhenTimestamp: 1, Files: files}, nil, "larger than the limit of 1048576"},
		{&messages.Change{WhenTimestamp: 1}, nil, "change.author is required"},
		{change("b", "main", 2), &messages.SetObjectState{ObjectName: "poll", ClassName: "GitPoller", Name: "lastRev", ValueJson: "{"},
			"add_change: state: bad command: set_object_state: value_json is not valid JSON"},
	} {
		_, err := s.Submit(cmd(&messages.AddChange{Change: c.change, State: c.state})).Wait()
		if !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err %v; want %q", err, c.want)
		}
	}
	if after := s.Stats().LastIndex; after != before {
		t.Fatalf("refused changes reached the journal: last index %d → %d", before, after)
	}
}

func TestHousekeeping(t *testing.T) {
	db := fixture(t)
	// A second running build with two steps (one finished), logs open; another master's claim.
	for _, c := range []*messages.Command{
		buildset(111, 1), claim(1, 125, 3), addBuild(1, 3, 1, 126),
		addStep(2, "done", 127), addStep(2, "running", 128), addLog(2, "a"), addLog(3, "b"),
		appendLog(2, "x\n"),
		masterStarted(0, "m2", 100), buildset(112, 2), claim(2, 129, 4),
		buildset(113, 2), claim(1, 130, 5), // claimed by m1 but no build yet
	} {
		mustApply(t, db, c)
	}
	// Unclaimed before: only request 2 (builder 2).
	unclaimed := func(builderid uint64) []uint64 {
		rs, err := collect[*messages.BuildRequest](db.Txn(false).Get(TableBuildRequests, IndexUnclaimed+"_prefix", builderid))
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for _, r := range rs {
			ids = append(ids, r.Id)
		}
		return ids
	}
	if got := unclaimed(1); len(got) != 0 {
		t.Fatalf("unclaimed on b1 before: %v", got)
	}
	res := mustApply(t, db, masterStarted(0, "m1", 1000))
	if res.Id != 1 || res.BuildsRetried != 2 || res.StepsFinished != 3 || res.LogsFinished != 3 || res.RequestsUnclaimed != 3 {
		t.Fatalf("result %v", res)
	}
	txn := db.Txn(false)
	builds, _ := collect[*messages.Build](txn.Get(TableBuilds, IndexID+"_prefix"))
	for _, b := range builds {
		if b.Results == nil || *b.Results != ResultRetry || b.CompleteAt != 1000 {
			t.Fatalf("build %v not RETRY", b)
		}
	}
	steps, _ := collect[*messages.Step](txn.Get(TableSteps, IndexID+"_prefix"))
	for _, s := range steps {
		if s.Results == nil || *s.Results != ResultRetry || s.CompleteAt != 1000 {
			t.Fatalf("step %v not RETRY", s)
		}
	}
	logs, _ := collect[*messages.Log](txn.Get(TableLogs, IndexID+"_prefix"))
	for _, l := range logs {
		if !l.Complete {
			t.Fatalf("log %v open", l)
		}
	}
	// Oldest first by submitted_at: request 1 (110) before 3 (111).
	if got := unclaimed(1); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("unclaimed on b1 after: %v", got)
	}
	if got := unclaimed(2); len(got) != 2 || got[0] != 2 || got[1] != 5 {
		t.Fatalf("unclaimed on b2 after: %v (request 4 stays claimed by m2)", got)
	}
	r4, _ := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, uint64(4))
	if r4.Claim == nil || r4.Claim.Masterid != 2 {
		t.Fatalf("other master's claim touched: %v", r4)
	}
	m, _ := get[*messages.Master](txn, TableMasters, IndexID, uint64(1))
	if !m.Active || m.LastActive != 1000 {
		t.Fatalf("master %v", m)
	}
	// Idempotent: a second start changes nothing but last_active.
	res = mustApply(t, db, masterStarted(1, "", 2000))
	if res.BuildsRetried+res.StepsFinished+res.LogsFinished+res.RequestsUnclaimed != 0 {
		t.Fatalf("second housekeeping did something: %v", res)
	}
}

// Operators' flags: a worker's paused/graceful and a scheduler's enabled.
func TestOperatorFlags(t *testing.T) {
	db := fixture(t)
	mustApply(t, db, cmd(&messages.FindOrAddWorker{Name: "w1"}))
	mustApply(t, db, cmd(&messages.ConfigureMaster{Masterid: 1, Schedulers: []string{"sched"}}))
	tests := []struct {
		name    string
		cmd     *messages.Command
		wantErr string
		check   func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn)
	}{
		{name: "worker state unknown", cmd: cmd(&messages.SetWorkerState{Workerid: 99, Paused: true}), wantErr: `worker 99 does not exist`},
		{name: "worker state", cmd: cmd(&messages.SetWorkerState{Workerid: 1, Paused: true}), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			w, _ := get[*messages.Worker](txn, TableWorkers, IndexID, uint64(1))
			if !w.Paused || w.Graceful || res.Id != 1 {
				t.Fatalf("worker %v", w)
			}
		}},
		{name: "scheduler enable unknown", cmd: cmd(&messages.SetSchedulerEnabled{Name: "nosuch"}), wantErr: `there is no scheduler named "nosuch"`},
		{name: "scheduler disable", cmd: cmd(&messages.SetSchedulerEnabled{Name: "sched"}), check: func(t *testing.T, res *messages.CommandResult, txn *memdb.Txn) {
			if SchedulerEnabled(txn, "sched") || !SchedulerEnabled(txn, "other") {
				t.Fatal("sched still enabled, or an unknown scheduler is not")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			txn := db.Txn(true)
			res, err := Apply(txn, tc.cmd)
			if tc.wantErr != "" {
				txn.Abort()
				if err == nil || !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want ErrBadCommand with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				txn.Abort()
				t.Fatal(err)
			}
			txn.Commit()
			tc.check(t, res, db.Txn(false))
		})
	}
}
