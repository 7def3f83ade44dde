package ui

import (
	"context"
	"errors"
)

// Control carries out the operator's actions; the master implements it with
// actor messages. Each method returns once the action is accepted (or
// refused); the page shows a returned error's message, so it must say what
// went wrong in words an operator understands and never carry a secret.
// Wrap ErrNotFound or ErrInvalid to answer 404 or 400 instead of 500.
type Control interface {
	// StopBuild stops a running build; it ends CANCELLED.
	StopBuild(ctx context.Context, b BuildRef, reason string) error
	// Rebuild submits the build's buildset again for its builder.
	Rebuild(ctx context.Context, b BuildRef) (Forced, error)
	// CancelRequest cancels a build request that has not started.
	CancelRequest(ctx context.Context, brid uint64, reason string) error
	// PauseWorker, UnpauseWorker, GracefulWorker (take no new builds, shut
	// down once idle: Buildbot's "stop") and KillWorker (disconnect now) act
	// on the worker named worker.
	PauseWorker(ctx context.Context, worker, reason string) error
	UnpauseWorker(ctx context.Context, worker string) error
	GracefulWorker(ctx context.Context, worker string) error
	KillWorker(ctx context.Context, worker string) error
	// EnableScheduler enables or disables the scheduler named scheduler.
	EnableScheduler(ctx context.Context, scheduler string, enabled bool) error
	// Force starts a build through a force scheduler.
	Force(ctx context.Context, f ForceRequest) (Forced, error)
}

// BuildRef names a build both ways: by id, and by builder and number (the
// way the botmaster addresses it).
type BuildRef struct {
	ID      uint64
	Builder string
	Number  int32
}

// ForceRequest is what the force form (or a force JSON-RPC call) asks for.
type ForceRequest struct {
	Scheduler  string
	Builder    string
	Reason     string
	Owner      string
	Branch     string
	Revision   string
	Repository string
	Project    string
	Codebase   string
	Properties map[string]string
}

// Forced is the buildset a force or rebuild added and its request ids by
// builder name.
type Forced struct {
	Buildsetid uint64
	Brids      map[string]uint64
}

// Errors a Control wraps so that the page answers 404 or 400.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid request")
)

// Action names what an operator does, for Options.Can.
type Action string

// The actions.
const (
	ActStop     Action = "stop"
	ActRebuild  Action = "rebuild"
	ActCancel   Action = "cancel"
	ActPause    Action = "pause"
	ActUnpause  Action = "unpause"
	ActGraceful Action = "graceful"
	ActKill     Action = "kill"
	ActEnable   Action = "enable" // enabling and disabling a scheduler
	ActForce    Action = "force"
)
