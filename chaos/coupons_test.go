//go:build chaos

// The coupon flow on a bad day: Redis flushed (after a sell-out, mid-rush,
// with commands queued and `surge rebuild` run), Redis black-holed mid-rush,
// and the broker restarted empty. In every case the database decides: never
// more coupons than the limit, every 202 ends issued or rejected, a 503
// takes nothing, and nobody stays pending. See harness_test.go for how to
// run one case.
package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/internal/testenv"
)

// couponEnv are the settings every coupon case runs with: the repair and
// catch-up loops at test speed, the resender after 2 s.
var couponEnv = map[string]string{
	"SURGE_REDIS_TIMEOUT":        "500ms",
	"SURGE_REDIS_WATCH_INTERVAL": "100ms",
	"SURGE_CATCHUP_INTERVAL":     "500ms",
	"SURGE_GATE_DRAIN_TIMEOUT":   "3s",
	"SURGE_RESEND_GRACE":         "2s",
	"SURGE_RESEND_INTERVAL":      "500ms",
}

// outcomeBound is how long after the last disturbance ended every 202 must
// read issued or rejected: the cases assert it.
const outcomeBound = 30 * time.Second

// answer is what one application got in the end.
type answer struct {
	Status int
	Code   string
	Tries  int           // 503s before the final answer
	Slow   time.Duration // the longest a 503 took to come
}

// applyAll sends one application per user, workers at a time; a 503 is
// retried after its Retry-After (a client doing what it is told) until
// deadline. It returns each user's final answer, and calls each(i) after
// the i-th final answer (to disturb the rush at a point).
func applyAll(s *surgeProc, campaign string, users []string, workers int, deadline time.Time, each func(i int)) (map[string]answer, error) {
	var mu sync.Mutex
	out := make(map[string]answer, len(users))
	var next, done atomic.Int64
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(users) {
					return
				}
				a, err := applyOne(s, campaign, users[i], deadline)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[users[i]] = a
				mu.Unlock()
				if each != nil {
					each(int(done.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func applyOne(s *surgeProc, campaign, user string, deadline time.Time) (answer, error) {
	var a answer
	for {
		t0 := time.Now()
		status, body, header, err := s.Do(http.MethodPost, "/v1/campaigns/"+campaign+"/applications", map[string]string{"userId": user})
		if err != nil {
			return a, fmt.Errorf("apply %s: %w", user, err)
		}
		a.Status, a.Code = status, errorCode(body)
		if status == http.StatusServiceUnavailable {
			a.Slow = max(a.Slow, time.Since(t0))
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return a, nil
		}
		a.Tries++
		wait, err := strconv.Atoi(header.Get("Retry-After"))
		if err != nil || wait < 1 {
			return a, fmt.Errorf("apply %s: 503 %s without a whole-second Retry-After (%q)", user, body, header.Get("Retry-After"))
		}
		// Clients spread their retries over the second they were given.
		time.Sleep(time.Duration(wait) * time.Second / 4)
	}
}

// tally counts answers by "status code".
func tally(answers map[string]answer) map[string]int {
	t := map[string]int{}
	for _, a := range answers {
		t[fmt.Sprintf("%d %s", a.Status, a.Code)]++
	}
	return t
}

func accepted(answers map[string]answer) []string {
	var out []string
	for u, a := range answers {
		if a.Status == http.StatusAccepted {
			out = append(out, u)
		}
	}
	return out
}

func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// redis is a client on the stack's Redis, not through any proxy.
func (s *stack) redis(t *testing.T) *goredis.Client { return testenv.Redis(t) }

// FlushRedis deletes every key of the stack's prefix: what FLUSHALL, a
// restart without persistence or a failover to an empty replica does to
// this stack's data (other tests share the server, so not FLUSHALL itself).
func (s *stack) FlushRedis(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	rdb := s.redis(t)
	var keys []string
	iter := rdb.Scan(ctx, 0, s.RedisPrefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan redis: %v", err)
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Fatalf("flush redis: %v", err)
		}
	}
	return len(keys)
}

// Coupons are what the database holds of a campaign's outcomes.
type Coupons struct {
	Issued, Rejected         int
	IssuedUsers, RejectUsers map[string]bool
}

func (s *stack) Coupons(campaign string) (Coupons, error) {
	c := Coupons{IssuedUsers: map[string]bool{}, RejectUsers: map[string]bool{}}
	db, err := s.DB()
	if err != nil {
		return c, err
	}
	for _, q := range []struct {
		table string
		into  map[string]bool
	}{{"issued_coupons", c.IssuedUsers}, {"rejected_coupons", c.RejectUsers}} {
		rows, err := db.Query(`SELECT user_id FROM `+q.table+` WHERE campaign_id = $1`, campaign)
		if err != nil {
			return c, err
		}
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return c, err
			}
			q.into[u] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return c, err
		}
	}
	c.Issued, c.Rejected = len(c.IssuedUsers), len(c.RejectUsers)
	return c, nil
}

// campaignView is GET /v1/campaigns/{id}.
type campaignView struct {
	Limit    int    `json:"limit"`
	Accepted int    `json:"accepted"`
	Issued   int    `json:"issued"`
	Rejected int    `json:"rejected"`
	Status   string `json:"status"`
}

func (s *surgeProc) Campaign(id string) (campaignView, int, error) {
	var v campaignView
	status, body, _, err := s.Do(http.MethodGet, "/v1/campaigns/"+id, nil)
	if err != nil || status != http.StatusOK {
		return v, status, err
	}
	return v, status, json.Unmarshal(body, &v)
}

func (s *surgeProc) openCampaign(t *testing.T, id string, limit int) {
	t.Helper()
	status, body, _, err := s.Do(http.MethodPost, "/v1/campaigns", map[string]any{"id": id, "name": "Chaos " + id, "limit": limit})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("open campaign %s: %d %s %v", id, status, body, err)
	}
}

