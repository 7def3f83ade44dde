package status

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/eventstream"
	"github.com/buildmaster/buildmaster/internal/mq"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

var (
	fanoutClients = flag.Int("fanout.clients", 1000, "BenchmarkWebSocketFanout: WebSocket clients watching Home")
	fanoutRate    = flag.Int("fanout.rate", 100, "BenchmarkWebSocketFanout: builds finished per second")
	fanoutSample  = flag.Int("fanout.sample", 100, "BenchmarkWebSocketFanout: clients that note each event's arrival for the latencies")
)

// homeTopics are the paths Home's live regions consume (templates/home.html,
// through live.js).
var homeTopics = []string{"builds/*/new", "builds/*/update", "builds/*/finished", "buildrequests/*/*"}

// fanoutRunning is about how many builds run at once: build i starts at
// tick i and finishes fanoutRunning ticks later.
const fanoutRunning = 20

// BenchmarkWebSocketFanout: -fanout.clients WebSocket clients (1,000), in
// a child process, consume what Home consumes (homeTopics) while b.N builds
// finish at -fanout.rate a second (100), each its buildset, its build's
// start (claiming the request) and its end (completing both) written as a
// master writes them: durable commands of a state.Store on disk, whose
// commits the master's Publisher turns into events on the bus, served by
// the master's eventstream over a real HTTP listener on 127.0.0.1.
// Reported:
//
//   - latency-p50-ms, -p99-ms, -max-ms: per event and client, from the
//     commit (the state's commit hook) to the client reading the frame
//     (wall clocks of the two processes, one host), over the events of
//     -fanout.sample clients (100); every client counts its events;
//   - master-cores: CPU of this process (state, publisher, bus, streams)
//     over the wall time of the builds; master-cpu-ms/build the same per
//     build; master-writes/build, the write system calls of this
//     process per build (most of them a stream's batch of frames to its
//     client); bus-wakeups/build, the wake-ups the bus gave subscribers
//     (mq.Stats.Wakeups: a stream's, one per batch it sends, puts it on
//     the flush clock). Run with -fanout.clients 0 for the master's cost
//     without clients (the publisher then encodes nothing);
//   - builds/s actually reached; client-cores, the child's CPU, for scale
//     (its clients are bare and cheap: see TestFanoutClients).
//
// The load average is logged with the figures (-v). It fails when a client
// is dropped or misses an event.
//
// Run: go test -run '^$' -bench WebSocketFanout -benchtime 1000x -v ./actors/status
func BenchmarkWebSocketFanout(b *testing.B) {
	discard := slog.New(slog.DiscardHandler)
	store, err := state.Open(b.TempDir(), state.Options{Logger: discard, ProgressInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	submit := func(c *messages.Command) *messages.CommandResult {
		res, err := store.Submit(c).Wait()
		if err != nil {
			b.Fatalf("%v: %v", c, err)
		}
		return res
	}
	const builders = 100
	submit(&messages.Command{Kind: &messages.Command_MasterStarted{MasterStarted: &messages.MasterStarted{Name: "master", Time: 1700000000}}})
	for i := range builders {
		submit(&messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{Name: fmt.Sprintf("builder-%03d", i)}}})
	}
	submit(&messages.Command{Kind: &messages.Command_FindOrAddWorker{FindOrAddWorker: &messages.FindOrAddWorker{Name: "worker"}}})
	submit(&messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: &messages.Change{
		Author: "dev <dev@example.com>", Branch: "main", Revision: strings.Repeat("a", 40), WhenTimestamp: 1700000000}}}})

	// The master's path from a commit to the streams, with the commit's
	// time noted for the events it publishes (Seq in (before, after]).
	bus := mq.New()
	defer bus.Close()
	pub := NewPublisher(bus, store.Read, discard)
	type commit struct {
		after uint64 // the bus's last Seq once the commit's events are out
		at    int64  // unix ns
	}
	var (
		mu      sync.Mutex
		commits []commit
	)
	store.OnCommit(func(ch memdb.Changes) {
		at := time.Now().UnixNano()
		pub.Committed(ch)
		after := bus.Stats().Published
		mu.Lock()
		commits = append(commits, commit{after, at})
		mu.Unlock()
	})
	streams := eventstream.New(bus, eventstream.Options{Logger: discard, Limits: eventstream.Limits{MaxClients: *fanoutClients + 10}})
	defer streams.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /ws", longLived(http.HandlerFunc(streams.ServeWebSocket)))
	srv := &http.Server{Handler: mux}
	l := testkit.Listen(b)
	go srv.Serve(l)
	defer srv.Close()

	child := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^TestFanoutClients$")
	child.Env = append(os.Environ(),
		"STATUS_FANOUT_URL=ws://"+l.Addr().String()+"/ws",
		"STATUS_FANOUT_CLIENTS="+strconv.Itoa(*fanoutClients),
		"STATUS_FANOUT_SAMPLE="+strconv.Itoa(*fanoutSample),
		"STATUS_FANOUT_TOPICS="+strings.Join(homeTopics, " "))
	child.Stderr = os.Stderr
	in, out := testkit.StartPiped(b, child)
	lines := bufio.NewScanner(out)
	expect := func(prefix string) string {
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		}
		b.Fatalf("child ended before %q: %v", prefix, lines.Err())
		return ""
	}
	expect("ready")

	// Every event a Home client gets, as the bus numbered it.
	seen := bus.Subscribe(context.Background(), 8*b.N+100)
	for _, t := range homeTopics {
		if _, err := seen.Add(mq.Filter(strings.Split(t, "/"))); err != nil {
			b.Fatal(err)
		}
	}

	// A build: its buildset, its start, and its end fanoutRunning ticks
	// later; builds overlap, as on a master, so that the state's writes
	// are batched as a master's are.
	build := func(i int) {
		builder := uint64(i%builders) + 1
		now := int64(1700000000 + i)
		bs, err := store.Submit(&messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
			Reason: "The SingleBranchScheduler scheduler named 'all' triggered this build", SubmittedAt: now,
			SourcestampIds: []uint64{1}, Builderids: []uint64{builder}}}}).Wait()
		if err != nil {
			b.Error(err)
			return
		}
		brid := bs.Ids[0]
		bd, err := store.Submit(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
			Builderid: builder, Buildrequestid: brid, Workerid: 1, Masterid: 1, StartedAt: now,
			StateString: "building", ClaimBrids: []uint64{brid}}}}).Wait()
		if err != nil {
			b.Error(err)
			return
		}
		time.Sleep(fanoutRunning * time.Second / time.Duration(*fanoutRate)) // the build runs
		if _, err := store.Submit(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
			Buildid: bd.Id, Results: state.ResultSuccess, CompleteAt: now + 1, StateString: "build successful",
			Brids: []uint64{brid}}}}).Wait(); err != nil {
			b.Error(err)
		}
	}

	tick := time.NewTicker(time.Second / time.Duration(*fanoutRate))
	defer tick.Stop()
	var builds sync.WaitGroup
	cpu0, writes0, wakeups0 := testkit.CPUTime(), testkit.WriteCalls(), bus.Stats().Wakeups
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		<-tick.C
		builds.Go(func() { build(i) })
	}
	builds.Wait()
	wall := time.Since(t0)
	cpu, writes, wakeups := testkit.CPUTime()-cpu0, testkit.WriteCalls()-writes0, bus.Stats().Wakeups-wakeups0
	b.StopTimer()
	if b.Failed() {
		return
	}
	if err := bus.Publish([]string{"builds", "0", "finished"}, "", []byte(`{"end":true}`)); err != nil {
		b.Fatal(err)
	}

	// Hand the child each event's commit time.
	mu.Lock()
	defer mu.Unlock()
	w := bufio.NewWriter(in)
	events := 0
	for _, ev := range seen.Take(nil) {
		if ev.Topic == "builds/0/finished" {
			break
		}
		k, _ := slices.BinarySearchFunc(commits, ev.Seq, func(c commit, seq uint64) int { return int(c.after) - int(seq) })
		fmt.Fprintf(w, "%s %d\n", ev.Topic, commits[k].at)
		events++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	in.Close()
	var sum fanoutSummary
	if err := json.Unmarshal([]byte(expect("summary ")), &sum); err != nil {
		b.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		b.Fatal(err)
	}
	if st := streams.Stats(); st.Dropped != 0 || sum.Received != events**fanoutClients || sum.Unknown != 0 {
		b.Fatalf("streams %+v; clients received %d events (%d not published), want %d", st, sum.Received, sum.Unknown, events**fanoutClients)
	}
	childCPU := child.ProcessState.UserTime() + child.ProcessState.SystemTime()
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "master-cores")
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "master-cpu-ms/build")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "builds/s")
	b.ReportMetric(float64(writes)/float64(b.N), "master-writes/build")
	b.ReportMetric(float64(wakeups)/float64(b.N), "bus-wakeups/build")
	b.ReportMetric(float64(events)/float64(b.N), "events/build")
	b.ReportMetric(childCPU.Seconds()/wall.Seconds(), "client-cores")
	b.ReportMetric(sum.P50, "latency-p50-ms")
	b.ReportMetric(sum.P99, "latency-p99-ms")
	b.ReportMetric(sum.Max, "latency-max-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d clients, %d sampled: %d events each, %d latencies; load %s",
		*fanoutClients, min(*fanoutSample, *fanoutClients), events, sum.Sampled, testkit.LoadAvg())
}

