package botmaster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/buildmaster/buildmaster/actors/botmaster"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// standIn takes the place of the actor of builder `ghost`: it reports each
// StartBuild it gets and treats the first as its mode says; it takes the
// later ones (answers that the build is spawned, spawning nothing).
type standIn struct {
	mode  string // "refuses", "stops" (unanswered), "takes"
	asked chan *messages.StartBuild
	n     int
}

func (s *standIn) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*messages.StartBuild)
	if !ok {
		return
	}
	s.asked <- m
	s.n++
	switch {
	case s.n > 1 || s.mode == "takes":
		ctx.Respond(&emptypb.Empty{})
	case s.mode == "refuses":
		ctx.Respond(&messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED, Message: "builder ghost: refused"})
	case s.mode == "stops":
		ctx.Stop(ctx.Self())
	}
}

// A build start that fails — its builder's actor is missing, refuses it, or
// stops without answering — gives back the worker's slot and the request's
// claim: another builder's build runs on the worker (which takes one build
// at a time), and the request is asked for again when its builder is woken.
// (The start used to be a one-way message: a missing builder left the slot
// and the claim reserved until a restart.)
func TestFailedStartReleasesClaimAndSlot(t *testing.T) {
	for _, mode := range []string{"missing", "refuses", "stops"} {
		t.Run(mode, func(t *testing.T) {
			m := startWorker(t, `
builders: [{name: b, workers: [w], steps: [{shell: {command: ['true']}}]}]
schedulers: [{name: force, type: force, builders: [b]}]
`, &fakeConn{worker: "w", instant: true})
			brd := actor.NewPID(m.RT.System.Address(), paths.BRD)
			// reserved asks brd how many builds it reserves, once it has
			// taken every message sent to it before.
			reserved := func() (int32, error) {
				st, err := ask.Ask[*messages.DistributionState](context.Background(), m.RT.System.Root, brd, &messages.Distribute{Enabled: true})
				return st.GetReservedBuilds(), err
			}
			// brd sees w connected, and free again after a build.
			forceBuilt(t, m, "b")
			testkit.Retry(t, func() error {
				if n, err := reserved(); err != nil || n != 0 {
					return fmt.Errorf("brd reserves %d builds (%v), want 0", n, err)
				}
				return nil
			})

			asked := make(chan *messages.StartBuild, 10)
			// The stand-in has a builder's mailbox: brd may ask ghost
			// (woken by b's builds) while it is being spawned.
			standInFor := func(mode string) {
				t.Helper()
				p := actor.PropsFromProducer(func() actor.Actor { return &standIn{mode: mode, asked: asked} }, actor.WithMailbox(service.Mailbox))
				if _, err := m.RT.System.Root.SpawnNamed(p, paths.Builder("ghost")); err != nil {
					t.Fatal(err)
				}
			}
			if mode != "missing" {
				standInFor(mode)
			}
			res, err := m.RT.DB.Submit(&messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
				Reason: "test", SubmittedAt: time.Now().Unix(), BuilderNames: []string{"ghost"}, Sourcestamps: []*messages.SourceStamp{{}}}}}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			ghostReq := res.GetIds()[0]
			// brd plans with a config that lists ghost, on w: it takes w's
			// one slot and the request, and asks ghost.
			cfg := proto.Clone(m.RT.Config()).(*messages.MasterConfig)
			cfg.Builders = append(cfg.Builders, &messages.BuilderConfig{Name: "ghost", Builddir: "ghost", Workers: []string{"w"}})
			m.RT.System.Root.Send(brd, botmaster.BRDConfig(cfg))
			if _, err := reserved(); err != nil { // brd has planned it before b is forced
				t.Fatal(err)
			}
			if mode != "missing" {
				want := &messages.StartBuild{Brids: []uint64{ghostReq}, Worker: "w"}
				if got := testkit.Recv(t, "a StartBuild for ghost", asked); !proto.Equal(got, want) {
					t.Fatalf("ghost was asked %v, want %v", got, want)
				}
			}

			// The slot: b builds on w again.
			forceBuilt(t, m, "b")

			// The claim: woken, brd asks ghost for the request again.
			if mode != "refuses" {
				standInFor("takes")
			}
			m.RT.System.Root.Send(brd, &messages.MaybeStartBuilds{Builders: []string{"ghost"}})
			want := &messages.StartBuild{Brids: []uint64{ghostReq}, Worker: "w"}
			if got := testkit.Recv(t, "a StartBuild for ghost, again", asked); !proto.Equal(got, want) {
				t.Fatalf("ghost was asked %v, want %v", got, want)
			}
		})
	}
}

// forceBuilt forces builder and waits until its requests are built.
func forceBuilt(t *testing.T, m *master.Master, builder string) {
	t.Helper()
	r, err := ask.Ask[*messages.ForceBuildResponse](context.Background(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Schedulers),
		&messages.ForceBuildRequest{Token: mastertest.Token, Builder: builder})
	if err != nil {
		t.Fatalf("force %s: %v", builder, err)
	}
	testkit.Eventually(t, fmt.Sprintf("the build of %s forced as %v", builder, r.GetBrids()), func() bool { return complete(m, r.GetBrids()) })
}
