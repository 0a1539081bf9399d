package benchkit

import (
	"sync"
	"time"
)

// Pace calls send(i) for i = 0..n-1 at rate per second from a pool of
// workers, so that a slow call does not delay the next one (open loop), and
// stops starting calls after dur. It returns how many it started and the
// most any started behind schedule (0 if the pool kept up).
func Pace(rate int, dur time.Duration, n, workers int, send func(i int)) (started int, lag time.Duration) {
	interval := time.Second / time.Duration(rate)
	total := min(n, int(dur/interval))
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				send(i)
			}
		}()
	}
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
		lag = max(lag, time.Since(due))
		started++
	}
	close(jobs)
	wg.Wait()
	return started, lag
}

// WatchSchedDelay measures how late this process's goroutines are woken: a
// 5 ms sleep, over and over (at most limit times), until stop is called,
// which returns the delays. A client short of CPU shows here before it
// shows in its latencies.
func WatchSchedDelay(limit int) (stop func() Dist) {
	const nap = 5 * time.Millisecond
	quit, out := make(chan struct{}), make(chan []time.Duration)
	go func() {
		var delays []time.Duration
		for i := 0; i < limit; i++ {
			select {
			case <-quit:
				out <- delays
				return
			default:
			}
			t := time.Now()
			time.Sleep(nap)
			delays = append(delays, max(0, time.Since(t)-nap))
		}
		<-quit
		out <- delays
	}()
	return sync.OnceValue(func() Dist {
		close(quit)
		return NewDist(<-out)
	})
}
