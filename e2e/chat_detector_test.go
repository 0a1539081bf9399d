//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	detectorLine        = `"msg":"this instance is the hot-room detector"`
	takeoverWithin      = 5 * time.Second
	detectorCooledSlack = 3 * time.Second // cooled within cooldown + this after the storm's end

	sustainedClients = 200
	sustainedEvery   = 250 * time.Millisecond // per client: 800 fetches/s in all, 4× the threshold
	sustainedMaxFor  = 60 * time.Second       // the storm's hard bounds, whatever happens
	sustainedMaxEach = int(sustainedMaxFor / sustainedEvery)
)

// sustainedStorm is clients fetching one room in a paced loop, spread over
// the instances still alive, until stopped (or its hard bounds pass).
type sustainedStorm struct {
	room    string
	targets func(i int) (int, string) // which instance client i fetches now: its index and base URL
	client  *http.Client

	mu       sync.Mutex
	tallies  map[int]*chatTally // by instance index
	perSec   map[int64]int      // fetches answered 200 or 429 by the second they were sent in
	lastDone atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startSustainedStorm(room string, targets func(i int) (int, string)) *sustainedStorm {
	s := &sustainedStorm{
		room: room, targets: targets,
		client:  &http.Client{Timeout: stormFetchTimeout, Transport: &http.Transport{MaxIdleConns: 2 * sustainedClients, MaxIdleConnsPerHost: 2 * sustainedClients}},
		tallies: map[int]*chatTally{}, perSec: map[int64]int{}, stop: make(chan struct{}),
	}
	start := time.Now()
	deadline := start.Add(sustainedMaxFor)
	for c := range sustainedClients {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			id := fmt.Sprintf("crowd-%03d", c)
			next := start.Add(time.Duration(c) * sustainedEvery / sustainedClients)
			for range sustainedMaxEach {
				select {
				case <-s.stop:
					return
				case <-time.After(time.Until(next)):
				}
				if time.Now().After(deadline) {
					return
				}
				inst, base := s.targets(c)
				r := chatFetch(s.client, base, room, id)
				atomicMax(&s.lastDone, r.Done.UnixNano())
				s.mu.Lock()
				if s.tallies[inst] == nil {
					s.tallies[inst] = &chatTally{}
				}
				s.tallies[inst].add(r)
				if r.Kind == fetchOK || r.Kind == fetchThrottled {
					s.perSec[r.Sent.Unix()]++
				}
				s.mu.Unlock()
				next = next.Add(sustainedEvery)
				if late := time.Since(next); late > sustainedEvery {
					next = next.Add(late.Truncate(sustainedEvery)) // skip what was missed, no burst to catch up
				}
			}
		}()
	}
	return s
}

// end stops the storm and returns when its last fetch was answered.
func (s *sustainedStorm) end() time.Time {
	close(s.stop)
	s.wg.Wait()
	s.client.CloseIdleConnections()
	return time.Unix(0, s.lastDone.Load())
}

// rates are the fetches answered 200 or 429 by when they were sent, in each whole second of the storm (the first
// and last, partial, left out).
func (s *sustainedStorm) rates() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := slices.Sorted(func(yield func(int64) bool) {
		for k := range s.perSec {
			if !yield(k) {
				return
			}
		}
	})
	var out []int
	for i, sec := range secs {
		if i > 0 && i < len(secs)-1 {
			out = append(out, s.perSec[sec])
		}
	}
	return out
}