type fanoutSummary struct {
	Received      int     // events received by all clients
	Sampled       int     // events whose arrival the sampled clients noted
	Unknown       int     // of which had no commit time: not published by a commit
	P50, P99, Max float64 // ms, over the sampled events
}

// fanoutEnd is the start of the frame of the end event.
var fanoutEnd = []byte(`{"k":"builds/0/finished"`)

// TestFanoutClients is the child process of BenchmarkWebSocketFanout; it
// does nothing unless the benchmark started it. It connects the clients,
// each consuming the topics, prints "ready", and reads until the end
// event (builds/0/finished); then it reads the events' commit times from
// stdin ("TOPIC UNIXNANO" a line) and prints "summary {json}".
//
// The clients must cost little, so that the master gets the CPU it needs
// on a small machine: each is a bare WebSocket (testkit.WebSocket) read by
// one goroutine, which finds where each frame ends and counts it. Only
// STATUS_FANOUT_SAMPLE of them, spread over the connection order, note
// each event's topic and arrival for the latencies.
func TestFanoutClients(t *testing.T) {
	url := os.Getenv("STATUS_FANOUT_URL")
	if url == "" {
		t.Skip("the child process of BenchmarkWebSocketFanout")
	}
	n, err := strconv.Atoi(os.Getenv("STATUS_FANOUT_CLIENTS"))
	if err != nil {
		t.Fatal(err)
	}
	sample, err := strconv.Atoi(os.Getenv("STATUS_FANOUT_SAMPLE"))
	if err != nil {
		t.Fatal(err)
	}
	topics := strings.Fields(os.Getenv("STATUS_FANOUT_TOPICS"))
	ctx := context.Background()
	conns := make([]*testkit.WebSocket, n)
	for i := range conns {
		ws, err := testkit.DialWebSocket(ctx, url)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		for id, p := range topics {
			if err := ws.Send(fmt.Appendf(nil, `{"cmd":"startConsuming","path":%q,"_id":%d}`, p, id+1)); err != nil {
				t.Fatal(err)
			}
		}
		for acks := 0; acks < len(topics); {
			frames, err := ws.Read()
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			for _, ack := range frames {
				if !bytes.Contains(ack, []byte(`"code":200`)) {
					t.Fatalf("client %d: %s", i, ack)
				}
				acks++
			}
		}
		conns[i] = ws
	}
	type receipt struct {
		topic string
		at    int64 // unix ns
	}
	counts := make([]int, n)
	got := make([][]receipt, n)
	var wg sync.WaitGroup
	for i, ws := range conns {
		sampled := sample > 0 && i%max(n/sample, 1) == 0 && i/max(n/sample, 1) < sample
		wg.Go(func() {
			defer ws.Close()
			for {
				frames, err := ws.Read()
				if err != nil {
					t.Errorf("client %d: read: %v", i, err)
					return
				}
				at := time.Now().UnixNano()
				for _, f := range frames {
					if bytes.HasPrefix(f, fanoutEnd) {
						return
					}
					counts[i]++
					if sampled {
						topic, _, _ := bytes.Cut(bytes.TrimPrefix(f, []byte(`{"k":"`)), []byte(`"`))
						got[i] = append(got[i], receipt{string(topic), at})
					}
				}
			}
		})
	}
	// No garbage collection while the events come: its pauses would hold
	// the clients' reads back and count as the master's latency (they did,
	// up to 50 ms, on a loaded machine). What the run allocates, the
	// sampled receipts mostly, is some tens of MB.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	fmt.Println("ready")
	wg.Wait()

	committed := map[string]int64{}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		topic, at, _ := strings.Cut(in.Text(), " ")
		committed[topic], _ = strconv.ParseInt(at, 10, 64)
	}
	if err := in.Err(); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	var sum fanoutSummary
	for _, c := range counts {
		sum.Received += c
	}
	var lat []int64
	for _, rs := range got {
		for _, r := range rs {
			sum.Sampled++
			at, ok := committed[r.topic]
			if !ok {
				sum.Unknown++
				continue
			}
			lat = append(lat, r.at-at)
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
	}
	sum.P50, sum.P99, sum.Max = q(0.5), q(0.99), q(1)
	s, _ := json.Marshal(sum)
	fmt.Printf("summary %s\n", s)
}
