package push_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/internal/push"
)

func newHub(t *testing.T) *push.Hub {
	h, err := push.NewHub(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A subscriber that stops reading is dropped with ErrSlow once its buffer
// is full; the others get every message, in order, and the publisher never
// waits.
func TestSlowSubscriberIsDroppedOthersGetEverything(t *testing.T) {
	h := newHub(t)
	slow := h.Subscribe("line/A", 4)
	fast := h.Subscribe("line/A", 4)
	other := h.Subscribe("line/B", 4)
	var got []int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for len(got) < 100 {
			m := <-fast.C()
			got = append(got, m.Position)
		}
	}()
	start := time.Now()
	for i := int64(1); i <= 100; i++ {
		h.Publish(push.Message{Key: "line/A", Position: i})
		if i%4 == 0 {
			time.Sleep(time.Millisecond) // the fast reader keeps up; the slow one never reads
		}
	}
	wg.Wait()
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("publishing took %s", took)
	}
	for i, p := range got {
		if p != int64(i+1) {
			t.Fatalf("fast subscriber got %v, want 1..100 in order", got)
		}
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("the slow subscriber was not dropped")
	}
	if !errors.Is(slow.Err(), push.ErrSlow) || len(slow.C()) != 4 {
		t.Fatalf("slow: err %v, %d buffered; want ErrSlow with its 4 buffered", slow.Err(), len(slow.C()))
	}
	if fast.Err() != nil || other.Err() != nil || len(other.C()) != 0 {
		t.Fatalf("fast err %v, other err %v with %d messages", fast.Err(), other.Err(), len(other.C()))
	}
	if n := h.Subscribers(); n != 2 {
		t.Fatalf("%d subscribers left, want 2", n)
	}
}

func TestWaitEndsAtTheFirstMessageAndCloseEndsEverything(t *testing.T) {
	h := newHub(t)
	w := h.Wait("price/p1")
	stream := h.Subscribe("price/p1", 8)
	if n := h.Publish(push.Message{Key: "price/p1"}); n != 2 {
		t.Fatalf("delivered to %d, want 2", n)
	}
	select {
	case <-w.Done():
	default:
		t.Fatal("the waiter did not end at its message")
	}
	if w.Err() != nil || h.Subscribers() != 1 {
		t.Fatalf("waiter err %v, %d subscribers", w.Err(), h.Subscribers())
	}
	h.Close()
	<-stream.Done()
	if !errors.Is(stream.Err(), push.ErrClosed) {
		t.Fatalf("after Close: %v", stream.Err())
	}
	late := h.Subscribe("price/p1", 1)
	<-late.Done()
	if !errors.Is(late.Err(), push.ErrClosed) {
		t.Fatalf("subscribing to a closed hub: %v", late.Err())
	}
	stream.Close() // closing an ended subscription is harmless
}

func TestConcurrentSubscribersAndPublishers(t *testing.T) {
	h := newHub(t)
	var wg sync.WaitGroup
	counts := make([]int, 50)
	for i := range counts {
		s := h.Subscribe(fmt.Sprintf("k%d", i%5), 1000)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				<-s.C()
				counts[i]++
			}
			s.Close()
		}()
	}
	var pubs sync.WaitGroup
	for k := range 5 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for p := range 200 {
				h.Publish(push.Message{Key: fmt.Sprintf("k%d", k), Position: int64(p + 1)})
			}
		}()
	}
	pubs.Wait()
	wg.Wait()
	for i, n := range counts {
		if n != 200 {
			t.Fatalf("subscriber %d got %d of 200", i, n)
		}
	}
	if h.Subscribers() != 0 {
		t.Fatalf("%d subscribers left", h.Subscribers())
	}
}

// A key with many subscribers gets its messages in batches: each
// subscriber finds the whole batch queued at once (one wake-up), in order,
// within the linger; a key with few is untouched; a batch under way keeps
// the order when the key falls below the mark.
func TestCoalescingBatchesTheBusyKeysOnly(t *testing.T) {
	h := newHub(t)
	const linger = 300 * time.Millisecond // long beside a pause of the publishing goroutine under -race
	h.SetCoalescing(3, linger)
	var busy []*push.Subscription
	for range 3 {
		busy = append(busy, h.Subscribe("room/busy", 16))
	}
	quiet := h.Subscribe("room/quiet", 16)

	h.Publish(push.Message{Key: "room/quiet", Position: 1})
	if len(quiet.C()) != 1 {
		t.Fatal("a key below the mark waited")
	}
	start := time.Now()
	for p := int64(1); p <= 5; p++ {
		if n := h.Publish(push.Message{Key: "room/busy", Position: p}); n != 3 {
			t.Fatalf("Publish said %d subscribers, want 3", n)
		}
	}
	if len(busy[0].C()) != 0 {
		t.Fatal("a busy key's message went out before its linger")
	}
	busy[2].Close() // below the mark while the batch gathers
	h.Publish(push.Message{Key: "room/busy", Position: 6})
	for len(busy[0].C()) < 6 && time.Since(start) < 2*time.Second {
		time.Sleep(time.Millisecond)
	}
	if took := time.Since(start); took < linger {
		t.Fatalf("the batch came after %s, before its linger %s", took, linger)
	}
	for i, s := range busy[:2] {
		if len(s.C()) != 6 {
			t.Fatalf("subscriber %d holds %d messages, want the batch of 6 at once", i, len(s.C()))
		}
		for p := int64(1); p <= 6; p++ {
			if m := <-s.C(); m.Position != p {
				t.Fatalf("subscriber %d got %d, want %d", i, m.Position, p)
			}
		}
	}
	if len(busy[2].C()) != 0 {
		t.Fatal("a closed subscriber got the batch")
	}
	// Two subscribers now: below the mark, at once again.
	h.Publish(push.Message{Key: "room/busy", Position: 7})
	if len(busy[0].C()) != 1 {
		t.Fatal("a key back below the mark still waited")
	}
}

// A batch that reaches MaxBatch goes out at once: handed over in a row, a
// longer one would overflow the buffer of a subscriber that keeps up.
func TestACoalescedBatchGoesOutAtMaxBatch(t *testing.T) {
	h := newHub(t)
	const linger = 300 * time.Millisecond // long beside a pause of the publishing goroutine under -race
	h.SetCoalescing(1, linger)
	s := h.Subscribe("room/busy", push.MaxBatch+8)
	for p := int64(1); p <= push.MaxBatch; p++ {
		h.Publish(push.Message{Key: "room/busy", Position: p})
	}
	if n := len(s.C()); n != push.MaxBatch {
		t.Fatalf("after %d messages the subscriber holds %d, want the full batch at once", push.MaxBatch, n)
	}
	for p := int64(1); p <= push.MaxBatch; p++ {
		if m := <-s.C(); m.Position != p {
			t.Fatalf("got %d, want %d", m.Position, p)
		}
	}
	// The next ones gather again, and the subscriber (which kept up) stays.
	for p := int64(push.MaxBatch + 1); p <= push.MaxBatch+10; p++ {
		h.Publish(push.Message{Key: "room/busy", Position: p})
	}
	if n := len(s.C()); n != 0 {
		t.Fatalf("%d messages went out before the linger", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(s.C()) < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for p := int64(push.MaxBatch + 1); p <= push.MaxBatch+10; p++ {
		select {
		case m := <-s.C():
			if m.Position != p {
				t.Fatalf("got %d, want %d", m.Position, p)
			}
		default:
			t.Fatalf("message %d never came", p)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("the subscriber was dropped: %v", err)
	}
}
