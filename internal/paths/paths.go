// Package paths is the one source of the master's actor addresses. An
// actor's path in the live tree is also its protoactor id, so the actor at
// path in the process at address is actor.NewPID(address, path). Every
// package that names another actor takes the name from here, never from a
// string of its own; the package imports nothing of ours, so that anything may
// import it.
package paths

import "strconv"

// Master is the root actor's name and path, the first element of every
// other path. From other processes it takes ReconfigureRequest and
// GetTreeRequest.
const Master = "master"

// The names of the master's services: its children in the tree.
const (
	DBName         = "db"
	MetricsName    = "metrics"
	CachesName     = "caches"
	PBManagerName  = "pbmanager"
	ChangesName    = "change_svc"
	BotmasterName  = "botmaster"
	SchedulersName = "scheduler_manager"
	UsersName      = "user_manager"
	DebugName      = "debug"
	StatusName     = "status"
)

// The paths of the master's services, and of their fixed children. Those
// that face other processes say what they take from them (the remote
// endpoint's policy, in actors/master, admits nothing else).
const (
	DB         = Master + "/" + DBName
	Metrics    = Master + "/" + MetricsName
	Caches     = Master + "/" + CachesName
	PBManager  = Master + "/" + PBManagerName
	Changes    = Master + "/" + ChangesName    // SendChangeRequest
	Botmaster  = Master + "/" + BotmasterName  // StopBuildRequest, WorkerControlRequest
	Schedulers = Master + "/" + SchedulersName // ForceBuildRequest
	Users      = Master + "/" + UsersName
	Debug      = Master + "/" + DebugName
	Status     = Master + "/" + StatusName

	// BRDName is the build request distributor's name under botmaster.
	BRDName = "brd"
	BRD     = Botmaster + "/" + BRDName

	// LogsName is the log writer's name under db: it writes log contents
	// to their files.
	LogsName = "logs"
	Logs     = DB + "/" + LogsName
	// JanitorName is the janitor's name under db: it applies the horizons.
	JanitorName = "janitor"
	Janitor     = DB + "/" + JanitorName // CleanupRequest
)

// Prefixes of the names of children that are named after their config (or,
// for a build, after its first build request).
const (
	WorkerPrefix  = "worker:"
	BuilderPrefix = "builder:"
	BuildPrefix   = "build:"
	ConnPrefix    = "conn:"
	// ReporterPrefix names the reporters under status.
	ReporterPrefix = "reporter:"
)

// Child is the path of the child named name of the actor at parent.
func Child(parent, name string) string { return parent + "/" + name }

// Worker is the path of the master's actor for the worker named name.
func Worker(name string) string { return Child(Botmaster, WorkerPrefix+name) }

// Conn is the path of the actor of the live connection of the worker named
// name (under pbmanager).
func Conn(name string) string { return Child(PBManager, ConnPrefix+name) }

// Builder is the path of the actor of the builder named name.
func Builder(name string) string { return Child(Botmaster, BuilderPrefix+name) }

// BuildName is the name, under its builder, of the build that runs the
// build request brid (and those merged with it).
func BuildName(brid uint64) string { return BuildPrefix + strconv.FormatUint(brid, 10) }

// Build is the path of the build of builder that runs the build request brid.
func Build(builder string, brid uint64) string { return Child(Builder(builder), BuildName(brid)) }

// Reporter is the path of the reporter named name.
func Reporter(name string) string { return Child(Status, ReporterPrefix+name) }

// Scheduler is the path of the scheduler named name.
func Scheduler(name string) string { return Child(Schedulers, name) }

// ChangeSource is the path of the change source named name.
func ChangeSource(name string) string { return Child(Changes, name) }
