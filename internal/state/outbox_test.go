package state

import (
	"slices"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

func configureReportersCmd(rs ...*messages.ConfiguredReporter) *messages.Command {
	return cmd(&messages.ConfigureMaster{Masterid: 1, Builders: []*messages.ConfiguredBuilder{
		{Name: "b1", Tags: []string{"fast"}}, {Name: "b2"}}, Reporters: rs})
}

func finishBuild(buildid uint64, results int32, at int64) *messages.Command {
	return cmd(&messages.FinishBuild{Buildid: buildid, Results: results, CompleteAt: at})
}

func done(reporter string, es ...*messages.OutboxEntry) *messages.Command {
	return cmd(&messages.ReportsDone{Reporter: reporter, Reports: es})
}

var (
	startEnd = &messages.ReportGenerator{Kind: messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_START_END}
	failing  = &messages.ReportGenerator{Kind: messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS,
		Modes: []string{"failing"}, Builders: []string{"b1"}}
	problem = &messages.ReportGenerator{Kind: messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS,
		Modes: []string{"problem"}, Tags: []string{"fast"}}
)

// TestOutbox runs the outbox through what the master writes: reporters
// configured, reports queued in the same apply as a build's start and end
// (by each reporter's generators; a full outbox drops and counts), done,
// a reporter removed with its outbox, a build retried by housekeeping. The
// database after each phase is compared with testdata/outbox.golden.
func TestOutbox(t *testing.T) {
	db := fixture(t) // build 1 on b1 running (started before any reporter)
	sc := &scenario{t: t, db: db}
	sc.phase("reporters gh (every start and end), fail (failing on b1, cap 1), prob (problem on tag fast)",
		configureReportersCmd(&messages.ConfiguredReporter{Name: "gh", Generators: []*messages.ReportGenerator{startEnd}},
			&messages.ConfiguredReporter{Name: "fail", Generators: []*messages.ReportGenerator{failing}, OutboxCap: 1},
			&messages.ConfiguredReporter{Name: "prob", Generators: []*messages.ReportGenerator{problem}}),
	)
	sc.phase("build 1 ends SUCCESS: gh alone wants it",
		finishBuild(1, ResultSuccess, 130),
	)
	sc.phase("build 2 on b1 starts (gh) and fails (gh, fail, and prob: failing after success)",
		addBuild(1, 0, 1, 132), finishBuild(2, ResultFailure, 140),
	)
	sc.phase("build 3 on b1 fails: fail's outbox is full (dropped 1); prob: not a new problem",
		addBuild(1, 0, 1, 141), finishBuild(3, ResultFailure, 150),
	)
	sc.phase("gh's first two reports and fail's are done; a repeat, a wrong event and another's are ignored",
		done("gh", &messages.OutboxEntry{Id: 1, Buildid: 1, Event: "build_finished"},
			&messages.OutboxEntry{Id: 2, Buildid: 2, Event: "build_started"}),
		done("gh", &messages.OutboxEntry{Id: 1, Buildid: 1, Event: "build_finished"},
			&messages.OutboxEntry{Id: 4, Buildid: 2, Event: "build_started"}, &messages.OutboxEntry{Id: 5, Buildid: 2, Event: "build_finished"}),
		done("fail", &messages.OutboxEntry{Id: 3, Buildid: 2, Event: "build_finished"}),
		done("nobody", &messages.OutboxEntry{Id: 4, Buildid: 2, Event: "build_finished"}),
	)
	sc.phase("prob is removed with its outbox; fail's cap is raised, its counts kept",
		configureReportersCmd(&messages.ConfiguredReporter{Name: "gh", Generators: []*messages.ReportGenerator{startEnd}},
			&messages.ConfiguredReporter{Name: "fail", Generators: []*messages.ReportGenerator{failing}, OutboxCap: 5}),
	)
	sc.phase("build 4 on b2 starts; master 1 stops: build 4 ends RETRY, reported to gh",
		addBuild(2, 0, 1, 151), cmd(&messages.MasterStopped{Masterid: 1, Time: 160}),
	)
	sc.refused(configureReportersCmd(&messages.ConfiguredReporter{Name: "x", Generators: []*messages.ReportGenerator{{}}}),
		"configure_master", "reporters[0].generators[0]: kind")
	sc.refused(configureReportersCmd(&messages.ConfiguredReporter{Name: "x", Generators: []*messages.ReportGenerator{{
		Kind: messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS, Builders: []string{"a"}, Tags: []string{"b"}}}}),
		"configure_master", "builders or tags")
	sc.refused(configureReportersCmd(&messages.ConfiguredReporter{Name: "x"}, &messages.ConfiguredReporter{Name: "x"}),
		"configure_master", `reporters[1].name "x" is listed twice`)
	sc.golden("outbox.golden")

	txn := db.Txn(false)
	var got []uint64
	for e := range Outbox(txn, "gh", 0) {
		got = append(got, e.Id)
	}
	if want := []uint64{4, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("Outbox(gh) ids = %v, want %v", got, want)
	}
	got = got[:0]
	for e := range Outbox(txn, "gh", 6) {
		got = append(got, e.Id)
	}
	if want := []uint64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("Outbox(gh, after 6) ids = %v, want %v", got, want)
	}
}

// TestOutboxWorkerMissing: the notice of a missing worker is queued for the
// reporters with a worker-missing generator that covers it, once while one
// is pending, and again after it is done.
func TestOutboxWorkerMissing(t *testing.T) {
	db := fixture(t)
	sc := &scenario{t: t, db: db}
	missing := func(workerid uint64, at int64, notify ...string) *messages.Command {
		return cmd(&messages.WorkerMissing{At: at, Worker: &messages.MissingWorker{Workerid: workerid, Notify: notify, LastConnection: at - 60}})
	}
	wm := func(workers ...string) *messages.ReportGenerator {
		return &messages.ReportGenerator{Kind: messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_WORKER_MISSING, Workers: workers}
	}
	sc.phase("workers w1 and w2; reporters mail (every worker), mail9 (w9 only), gh (builds only)",
		cmd(&messages.FindOrAddWorker{Name: "w1"}), cmd(&messages.FindOrAddWorker{Name: "w2"}),
		configureReportersCmd(&messages.ConfiguredReporter{Name: "mail", Generators: []*messages.ReportGenerator{failing, wm()}},
			&messages.ConfiguredReporter{Name: "mail9", Generators: []*messages.ReportGenerator{wm("w9")}},
			&messages.ConfiguredReporter{Name: "gh", Generators: []*messages.ReportGenerator{startEnd}}),
	)
	w1 := First(db.Txn(false), TableWorkers, IndexName, "w1").(*messages.Worker).Id
	w2 := First(db.Txn(false), TableWorkers, IndexName, "w2").(*messages.Worker).Id
	sc.phase("w1 missing: mail alone; again while pending: nothing; w2 without addresses: nothing",
		missing(w1, 200, "ops@example.org", "Dana <dana@example.org>"), missing(w1, 300, "ops@example.org"), missing(w2, 300),
	)
	sc.phase("mail's notice is done; w1 missing again: queued again",
		done("mail", &messages.OutboxEntry{Id: 1, Event: "worker_missing"}), missing(w1, 400, "ops@example.org"),
	)
	sc.refused(missing(0, 1, "a@example.org"), "worker_missing", "workerid is required")
	sc.refused(missing(999, 1, "a@example.org"), "worker_missing", "worker 999 does not exist")
	sc.refused(missing(w1, 1, make([]string, MaxNotify+1)...), "worker_missing", "limit 64")
	sc.golden("outbox_worker_missing.golden")
}
