package worker

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/buildmaster/buildmaster/messages"
)

// agent is the actor `worker`. It owns the current session's link and the
// running commands; each command runs on its own goroutine and reports its
// end with cmdDone. Run's goroutine drives it with attach, stopCommands
// and waitIdle.
type agent struct {
	log      *slog.Logger
	basedir  string
	link     *link               // nil while not logged in
	cmds     map[string]*command // the current session's running commands
	running  int                 // commands whose goroutine has not ended, of any session
	idle     []chan struct{}     // closed once running is 0
	draining bool                // no new commands: the worker is stopping
	// early holds ToWorker that arrived during a login attempt, before
	// attach: the master may send them right after its answer, and they
	// can overtake the answer on its way through Run (nil: no attempt).
	early    []*messages.ToWorker
	shutdown chan<- bool   // the master's WorkerShutdown (graceful) for Run
	drops    *rate.Limiter // lines about dropped messages
}

// maxEarly bounds agent.early.
const maxEarly = 1000

// Messages from Run's goroutine and from commands.
type (
	// loggingIn: a login attempt begins.
	loggingIn struct{}
	// attach starts a session.
	attach struct{ link *link }
	// stopCommands interrupts every running command; refuse makes the
	// worker refuse new ones from now on; detach also ends the session at
	// once (the master is gone: nothing more is sent).
	stopCommands struct {
		refuse, detach bool
		why            string
	}
	// waitIdle asks for ch to be closed once no command runs.
	waitIdle struct{ ch chan struct{} }
	// cmdDone: a command's goroutine has ended.
	cmdDone struct{ c *command }
	// masterDetached is published when the master says it has detached
	// this worker: Run treats it as a lost master.
	masterDetached struct{}
)

func newAgent(log *slog.Logger, basedir string, shutdown chan<- bool) *agent {
	return &agent{log: log, basedir: basedir, cmds: map[string]*command{}, shutdown: shutdown,
		drops: rate.NewLimiter(1, 10)}
}

func (a *agent) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *loggingIn:
		a.early = []*messages.ToWorker{}
	case *attach:
		a.link = m.link
		a.cmds = map[string]*command{}
		early := a.early
		a.early = nil
		for _, tw := range early {
			a.toWorker(c, tw)
		}
	case *stopCommands:
		a.draining = a.draining || m.refuse
		if len(a.cmds) > 0 {
			a.log.Warn("killing the running commands", "count", len(a.cmds), "why", m.why)
		}
		cmds := a.cmds
		if m.detach && a.link != nil {
			// Closed first: a killed command reports nothing more.
			a.link.close()
			a.link = nil
			a.cmds = map[string]*command{}
		}
		for _, cmd := range cmds {
			cmd.cancel()
		}
	case *waitIdle:
		if a.running == 0 {
			close(m.ch)
		} else {
			a.idle = append(a.idle, m.ch)
		}
	case *cmdDone:
		a.running--
		if a.cmds[m.c.id] == m.c {
			delete(a.cmds, m.c.id)
		}
		if a.running == 0 {
			for _, ch := range a.idle {
				close(ch)
			}
			a.idle = nil
		}
	case *messages.ToWorker:
		if a.link == nil && a.early != nil {
			if len(a.early) < maxEarly {
				a.early = append(a.early, m)
			}
			return
		}
		a.toWorker(c, m)
	}
}

