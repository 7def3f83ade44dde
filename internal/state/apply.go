package state

import (
	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// Apply applies one command to a memdb write transaction and returns what it
// allocated. It is the only function that changes state. It is
// deterministic: the result and the writes depend only on the content of the
// database and on cmd (ids are allocated as one more than the largest id in
// the table; times come in the command; no clock, no randomness).
//
// On error the caller must Abort txn: Apply may have written part of the
// command before finding the problem, and only the abort guarantees that a
// bad command writes nothing. Records read from txn are never mutated: they
// are cloned, changed and inserted again.
//
// Some commands carry others that must be written with them or not at all,
// applied in the same transaction: AddBuild claims its requests
// (claim_brids) and starts its first steps (steps), FinishStep starts the
// next (next), FinishBuild finishes its last step (last_step), and
// AddChange sets its change source's state (state, as SetObjectState);
// AddBuild and FinishBuild also queue the reports their build's start or
// end is due in the outbox (outbox.go). A
// refused part refuses the whole command, its error naming the field.
func Apply(txn *memdb.Txn, cmd *messages.Command) (res *messages.CommandResult, err error) {
	return applyCmd(txn, &ids{}, cmd)
}

// applyCmd is Apply sharing seq, the ids of one write transaction, with the
// other commands of a batch. It is the one dispatch: every kind of command
// has its case here and nowhere else.
//
// A new command gets a case here and an applyX(txn, seq, c) in the file of
// the table it writes (changes.go, builds.go, logs.go …; a new table, a new
// file), beside the reads other packages need of that table; applyX checks
// everything before it writes and names the field it refuses. A new table
// gets its Table constant, its place at the end of Tables (a snapshot names
// a table by its position) and its entry in Schema (schema.go), its record
// type in newRecord (snapshot.go) and, if Apply allocates its ids, a case
// in nextID (ids.go).
func applyCmd(txn *memdb.Txn, seq *ids, cmd *messages.Command) (res *messages.CommandResult, err error) {
	if cmd == nil {
		return nil, bad("command", "nil command")
	}
	switch k := cmd.Kind.(type) {
	case *messages.Command_AddChange:
		return applyAddChange(txn, seq, k.AddChange)
	case *messages.Command_MasterStarted:
		return applyMasterStarted(txn, seq, k.MasterStarted)
	case *messages.Command_FindOrAddBuilder:
		return applyFindOrAddBuilder(txn, seq, k.FindOrAddBuilder)
	case *messages.Command_AddBuildset:
		return applyAddBuildset(txn, seq, k.AddBuildset)
	case *messages.Command_ClaimBuildRequests:
		return applyClaim(txn, seq, k.ClaimBuildRequests)
	case *messages.Command_AddBuild:
		return applyAddBuild(txn, seq, k.AddBuild)
	case *messages.Command_AddStep:
		return applyAddStep(txn, seq, k.AddStep)
	case *messages.Command_AddLog:
		return applyAddLog(txn, seq, k.AddLog)
	case *messages.Command_AppendLog:
		return applyAppendLog(txn, seq, k.AppendLog)
	case *messages.Command_FinishLog:
		return applyFinishLog(txn, seq, k.FinishLog)
	case *messages.Command_FinishStep:
		return applyFinishStep(txn, seq, k.FinishStep)
	case *messages.Command_FinishBuild:
		return applyFinishBuild(txn, seq, k.FinishBuild)
	case *messages.Command_CompleteBuildRequests:
		return applyCompleteBuildRequests(txn, seq, k.CompleteBuildRequests)
	case *messages.Command_UnclaimBuildRequests:
		return applyUnclaimBuildRequests(txn, seq, k.UnclaimBuildRequests)
	case *messages.Command_SetBuildProperties:
		return applySetBuildProperties(txn, seq, k.SetBuildProperties)
	case *messages.Command_FindOrAddWorker:
		return applyFindOrAddWorker(txn, seq, k.FindOrAddWorker)
	case *messages.Command_WorkerConnected:
		return applyWorkerConnected(txn, seq, k.WorkerConnected)
	case *messages.Command_WorkerDisconnected:
		return applyWorkerDisconnected(txn, seq, k.WorkerDisconnected)
	case *messages.Command_SetObjectState:
		return applySetObjectState(txn, seq, k.SetObjectState)
	case *messages.Command_ConfigureMaster:
		return applyConfigureMaster(txn, seq, k.ConfigureMaster)
	case *messages.Command_SetLogLines:
		return applySetLogLines(txn, seq, k.SetLogLines)
	case *messages.Command_Expire:
		return applyExpire(txn, seq, k.Expire)
	case *messages.Command_Archive:
		return applyArchive(txn, seq, k.Archive)
	case *messages.Command_ArchiveBuildsets:
		return applyArchiveBuildsets(txn, seq, k.ArchiveBuildsets)
	case *messages.Command_ArchiveChanges:
		return applyArchiveChanges(txn, seq, k.ArchiveChanges)
	case *messages.Command_MasterActive:
		return applyMasterActive(txn, seq, k.MasterActive)
	case *messages.Command_MasterStopped:
		return applyMasterStopped(txn, seq, k.MasterStopped)
	case *messages.Command_SetWorkerState:
		return applySetWorkerState(txn, seq, k.SetWorkerState)
	case *messages.Command_SetSchedulerEnabled:
		return applySetSchedulerEnabled(txn, seq, k.SetSchedulerEnabled)
	case *messages.Command_ReportsDone:
		return applyReportsDone(txn, seq, k.ReportsDone)
	case *messages.Command_WorkerMissing:
		return applyWorkerMissing(txn, seq, k.WorkerMissing)
	case *messages.Command_StartSession:
		return applyStartSession(txn, seq, k.StartSession)
	case *messages.Command_EndSession:
		return applyEndSession(txn, seq, k.EndSession)
	case *messages.Command_AddUser:
		return applyAddUser(txn, seq, k.AddUser)
	case *messages.Command_UpdateUser:
		return applyUpdateUser(txn, seq, k.UpdateUser)
	case *messages.Command_RemoveUser:
		return applyRemoveUser(txn, seq, k.RemoveUser)
	case *messages.Command_AddApiToken:
		return applyAddApiToken(txn, seq, k.AddApiToken)
	case *messages.Command_RevokeApiToken:
		return applyRevokeApiToken(txn, seq, k.RevokeApiToken)
	case nil:
		return nil, bad("command", "no command kind set (empty oneof, or a kind this binary does not know)")
	default:
		return nil, bad("command", "unknown command kind %T", k)
	}
}