// Three instances running; exactly one RoomBecameHot per storm; kill -9 of
// the lease holder during a storm: another instance takes over within 5 s
// and still exactly one RoomCooledDown follows.
func TestChatOneDetectorAcrossInstancesSurvivesTheHoldersKill(t *testing.T) {
	stack := newAlertStack(t)
	var svs []*serving
	for i := range 3 {
		svs = append(svs, stack.serve(t, fmt.Sprintf("surge-%d", i+1), "")) // every role; one database, Redis prefix and broker
	}
	t.Logf("machine load before the test: %s", machineLoad())

	// Exactly one of them took the lease.
	holders := func() []int {
		var out []int
		for i, sv := range svs {
			if sv.logHas(detectorLine) {
				out = append(out, i)
			}
		}
		return out
	}
	waitUntil(t, 30*time.Second, func() string { return "no instance logged that it is the hot-room detector" }, func() bool { return len(holders()) > 0 })
	time.Sleep(2500 * time.Millisecond) // the others try every second: none of them may get it
	if h := holders(); len(h) != 1 {
		t.Fatalf("instances %v logged that they are the hot-room detector, want exactly one", h)
	}
	holder := holders()[0]
	for i, sv := range svs {
		want := 0.0
		if i == holder {
			want = 1
		}
		if got := metricValue(sv.URL, "surge_chat_detector_takeovers_total"); got != want {
			t.Fatalf("%s: surge_chat_detector_takeovers_total %v, want %v (the holder is %s)", sv.name, got, want, svs[holder].name)
		}
	}
	t.Logf("the lease holder is %s (pid %d); surge_chat_detector_takeovers_total is 1 there and 0 on the others", svs[holder].name, svs[holder].cmd.Process.Pid)

	const room = "crowd"
	chatCreateRoom(t, svs[0].URL, room, "Crowd")
	for i := range 3 {
		chatPostMessage(t, svs[i].URL, room, fmt.Sprintf("user-%d", i), fmt.Sprintf("message %d", i))
	}
	chatWaitMessages(t, svs[0].URL, room, 3)
	var survivors []int
	for i := range svs {
		if i != holder {
			survivors = append(survivors, i)
		}
	}
	watched := svs[survivors[0]]
	stream := openChatStream(t, watched.URL+"/v1/rooms/"+room+"/stream")
	t.Logf("the stream is read from %s, which survives", watched.name)

	// The storm, over the three instances, and over the survivors once the
	// holder is dead.
	var killed atomic.Bool
	storm := startSustainedStorm(room, func(c int) (int, string) {
		i := c % len(svs)
		if killed.Load() && i == holder {
			i = survivors[c%len(survivors)]
		}
		return i, svs[i].URL
	})
	stormStart := time.Now()
	stopped := false
	defer func() {
		if !stopped {
			storm.end()
		}
	}()
	hot := stream.waitFor(t, "hot", 30*time.Second)
	t.Logf("hot event (id %d) arrived %s after the storm started: %s", hot.ID, hot.At.Sub(stormStart), hot.Data)

	// kill -9 of the lease holder, the storm going on.
	time.Sleep(500 * time.Millisecond)
	killAt := time.Now()
	svs[holder].signal(syscall.SIGKILL)
	killed.Store(true)
	svs[holder].wait(t, 10*time.Second)
	t.Logf("killed %s (kill -9) %s after the storm started", svs[holder].name, killAt.Sub(stormStart))

	newHolder := -1
	waitUntil(t, 30*time.Second, func() string { return "no surviving instance took the hot-room detector's lease" }, func() bool {
		for _, i := range survivors {
			if svs[i].logHas(detectorLine) {
				newHolder = i
				return true
			}
		}
		return false
	})
	seenAt := time.Now()
	tookAt, _ := logLineTime(svs[newHolder].log, detectorLine)
	takeover := tookAt.Sub(killAt)
	t.Logf("%s took over: its log line is stamped %s after the kill (seen by the test %s after it)", svs[newHolder].name, takeover, seenAt.Sub(killAt))

	// The new detector runs a few passes with the room busy and hot; the
	// storm lasts about 10 s in all.
	time.Sleep(max(3*time.Second, 10*time.Second-time.Since(stormStart)))
	stormEnd := storm.end()
	stopped = true
	rates := storm.rates()
	t.Logf("storm: %d clients, one fetch each per %s, for %s over the instances (and the survivors after the kill); fetches answered 200/429 per whole second: %v",
		sustainedClients, sustainedEvery, stormEnd.Sub(stormStart).Round(time.Millisecond), rates)
	for i, sv := range svs {
		if tl := storm.tallies[i]; tl != nil {
			t.Logf("  answers from %s: %s", sv.name, tl)
		}
	}
	cooledEarly := stream.count("cooled")

	cooled := stream.waitFor(t, "cooled", hotCooldown+detectorCooledSlack+30*time.Second)
	cooledAfter := cooled.At.Sub(stormEnd)
	t.Logf("cooled event (id %d) arrived %s after the storm's last answer (bound %s): %s", cooled.ID, cooledAfter, hotCooldown+detectorCooledSlack, cooled.Data)

	// A few detector passes later, nothing more was recorded.
	time.Sleep(3 * time.Second)
	dbURL := stack.env["SURGE_DATABASE_URL"]
	becameHot := chatEventCount(t, dbURL, room, "chat.room_became_hot.v1")
	cooledDown := chatEventCount(t, dbURL, room, "chat.room_cooled_down.v1")
	var lines []string
	for _, sv := range svs {
		lines = append(lines, fmt.Sprintf("%s: %d detector takeovers logged, %d 'room heat changes' logged", sv.name, logLineCount(sv.log, detectorLine), logLineCount(sv.log, `"msg":"room heat changes"`)))
	}
	t.Logf("events table: %d room_became_hot, %d room_cooled_down; stream: %s; %s", becameHot, cooledDown, stream.summary(), strings.Join(lines, "; "))

	// The verdicts.
	if takeover > takeoverWithin || takeover < 0 {
		t.Errorf("%s took over %s after the kill, want within %s", svs[newHolder].name, takeover, takeoverWithin)
	}
	for _, i := range survivors {
		want := 0.0
		if i == newHolder {
			want = 1
		}
		if got := metricValue(svs[i].URL, "surge_chat_detector_takeovers_total"); got != want {
			t.Errorf("%s: surge_chat_detector_takeovers_total %v, want %v (the new holder is %s)", svs[i].name, got, want, svs[newHolder].name)
		}
	}
	if n := logLineCount(svs[newHolder].log, detectorLine); n != 1 {
		t.Errorf("%s logged the takeover %d times, want once", svs[newHolder].name, n)
	}
	if low := slices.Min(append(rates, 1<<30)); len(rates) < 5 || low < 400 {
		t.Errorf("the storm was not sustained well above the threshold: fetches per second %v", rates)
	}
	if cooledEarly != 0 {
		t.Errorf("the room cooled during the storm (%d cooled events before it ended)", cooledEarly)
	}
	for _, i := range survivors {
		if tl := storm.tallies[i]; tl != nil {
			for _, k := range []chatFetchKind{fetch5xx, fetchTimeout, fetchTransport, fetchBad429, fetchOther} {
				if n := tl.count(k); n > 0 {
					t.Errorf("%s answered %d fetches with %s: %s", svs[i].name, n, k, tl)
				}
			}
		}
	}
	if cooledAfter > hotCooldown+detectorCooledSlack {
		t.Errorf("the cooled event arrived %s after the storm ended, want ≤ %s", cooledAfter, hotCooldown+detectorCooledSlack)
	}
	if becameHot != 1 || cooledDown != 1 {
		t.Errorf("the events table holds %d chat.room_became_hot.v1 and %d chat.room_cooled_down.v1 for %s, want 1 and 1", becameHot, cooledDown, room)
	}
	if h, c := stream.count("hot"), stream.count("cooled"); h != 1 || c != 1 {
		t.Errorf("the stream carried %d hot and %d cooled events, want 1 and 1", h, c)
	}
}