// toWorker handles a message of the master, if it carries the session.
func (a *agent) toWorker(c actor.Context, m *messages.ToWorker) {
	if a.link == nil || subtle.ConstantTimeCompare([]byte(m.GetSession()), []byte(a.link.session)) != 1 {
		if a.drops.Allow() {
			from := ""
			if s := c.Sender(); s != nil {
				from = s.Address
			}
			a.log.Warn("dropped a message to the worker: not of the current session",
				"kind", kindName(m.GetKind()), "logged_in", a.link != nil, "sender", from)
		}
		return
	}
	switch k := m.GetKind().(type) {
	case *messages.ToWorker_Start:
		a.start(c, k.Start)
	case *messages.ToWorker_Interrupt:
		id := k.Interrupt.GetCommandId()
		if cmd, ok := a.cmds[id]; ok {
			a.log.Info("interrupting a command", "command_id", id, "why", k.Interrupt.GetWhy())
			cmd.cancel()
		} else {
			a.log.Info("interrupt for a command that is not running", "command_id", id)
		}
	case *messages.ToWorker_DownloadChunk:
		id := k.DownloadChunk.GetCommandId()
		if cmd, ok := a.cmds[id]; ok && cmd.chunks != nil {
			cmd.chunks.push(k.DownloadChunk)
		} else {
			a.log.Debug("download data for no running download", "command_id", id)
		}
	case *messages.ToWorker_Print:
		a.log.Info("message from master: " + k.Print)
	case *messages.ToWorker_Keepalive:
		a.link.sendKeepalive()
	case *messages.ToWorker_Detached:
		a.log.Warn("the master detached this worker; logging in again", "why", k.Detached)
		c.ActorSystem().EventStream.Publish(&masterDetached{})
	case *messages.ToWorker_Shutdown:
		graceful := k.Shutdown.GetGraceful()
		a.log.Info("the master asks the worker to shut down", "graceful", graceful, "running", len(a.cmds))
		a.draining = true
		select {
		case a.shutdown <- graceful:
		default:
		}
	default:
		a.log.Warn("unknown message from the master", "kind", kindName(m.GetKind()))
	}
}

// start starts a command on its own goroutine, or refuses it with a
// complete carrying the reason.
func (a *agent) start(c actor.Context, s *messages.StartCommand) {
	id, kind := s.GetCommandId(), commandKind(s)
	refuse := ""
	switch {
	case id == "":
		refuse = "command without a command_id"
	case a.draining:
		refuse = "the worker is shutting down"
	case a.cmds[id] != nil:
		refuse = fmt.Sprintf("duplicate command id %q: a command with that id is running", id)
	}
	if refuse != "" {
		a.log.Warn("refused a command", "command_id", id, "kind", kind, "why", refuse)
		a.link.update(&messages.CommandUpdate{CommandId: id, Kind: &messages.CommandUpdate_Complete{
			Complete: &messages.CommandComplete{Rc: -1, Error: refuse}}})
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := &command{id: id, kind: kind, ctx: ctx, cancel: cancel, link: a.link, basedir: a.basedir,
		log: a.log}
	if kind == "download_file" {
		cmd.chunks = newChunkQueue()
	}
	a.cmds[id] = cmd
	a.running++
	a.log.Info("command started", "command_id", id, "kind", kind)
	self, root := c.Self(), c.ActorSystem().Root
	go func() {
		defer func() {
			cancel()
			root.Send(self, &cmdDone{c: cmd})
		}()
		cmd.run(s)
	}()
}

// commandKind is the command's name as in WorkerInfo.commands.
func commandKind(s *messages.StartCommand) string {
	switch s.GetCommand().(type) {
	case *messages.StartCommand_Shell:
		return "shell"
	case *messages.StartCommand_Mkdir:
		return "mkdir"
	case *messages.StartCommand_Rmdir:
		return "rmdir"
	case *messages.StartCommand_Stat:
		return "stat"
	case *messages.StartCommand_Glob:
		return "glob"
	case *messages.StartCommand_Listdir:
		return "listdir"
	case *messages.StartCommand_Rmfile:
		return "rmfile"
	case *messages.StartCommand_UploadFile:
		return "upload_file"
	case *messages.StartCommand_DownloadFile:
		return "download_file"
	}
	return "unknown"
}

// kindName names a oneof case for the log, e.g. "ToWorker_Start".
func kindName(k any) string {
	if k == nil {
		return "none"
	}
	t := reflect.TypeOf(k)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
