package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/droplog"
)

// Reasons a request is refused before any actor sees it, as counted by
// Server.Dropped.
const (
	DropMalformed   = "malformed"    // not a POST of an Any, or a bad TimeoutHeader
	DropTooLarge    = "too_large"    // a body over MaxMessageBytes
	DropForeignType = "foreign_type" // not a buildmaster.v1 message
	DropUnknownType = "unknown_type" // not a message this binary knows
	DropNotAccepted = "not_accepted" // the target does not take it from outside
	DropUndecodable = "undecodable"  // the bytes do not decode
)

// Drop lines logged a second, and in a burst: enough to see an attack, too
// few for one to fill the disk. Every drop is counted by Dropped regardless.
// One peer may spend the whole budget (droplog with SourceBurst =
// DropLogBurst): the honest peers are the operator's few CLI processes; any
// peer that reaches listen.remote gets no more than the total.
const (
	DropLogRate  = 10
	DropLogBurst = 50
)

// Server serves the control endpoint for the actors of one system.
type Server struct {
	system *actor.ActorSystem
	// targets maps a local actor's path to the message types it accepts
	// from other processes.
	targets map[string][]proto.Message
	dropped func(reason string)
	logs    *droplog.Log
}

// NewServer returns the endpoint of system's actors: targets maps an
// actor's path (e.g. paths.Master) to the message types it takes from other
// processes; log receives a line per refusal (at most DropLogRate a second,
// the lines left out counted in the next one), and dropped, when not nil,
// is told the reason of each.
func NewServer(system *actor.ActorSystem, targets map[string][]proto.Message, log *slog.Logger, dropped func(reason string)) *Server {
	return newServer(system, targets, log, dropped, time.Now)
}

// newServer is NewServer with the clock of its log budget.
func newServer(system *actor.ActorSystem, targets map[string][]proto.Message, log *slog.Logger, dropped func(reason string), now func() time.Time) *Server {
	logs := droplog.New(log, droplog.Options{Rate: DropLogRate, Burst: DropLogBurst,
		SourceEvery: time.Second / DropLogRate, SourceBurst: DropLogBurst, Now: now})
	return &Server{system: system, targets: targets, dropped: dropped, logs: logs}
}

// refusal is a request the endpoint refuses: its HTTP status, drop reason
// (Drop*) and what to tell the peer and the log.
type refusal struct {
	status       int
	reason, why  string
	target, name string
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "the control endpoint takes POST", http.StatusMethodNotAllowed)
		return
	}
	msg, target, timeout, ref := s.read(w, r)
	if ref != nil {
		s.refuse(w, r.RemoteAddr, ref)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	reply, err := s.ask(ctx, target, r.RemoteAddr, msg, timeout)
	switch {
	case r.Context().Err() != nil:
		return // the peer is gone
	case errors.Is(err, actor.ErrDeadLetter):
		http.Error(w, target+" is not running", http.StatusServiceUnavailable)
		return
	case errors.Is(err, actor.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		http.Error(w, fmt.Sprintf("%s did not reply within %s", target, timeout), http.StatusGatewayTimeout)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pm, ok := reply.(proto.Message)
	if !ok {
		http.Error(w, fmt.Sprintf("%s replied %T, not a message", target, reply), http.StatusInternalServerError)
		return
	}
	body, err := marshalEnvelope(pm)
	if err != nil {
		http.Error(w, "encoding the reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	// Its length, rather than chunks: the client reads it into one buffer.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// read reads and checks a request: the message, its target and how long to
// wait for the reply; or why it is refused.
func (s *Server) read(w http.ResponseWriter, r *http.Request) (proto.Message, string, time.Duration, *refusal) {
	target, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		return nil, "", 0, &refusal{status: http.StatusNotFound, reason: DropMalformed, why: "the path is not " + PathPrefix + "TARGET", target: r.URL.Path}
	}
	timeout := DefaultTimeout
	if h := r.Header.Get(TimeoutHeader); h != "" {
		d, err := time.ParseDuration(h)
		if err != nil || d <= 0 {
			return nil, target, 0, &refusal{status: http.StatusBadRequest, reason: DropMalformed, why: TimeoutHeader + " " + h + ": want a positive duration", target: target}
		}
		timeout = min(d, MaxTimeout)
	}
	if r.ContentLength > MaxMessageBytes {
		return nil, target, 0, &refusal{status: http.StatusRequestEntityTooLarge, reason: DropTooLarge, why: fmt.Sprintf("the body is larger than %d bytes", MaxMessageBytes), target: target}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageBytes))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return nil, target, 0, &refusal{status: http.StatusRequestEntityTooLarge, reason: DropTooLarge, why: fmt.Sprintf("the body is larger than %d bytes", MaxMessageBytes), target: target}
		}
		return nil, target, 0, &refusal{status: http.StatusBadRequest, reason: DropMalformed, why: "reading the body: " + err.Error(), target: target}
	}
	url, value, err := openEnvelope(body)
	if err != nil {
		return nil, target, 0, &refusal{status: http.StatusBadRequest, reason: DropMalformed, why: "the body is " + err.Error(), target: target}
	}
	name, ok := messageName(url)
	if !ok {
		// Nothing of it is logged: a body of another shape may put anything
		// there (a bare request's field 1 is its token).
		return nil, target, 0, &refusal{status: http.StatusBadRequest, reason: DropMalformed, why: "the body's type URL is not " + typeURLPrefix + "MESSAGE.NAME", target: target}
	}
	ref := &refusal{status: http.StatusBadRequest, target: target, name: string(name)}
	if !strings.HasPrefix(string(name), SchemaPackage+".") {
		ref.reason, ref.why = DropForeignType, "message type is not part of the "+SchemaPackage+" schema"
		return nil, target, 0, ref
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		ref.reason, ref.why = DropUnknownType, "unknown message type"
		return nil, target, 0, ref
	}
	if !s.accepts(target, name) {
		ref.status, ref.reason, ref.why = http.StatusForbidden, DropNotAccepted, "target does not accept this message from other processes"
		return nil, target, 0, ref
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(value, msg); err != nil {
		ref.reason, ref.why = DropUndecodable, "message does not decode: "+err.Error()
		return nil, target, 0, ref
	}
	return msg, target, timeout, nil
}

func (s *Server) accepts(target string, name protoreflect.FullName) bool {
	for _, m := range s.targets[target] {
		if proto.MessageName(m) == name {
			return true
		}
	}
	return false
}

// ask sends msg to the actor at target, from the peer from, and waits for
// its reply until ctx ends.
func (s *Server) ask(ctx context.Context, target, from string, msg proto.Message, timeout time.Duration) (any, error) {
	f := actor.NewFuture(s.system, timeout)
	pid := s.system.NewLocalPID(target)
	proc, _ := s.system.ProcessRegistry.Get(pid) // the dead letter process when none: it answers the future
	proc.SendUserMessage(pid, &actor.MessageEnvelope{Header: map[string]string{FromHeader: from}, Message: msg, Sender: f.PID()})
	return ask.Await(ctx, f)
}

// refuse answers a refused request, logs it (unless the rate limit says
// only to count it) and counts it.
func (s *Server) refuse(w http.ResponseWriter, peer string, ref *refusal) {
	http.Error(w, ref.why, ref.status)
	if s.dropped != nil {
		s.dropped(ref.reason)
	}
	s.logs.Refused(peer, "control: refused a request from another process", slog.String("target", droplog.Text(ref.target)),
		slog.String("type", droplog.Text(ref.name)), slog.String("reason", ref.why))
}
