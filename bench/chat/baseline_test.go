package chatbench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain/chat"
)

// The fan-out baseline: a bare SSE broadcast from memory, in its own
// process (this test binary run again with baselineEnv set). It has the
// shape of Surge's stream without its pipeline:
//
//   - POST /v1/rooms/{roomId}/messages answers 202 {"messageId"} at once,
//     then hands the event to every stream of the room: the same bytes
//     (chat.Entry of a MessagePosted, the room's next position) through a
//     bounded buffer per stream (256, SURGE_PUSH_BUFFER's default) that
//     drops a stream that falls behind;
//   - GET /v1/rooms/{roomId}/stream writes "retry: 1000", then each event as
//     api/rooms_stream.go does (id, event, data through a 4 KiB bufio
//     writer, flushed under a 10 s write deadline per event), one handler
//     goroutine per stream;
//   - no Kafka, no PostgreSQL, no Redis, no gin, no middleware, no
//     Last-Event-ID catch-up (a dropped stream's client reconnects and
//     misses what was sent meanwhile: the benchmark counts it).
//
// POST /v1/rooms answers 201 to anything; GET /stats reports the streams
// and Go memory, as Surge's /metrics does.

const baselineBuffer = 256

type broadcaster struct {
	seq      sync.Mutex // held by a post from its position to its publish
	mu       sync.Mutex
	subs     map[string]map[*bstream]struct{}
	position map[string]int64

	subscribers, dropped atomic.Int64
}

type bstream struct {
	ch   chan *bevent
	slow chan struct{}
	once sync.Once
}

type bevent struct {
	position int64
	data     []byte
}

// runBaseline serves on addr until its standard input closes (the benchmark
// process holds the other end: if it dies, so does this) or SIGTERM.
func runBaseline(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	bc := &broadcaster{subs: map[string]map[*bstream]struct{}{}, position: map[string]int64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/rooms", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10)) //nolint:errcheck
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("POST /v1/rooms/{roomId}/messages", bc.post)
	mux.HandleFunc("GET /v1/rooms/{roomId}/stream", bc.stream)
	mux.HandleFunc("GET /stats", bc.stats)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		io.Copy(io.Discard, os.Stdin) //nolint:errcheck // returns when the parent closes the pipe or dies
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	return 0
}

func (bc *broadcaster) post(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("roomId")
	var req struct {
		UserID string `json:"userId"`
		Text   string `json:"text"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || !chat.ValidRoomID(room) {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	id := uuid.NewString()
	// One post at a time from the position to the publish, so that
	// positions are published in order (50 posts/s: no contention).
	bc.seq.Lock()
	defer bc.seq.Unlock()
	bc.mu.Lock()
	bc.position[room]++
	pos := bc.position[room]
	bc.mu.Unlock()
	entry, err := chat.Entry(chat.MessagePosted{RoomID: room, MessageID: id, UserID: req.UserID, Text: req.Text,
		PostedAt: time.Now().UTC().Truncate(time.Millisecond), Position: pos})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"messageId":"` + id + `"}`)) //nolint:errcheck
	w.(http.Flusher).Flush()
	// After the 202 is on its way, as Surge's push follows its 202.
	bc.publish(room, &bevent{position: pos, data: entry.Data})
}

func (bc *broadcaster) publish(room string, e *bevent) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	for s := range bc.subs[room] {
		select {
		case s.ch <- e:
		default:
			delete(bc.subs[room], s)
			bc.subscribers.Add(-1)
			bc.dropped.Add(1)
			s.once.Do(func() { close(s.slow) })
		}
	}
}

func (bc *broadcaster) stream(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("roomId")
	s := &bstream{ch: make(chan *bevent, baselineBuffer), slow: make(chan struct{})}
	bc.mu.Lock()
	set := bc.subs[room]
	if set == nil {
		set = map[*bstream]struct{}{}
		bc.subs[room] = set
	}
	set[s] = struct{}{}
	bc.subscribers.Add(1)
	bc.mu.Unlock()
	defer func() {
		bc.mu.Lock()
		if _, ok := bc.subs[room][s]; ok {
			delete(bc.subs[room], s)
			bc.subscribers.Add(-1)
		}
		bc.mu.Unlock()
	}()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriterSize(w, 4096)
	flush := func() error {
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
		if err := out.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	out.WriteString("retry: 1000\n\n")
	if flush() != nil {
		return
	}
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.slow:
			out.WriteString(": you fell behind; reconnect with Last-Event-ID\n\n")
			flush() //nolint:errcheck
			return
		case e := <-s.ch:
			out.WriteString("id: ")
			out.WriteString(strconv.FormatInt(e.position, 10))
			out.WriteString("\nevent: message\ndata: ")
			out.Write(e.data)
			out.WriteString("\n\n")
			if flush() != nil {
				return
			}
		}
	}
}

func (bc *broadcaster) stats(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(goStats{ //nolint:errcheck
		Subscribers: float64(bc.subscribers.Load()),
		Dropped:     float64(bc.dropped.Load()),
		Goroutines:  float64(runtime.NumGoroutine()),
		HeapInuse:   float64(ms.HeapInuse),
		StackInuse:  float64(ms.StackInuse),
		GCs:         float64(ms.NumGC),
	})
}