// settle waits until every user in accepted reads issued or rejected
// through the API and the database agrees, and returns how long it took.
func settle(ctx context.Context, t *testing.T, s *surgeProc, campaign string, accepted []string) time.Duration {
	t.Helper()
	left := map[string]bool{}
	for _, u := range accepted {
		left[u] = true
	}
	took, err := eventually(ctx, outcomeBound, fmt.Sprintf("all %d accepted applicants issued or rejected", len(accepted)), func() (bool, error) {
		for u := range left {
			st, err := s.CouponStatus(campaign, u)
			if err != nil {
				return false, err
			}
			if st != "issued" && st != "rejected" {
				return false, fmt.Errorf("%s is %q", u, st)
			}
			delete(left, u)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%v (%d left)", err, len(left))
	}
	return took
}

// checkOutcomes asserts what the database holds against the answers: no
// more coupons than the limit, every 202 issued or rejected, nobody without
// a 202 holding a coupon, and no user both issued and rejected.
func checkOutcomes(t *testing.T, st *stack, campaign string, limit int, answers map[string]answer) Coupons {
	t.Helper()
	c, err := st.Coupons(campaign)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issued > limit {
		t.Errorf("%d coupons issued for a limit of %d", c.Issued, limit)
	}
	for u := range c.IssuedUsers {
		if c.RejectUsers[u] {
			t.Errorf("%s is both issued and rejected", u)
		}
	}
	acc := 0
	for u, a := range answers {
		has := c.IssuedUsers[u] || c.RejectUsers[u]
		switch {
		case a.Status == http.StatusAccepted:
			acc++
			if !has {
				t.Errorf("%s got 202 and has no outcome", u)
			}
		case has:
			t.Errorf("%s got %d %s and has an outcome (issued %v)", u, a.Status, a.Code, c.IssuedUsers[u])
		}
	}
	if c.Issued+c.Rejected != acc {
		t.Errorf("issued %d + rejected %d != %d accepted", c.Issued, c.Rejected, acc)
	}
	return c
}

// Row 1: the campaign sold out (limit 100), Redis is flushed, the same
// POST /v1/campaigns is repeated and a second wave applies. Before, the
// repeated open re-created the gate at 0 and 200 coupons were issued. Now
// the open answers 201 or 503 gate_repairing (never lowering what was
// admitted), the second wave gets sold_out, and exactly 100 coupons exist.
func TestRedisFlushedAfterSellOutIssuesNoMoreThanTheLimit(t *testing.T) {
	const campaign, limit = "flushed-after-sellout", 100
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{})
	s := st.startSurge(t, couponEnv, "")
	s.openCampaign(t, campaign, limit)
	first, err := applyAll(s, campaign, users("a", 300), 32, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first wave: %v", tally(first))
	if n := len(accepted(first)); n != limit {
		t.Fatalf("first wave: %d accepted, want %d", n, limit)
	}
	settle(ctx, t, s, campaign, accepted(first))

	flushed := st.FlushRedis(t)
	opens := map[int]int{}
	_, err = eventually(ctx, outcomeBound, "the repeated open answers 201", func() (bool, error) {
		status, body, _, err := s.Do(http.MethodPost, "/v1/campaigns", map[string]any{"id": campaign, "name": "Chaos " + campaign, "limit": limit})
		if err != nil {
			return false, err
		}
		opens[status]++
		if status != http.StatusCreated && !(status == http.StatusServiceUnavailable && errorCode(body) == "gate_repairing") {
			return false, fmt.Errorf("repeated open: %d %s", status, body)
		}
		return status == http.StatusCreated, nil
	})
	t.Logf("flushed %d keys; repeated open answered %v", flushed, opens)
	if err != nil {
		t.Fatal(err)
	}

	second, err := applyAll(s, campaign, users("b", 300), 32, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second wave: %v", tally(second))
	if n := tally(second)["410 sold_out"]; n != 300 {
		t.Errorf("second wave: %d of 300 sold_out, want all (answers %v)", n, tally(second))
	}
	all := map[string]answer{}
	for u, a := range first {
		all[u] = a
	}
	for u, a := range second {
		all[u] = a
	}
	c := checkOutcomes(t, st, campaign, limit, all)
	if c.Issued != limit || c.Rejected != 0 {
		t.Errorf("database: %d issued, %d rejected; want %d and 0", c.Issued, c.Rejected, limit)
	}
	v, status, err := s.Campaign(campaign)
	if err != nil || status != http.StatusOK || v.Accepted != limit || v.Issued != limit || v.Status != "sold_out" {
		t.Errorf("campaign view after the repair: %d %+v %v", status, v, err)
	}
}

// Row 2: 60 coupons issued, 40 IssueCoupon commands queued behind a
// stopped command handler, Redis flushed and `surge rebuild` run, then a
// second wave of 100. Before, the rebuild counted only issued coupons and
// 140 were issued for 100. Now the database's limit decides the commands
// queued: exactly 100 issued, every other 202 rejected with a reason.
func TestRebuildWhileCommandsAreQueuedIssuesNoMoreThanTheLimit(t *testing.T) {
	const campaign, limit = "rebuild-queued", 100
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{})
	front := st.startSurge(t, couponEnv, "api,forwarder,projections")
	cmds := st.startSurge(t, couponEnv, "commands")
	front.openCampaign(t, campaign, limit)

	wave1, err := applyAll(front, campaign, users("a", 60), 16, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	settle(ctx, t, front, campaign, accepted(wave1))
	if err := cmds.Kill(9); err != nil {
		t.Fatal(err)
	}
	cmds.Wait(10 * time.Second) //nolint:errcheck
	wave2, err := applyAll(front, campaign, users("q", 40), 16, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(accepted(wave2)); n != 40 {
		t.Fatalf("queued wave: %d of 40 accepted (%v)", n, tally(wave2))
	}

	st.FlushRedis(t)
	rebuild, err := startProc(t, "rebuild", front.Env, "rebuild")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := rebuild.Wait(time.Minute); err != nil || code != 0 {
		t.Fatalf("surge rebuild: exit %d, %v\n%s", code, err, rebuild.tail(20))
	}
	wave3, err := applyAll(front, campaign, users("b", 100), 16, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the flush and rebuild (command handler down): %v", tally(wave3))
	st.startSurge(t, couponEnv, "commands")

	all := map[string]answer{}
	for _, w := range []map[string]answer{wave1, wave2, wave3} {
		for u, a := range w {
			all[u] = a
		}
	}
	took := settle(ctx, t, front, campaign, accepted(all))
	c := checkOutcomes(t, st, campaign, limit, all)
	t.Logf("%d accepted in all; database: %d issued, %d rejected; settled %s after the handler came back",
		len(accepted(all)), c.Issued, c.Rejected, took.Round(time.Millisecond))
	if c.Issued != limit {
		t.Errorf("%d issued, want exactly %d (the limit: more applicants than coupons were accepted)", c.Issued, limit)
	}
	for u := range c.RejectUsers {
		if st, _ := front.CouponStatus(campaign, u); st != "rejected" {
			t.Errorf("%s rejected in the database reads %q", u, st)
		}
	}
}

// Row 3: Redis flushed mid-rush (limit 500, 1,000 applicants). Before, 948
// applicants were told 404 campaign_not_found, /readyz said ready and
// nothing was logged. Now: no 404, 503 gate_repairing with Retry-After
// while the gate is rebuilt, /readyz reports redis "repairing" and the log
// says why, and in the end exactly the limit is issued.
func TestRedisFlushedMidRushNeverAnswersNotFound(t *testing.T) {
	const campaign, limit, applicants = "flushed-mid-rush", 500, 1000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{})
	s := st.startSurge(t, couponEnv, "")
	s.openCampaign(t, campaign, limit)

	var readyz sync.Map // "status/redis check" -> count
	stopProbe := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for {
			select {
			case <-stopProbe:
				return
			case <-time.After(20 * time.Millisecond):
			}
			status, body, _, err := s.Do(http.MethodGet, "/readyz", nil)
			if err != nil {
				continue
			}
			var r struct {
				Checks map[string]string `json:"checks"`
			}
			json.Unmarshal(body, &r) //nolint:errcheck
			k := fmt.Sprintf("%d/%s", status, r.Checks["redis"])
			n, _ := readyz.LoadOrStore(k, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
	}()
	var once sync.Once
	answers, err := applyAll(s, campaign, users("u", applicants), 32, time.Now().Add(2*time.Minute), func(i int) {
		if i == 250 {
			once.Do(func() { t.Logf("flushed %d keys after 250 answers", st.FlushRedis(t)) })
		}
	})
	close(stopProbe)
	<-probed
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	for _, a := range answers {
		tries += a.Tries
	}
	seen := map[string]int64{}
	readyz.Range(func(k, v any) bool { seen[k.(string)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("answers %v; %d answers of 503 retried; /readyz seen %v", tally(answers), tries, seen)
	for u, a := range answers {
		if a.Status == http.StatusNotFound {
			t.Errorf("%s was told %d %s for a campaign that exists", u, a.Status, a.Code)
			break
		}
	}
	if tries == 0 {
		t.Errorf("no applicant was told 503 while the gate was rebuilt (did the flush hit?)")
	}
	if seen["200/repairing"] == 0 {
		t.Errorf("/readyz never reported redis repairing: %v", seen)
	}
	if len(s.LogLines("missing from Redis")) == 0 {
		t.Errorf("nothing logged about the lost gate")
	}
	took := settle(ctx, t, s, campaign, accepted(answers))
	c := checkOutcomes(t, st, campaign, limit, answers)
	t.Logf("database: %d issued, %d rejected; settled in %s", c.Issued, c.Rejected, took.Round(time.Millisecond))
	if c.Issued != limit {
		t.Errorf("%d issued, want exactly the limit %d (there were %d applicants)", c.Issued, limit, applicants)
	}
}

// Row 4: Redis black-holed (packets dropped, not refused) for 3 s mid-rush.
// Before, 104 applicants got 503 after ~10 s, 46 of those slots were taken
// anyway, and 842 users were told sold_out while 54 coupons existed. Now a
// 503 comes within the Redis deadline, takes nothing (the slot of an
// admission with an unknown outcome is given back once Redis answers), and
// applicants who retry get the coupons that are left: exactly the limit is
// issued, each to a user who got 202.
func TestRedisBlackholedMidRushTakesNothingOn503(t *testing.T) {
	const campaign, limit, applicants = "blackholed-mid-rush", 300, 1000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{ProxyRedis: true})
	env := map[string]string{"SURGE_RETRY_MAX": "10", "SURGE_RETRY_MAX_ELAPSED": "30s"}
	for k, v := range couponEnv {
		env[k] = v
	}
	s := st.startSurge(t, env, "")
	s.openCampaign(t, campaign, limit)

	var blackholedAt, restoredAt time.Time
	var once sync.Once
	answers, err := applyAll(s, campaign, users("u", applicants), 32, time.Now().Add(2*time.Minute), func(i int) {
		if i == 100 {
			once.Do(func() {
				st.Redis.Blackhole()
				blackholedAt = time.Now()
				go func() {
					time.Sleep(3 * time.Second)
					st.Redis.Restore()
					restoredAt = time.Now()
				}()
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tries, slowest := 0, time.Duration(0)
	for _, a := range answers {
		tries += a.Tries
		slowest = max(slowest, a.Slow)
	}
	t.Logf("black-holed %s after the rush began, restored 3 s later; answers %v; %d answers of 503 retried, the slowest came in %s",
		blackholedAt.Format(time.StampMilli), tally(answers), tries, slowest.Round(time.Millisecond))
	if tries == 0 {
		t.Errorf("no applicant was told 503 while Redis was black-holed")
	}
	// SURGE_REDIS_TIMEOUT is 500ms: a 503 comes within two deadlines (the
	// settling of an earlier unknown admission, then the admission).
	if slowest > 1500*time.Millisecond {
		t.Errorf("a 503 took %s; every Redis call has a 500ms deadline", slowest)
	}
	took := settle(ctx, t, s, campaign, accepted(answers))
	c := checkOutcomes(t, st, campaign, limit, answers)
	t.Logf("database: %d issued, %d rejected; settled %s after the restore at %s", c.Issued, c.Rejected,
		took.Round(time.Millisecond), restoredAt.Format(time.StampMilli))
	if c.Issued != limit || c.Rejected != 0 {
		t.Errorf("%d issued, %d rejected; want exactly %d issued (nobody told sold_out while coupons are left) and none rejected", c.Issued, c.Rejected, limit)
	}
	v, status, err := s.Campaign(campaign)
	if err != nil || status != http.StatusOK || v.Accepted != limit || v.Issued != limit {
		t.Errorf("campaign view: %d %+v %v, want accepted = issued = %d", status, v, err, limit)
	}
}

// Row 5: the broker is killed and restarted empty after 100 coupons' events
// were forwarded but before the projections read them, and while 50
// IssueCoupon commands were queued. Before, 139 users stayed pending
// forever. Now the projections catch up from the event store and the
// resender re-sends the lost commands: every one of the 150 reads issued.
func TestBrokerRestartedEmptyLeavesNobodyPending(t *testing.T) {
	const campaign, limit = "broker-restarted-empty", 1000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{})
	front := st.startSurge(t, couponEnv, "api,forwarder")
	cmds := st.startSurge(t, couponEnv, "commands")
	front.openCampaign(t, campaign, limit)

	issuedFirst, err := applyAll(front, campaign, users("a", 100), 16, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = eventually(ctx, 30*time.Second, "100 coupons in the database", func() (bool, error) {
		c, err := st.Coupons(campaign)
		return c.Issued == 100, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmds.Kill(9); err != nil {
		t.Fatal(err)
	}
	cmds.Wait(10 * time.Second) //nolint:errcheck
	queued, err := applyAll(front, campaign, users("q", 50), 16, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := front.CouponStatus(campaign, "a0000"); st != "pending" {
		t.Fatalf("before the broker restart a0000 reads %q; want pending (no projection has run)", st)
	}
	restarted := time.Now()
	st.RestartBroker()
	st.startSurge(t, couponEnv, "commands,projections")

	all := map[string]answer{}
	for _, w := range []map[string]answer{issuedFirst, queued} {
		for u, a := range w {
			all[u] = a
		}
	}
	if n := len(accepted(all)); n != 150 {
		t.Fatalf("%d of 150 accepted: %v", n, tally(all))
	}
	settle(ctx, t, front, campaign, accepted(all))
	c := checkOutcomes(t, st, campaign, limit, all)
	t.Logf("settled %s after the empty broker came back: %d issued, %d rejected", time.Since(restarted).Round(time.Millisecond), c.Issued, c.Rejected)
	if c.Issued != 150 || c.Rejected != 0 {
		t.Errorf("database: %d issued, %d rejected; want 150 and 0", c.Issued, c.Rejected)
	}
	for _, u := range accepted(all) {
		if st, _ := front.CouponStatus(campaign, u); st != "issued" {
			t.Errorf("%s reads %q, want issued", u, st)
		}
	}
}
