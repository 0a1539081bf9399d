package chatbench

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/bench/benchkit"
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
// and Go memory, as Surge's /metrics does (benchkit.Hub.ServeStats).

const baselineBuffer = 256

// broadcaster is the baseline: its hub's topics are rooms.
type broadcaster struct {
	seq sync.Mutex // held by a post from its position to its publish
	hub *benchkit.Hub[*bevent]
}

type bevent struct {
	position int64
	data     []byte
}

// runBaseline serves on addr until its standard input closes (the benchmark
// process holds the other end: if it dies, so does this) or SIGTERM.
func runBaseline(addr string) int {
	bc := &broadcaster{hub: benchkit.NewHub[*bevent](baselineBuffer)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/rooms", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10)) //nolint:errcheck
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("POST /v1/rooms/{roomId}/messages", bc.post)
	mux.HandleFunc("GET /v1/rooms/{roomId}/stream", bc.stream)
	mux.HandleFunc("GET /stats", bc.hub.ServeStats)
	return benchkit.ServeBaseline(addr, mux)
}

func (bc *broadcaster) post(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("roomId")
	var req struct {
		UserID string `json:"userId"`
		Text   string `json:"text"`
	}
	if !benchkit.DecodeBody(w, r, &req, chat.ValidRoomID(room)) {
		return
	}
	id := uuid.NewString()
	// One post at a time from the position to the publish, so that
	// positions are published in order (50 posts/s: no contention).
	bc.seq.Lock()
	defer bc.seq.Unlock()
	pos := bc.hub.Next(room)
	entry, err := chat.Entry(chat.MessagePosted{RoomID: room, MessageID: id, UserID: req.UserID, Text: req.Text,
		PostedAt: time.Now().UTC().Truncate(time.Millisecond), Position: pos})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	benchkit.Accepted(w, `{"messageId":"`+id+`"}`)
	// After the 202 is on its way, as Surge's push follows its 202.
	bc.hub.Publish(room, &bevent{position: pos, data: entry.Data})
}

func (bc *broadcaster) stream(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("roomId")
	s := new(benchkit.Sub[*bevent])
	bc.hub.Subscribe(room, s)
	defer bc.hub.Unsubscribe(room, s)
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
		case <-s.Slow:
			out.WriteString(": you fell behind; reconnect with Last-Event-ID\n\n")
			flush() //nolint:errcheck
			return
		case e := <-s.C:
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
