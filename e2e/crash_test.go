//go:build e2e

package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

type outcome int

const (
	unknown outcome = iota // the connection died with the process: may or may not be issued
	accepted
	rejected
)

// applyAll sends one application per user from 32 workers and records each
// outcome; onAccepted runs after every 202.
func applyAll(base, campaign string, users []string, outcomes map[string]outcome, mu *sync.Mutex, onAccepted func(n int32)) {
	client := &http.Client{Timeout: 10 * time.Second}
	var n atomic.Int32
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for user := range work {
				body, _ := json.Marshal(map[string]string{"userId": user})
				res, err := client.Post(base+"/v1/campaigns/"+campaign+"/applications", "application/json", bytes.NewReader(body))
				o := unknown
				if err == nil {
					switch res.StatusCode {
					case http.StatusAccepted:
						o = accepted
					case http.StatusGone, http.StatusConflict:
						o = rejected
					}
					res.Body.Close()
				}
				mu.Lock()
				outcomes[user] = o
				mu.Unlock()
				if o == accepted && onAccepted != nil {
					onAccepted(n.Add(1))
				}
			}
		}()
	}
	for _, u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
}

// The broker is its own process. During a rush, Surge is killed (SIGKILL, or
// SIGTERM for a graceful stop) after some applications were accepted, then
// restarted: every accepted application ends issued exactly once.
func TestKilledDuringRushEveryAcceptedApplicationIsIssuedOnce(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { crashDuringRush(t, sig) })
	}
}

func crashDuringRush(t *testing.T, sig syscall.Signal) {
	brokerAddr := startBroker(t)
	dbURL := testenv.Database(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := []string{
		"SURGE_HTTP_ADDR=127.0.0.1:" + fmt.Sprint(port),
		"SURGE_DATABASE_URL=" + dbURL,
		"SURGE_REDIS_URL=" + testenv.RedisURL(),
		"SURGE_REDIS_PREFIX=" + testenv.RedisPrefix(t),
		"SURGE_KAFKA_BROKERS=" + brokerAddr,
		"SURGE_LOG_LEVEL=warn",
	}
	surge := start(t, env, "serve")
	waitReady(t, base, surge)

	res, err := http.Post(base+"/v1/campaigns", "application/json", bytes.NewBufferString(`{"id":"crash","name":"Crash","limit":400}`))
	testenv.Must(t, err, "open campaign")
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("open campaign: %d", res.StatusCode)
	}

	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("user-%04d", i)
	}
	var mu sync.Mutex
	outcomes := map[string]outcome{}
	var killOnce sync.Once
	applyAll(base, "crash", users[:600], outcomes, &mu, func(n int32) {
		if n == 150 {
			killOnce.Do(func() { surge.signal(sig) })
		}
	})
	code := surge.wait(t, 30*time.Second)
	if sig == syscall.SIGTERM && code != 0 {
		t.Fatalf("graceful shutdown exited with %d", code)
	}

	// Restart and finish the rush.
	surge = start(t, env, "serve")
	waitReady(t, base, surge)
	var rest []string
	for _, u := range users {
		if _, tried := outcomes[u]; !tried {
			rest = append(rest, u)
		}
	}
	applyAll(base, "crash", rest, outcomes, &mu, nil)

	acceptedUsers := map[string]bool{}
	unknownUsers := map[string]bool{}
	for u, o := range outcomes {
		switch o {
		case accepted:
			acceptedUsers[u] = true
		case unknown:
			unknownUsers[u] = true
		}
	}
	if len(acceptedUsers) < 150 {
		t.Fatalf("only %d accepted", len(acceptedUsers))
	}
	t.Logf("%s: %d accepted, %d unknown (connection cut by the kill)", sig, len(acceptedUsers), len(unknownUsers))

	db, err := sql.Open("pgx", dbURL)
	testenv.Must(t, err, "db")
	defer db.Close()
	issued := func() map[string]int {
		rows, err := db.Query(`SELECT user_id, count(*) FROM issued_coupons WHERE campaign_id = 'crash' GROUP BY user_id`)
		testenv.Must(t, err, "query")
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var u string
			var n int
			testenv.Must(t, rows.Scan(&u, &n), "scan")
			m[u] = n
		}
		return m
	}
	testenv.Eventually(t, 60*time.Second, "every accepted application issued", func() bool {
		got := issued()
		for u := range acceptedUsers {
			if got[u] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // anything doubled would show up now
	got := issued()
	for u, n := range got {
		if n != 1 {
			t.Fatalf("user %s has %d coupons", u, n)
		}
		if !acceptedUsers[u] && !unknownUsers[u] {
			t.Fatalf("user %s was rejected but has a coupon", u)
		}
	}
	var events int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM events WHERE event_type = 'coupon.issued.v1'`).Scan(&events), "events")
	if events != len(got) || len(got) > 400 {
		t.Fatalf("events=%d coupons=%d (limit 400)", events, len(got))
	}
	// The read model agrees after the restart.
	testenv.Eventually(t, 30*time.Second, "read model shows every coupon", func() bool {
		res, err := http.Get(base + "/v1/campaigns/crash")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var v struct{ Issued int }
		json.NewDecoder(res.Body).Decode(&v) //nolint:errcheck
		return v.Issued == len(got)
	})
	surge.signal(syscall.SIGTERM)
	if code := surge.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("final graceful shutdown exited with %d", code)
	}
}
