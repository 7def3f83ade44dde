package eventstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var (
	fanoutClients = flag.Int("fanout.clients", 1000, "BenchmarkWebSocketFanout: WebSocket clients")
	fanoutRate    = flag.Int("fanout.rate", 100, "BenchmarkWebSocketFanout: events published per second")
)

// BenchmarkWebSocketFanout: -fanout.clients WebSocket clients (1,000), in
// a child process, consume builds/*/* while the benchmark publishes b.N
// build events at -fanout.rate per second (100). Reported:
//
//   - server-cores: CPU of this process (the server and the publisher)
//     over the wall time of the publishing, i.e. the cores the master
//     spends at that rate;
//   - server-cpu-ns/delivery: the same CPU per event delivered to a client;
//   - p50-µs, p99-µs, max-µs: from Publish to a client reading the frame
//     (wall clocks of the two processes, one host);
//   - client-cpu-ns/delivery: the child's CPU, for scale.
//
// Run: go test -run XXX -bench WebSocketFanout -benchtime 1000x ./internal/eventstream
func BenchmarkWebSocketFanout(b *testing.B) {
	ts := start(b, Options{Limits: Limits{MaxClients: *fanoutClients + 10}})
	child := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^TestFanoutClients$")
	child.Env = append(os.Environ(),
		"EVENTSTREAM_FANOUT_URL=ws"+strings.TrimPrefix(ts.url, "http")+"/ws",
		"EVENTSTREAM_FANOUT_CLIENTS="+strconv.Itoa(*fanoutClients))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
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

	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"buildid":%d,"builderid":3,"buildrequestid":4321,"complete":false,"masterid":1,"number":%d,`+
			`"results":null,"started_at":1700000000,"state_string":"building","workerid":5,"t":%d}`, i, i, time.Now().UnixNano())
	}
	tick := time.NewTicker(time.Second / time.Duration(*fanoutRate))
	defer tick.Stop()
	cpu0 := processCPU(b)
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		<-tick.C
		if err := ts.bus.Publish([]string{"builds", strconv.Itoa(i + 1), "new"}, "", body(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	if err := ts.bus.Publish([]string{"builds", "0", "finished"}, "", []byte(`{"end":true}`)); err != nil {
		b.Fatal(err)
	}
	var sum fanoutSummary
	if err := json.Unmarshal([]byte(expect("summary ")), &sum); err != nil {
		b.Fatal(err)
	}
	wall := time.Since(t0)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	if err := child.Wait(); err != nil {
		b.Fatal(err)
	}
	if st := ts.srv.Stats(); st.Dropped != 0 || sum.Received != b.N**fanoutClients {
		b.Fatalf("stats %+v; clients received %d events, want %d", st, sum.Received, b.N**fanoutClients)
	}
	deliveries := float64(b.N * *fanoutClients)
	childCPU := child.ProcessState.UserTime() + child.ProcessState.SystemTime()
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "server-cores")
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "server-cpu-ns/delivery")
	b.ReportMetric(float64(childCPU.Nanoseconds())/deliveries, "client-cpu-ns/delivery")
	b.ReportMetric(sum.P50, "p50-µs")
	b.ReportMetric(sum.P99, "p99-µs")
	b.ReportMetric(sum.Max, "max-µs")
	b.ReportMetric(0, "ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type fanoutSummary struct {
	Received      int
	P50, P99, Max float64 // µs
}

// TestFanoutClients is the child process of BenchmarkWebSocketFanout; it
// does nothing unless the benchmark started it. It connects the clients,
// prints "ready", records each event's latency until the end event, and
// prints "summary {json}".
func TestFanoutClients(t *testing.T) {
	url := os.Getenv("EVENTSTREAM_FANOUT_URL")
	if url == "" {
		t.Skip("the child process of BenchmarkWebSocketFanout")
	}
	n, err := strconv.Atoi(os.Getenv("EVENTSTREAM_FANOUT_CLIENTS"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		c.SetReadLimit(1 << 20)
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"cmd":"startConsuming","path":"builds/*/*","_id":1}`)); err != nil {
			t.Fatal(err)
		}
		if _, ack, err := c.Read(ctx); err != nil || !bytes.Contains(ack, []byte(`"code":200`)) {
			t.Fatalf("client %d: %s %v", i, ack, err)
		}
		conns[i] = c
	}
	var mu sync.Mutex
	var lat []int64 // µs
	received := 0
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			var mine []int64
			for {
				_, frame, err := c.Read(ctx)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				now := time.Now().UnixNano()
				i := bytes.LastIndex(frame, []byte(`"t":`))
				if i < 0 {
					break // the end event
				}
				sent, err := strconv.ParseInt(string(bytes.TrimRight(frame[i+4:], "}")), 10, 64)
				if err != nil {
					t.Errorf("frame %s: %v", frame, err)
					return
				}
				mine = append(mine, (now-sent)/1000)
			}
			mu.Lock()
			lat = append(lat, mine...)
			received += len(mine)
			mu.Unlock()
			c.CloseNow()
		})
	}
	fmt.Println("ready")
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))])
	}
	s, _ := json.Marshal(fanoutSummary{Received: received, P50: q(0.5), P99: q(0.99), Max: q(1)})
	fmt.Printf("summary %s\n", s)
}
