package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/infra/auth"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/stomp"
	"github.com/surge-platform/surge/internal/testenv"
)

type alertView struct {
	AlertID    string   `json:"alertId"`
	ComplexID  string   `json:"complexId"`
	House      string   `json:"house"`
	Text       string   `json:"text"`
	Lat        *float64 `json:"lat"`
	Lng        *float64 `json:"lng"`
	Status     string   `json:"status"`
	RaisedAt   string   `json:"raisedAt"`
	AcceptedBy string   `json:"acceptedBy"`
	AcceptedAt string   `json:"acceptedAt"`
}

func raiseAlert(t *testing.T, app *testApp, complexID string, body any, headers ...string) string {
	t.Helper()
	res := app.do(t, "POST", "/v1/complexes/"+complexID+"/alerts", body, headers...)
	var v struct{ AlertID, Status string }
	res.JSON(t, &v)
	if res.Status != http.StatusAccepted || v.AlertID == "" || v.Status != "raised" {
		t.Fatalf("raise: %d %s", res.Status, res.Body)
	}
	return v.AlertID
}

func feedOf(t *testing.T, app *testApp, complexID string, after int64) ([]map[string]any, int64) {
	t.Helper()
	res := app.do(t, "GET", fmt.Sprintf("/v1/complexes/%s/alerts?after=%d&limit=500", complexID, after), nil)
	var v struct {
		Events   []map[string]any `json:"events"`
		Position int64            `json:"position"`
	}
	res.JSON(t, &v)
	if res.Status != http.StatusOK {
		t.Fatalf("feed: %d %s", res.Status, res.Body)
	}
	return v.Events, v.Position
}

// The life of an alert over HTTP, and what residents on a WebSocket see:
// the raise, the first acceptance (later acceptors get 409 naming the
// winner), the read model, the catch-up feed with the very bytes pushed.
func TestAlertIsRaisedPushedAcceptedOnce(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)

	resident, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	connected := resident.connect(t)
	if header(connected, "version") != "1.2" {
		t.Fatalf("CONNECTED %v", connected.Headers)
	}
	// x-after:0: everything of the line, whenever the SUBSCRIBE is served.
	resident.subscribe(t, "sub-0", "/sub/line/A", "x-after", "0")
	other, _, err := dialStomp(t, app.URL, "/an-ws", nil)
	testenv.Must(t, err, "dial an-ws")
	other.connect(t)
	other.subscribe(t, "sub-b", "/sub/line/B", "x-after", "0")

	id := raiseAlert(t, app, "A", map[string]any{"house": "101-1203", "text": "smoke on 12F", "lat": 37.51, "lng": 127.02})
	msgs := resident.waitMessages(t, 1, 5*time.Second)
	m := msgs[0]
	if header(m, "destination") != "/sub/line/A" || header(m, "subscription") != "sub-0" || header(m, "type") != "alert" ||
		header(m, "position") != "1" || header(m, "content-type") != "application/json" {
		t.Fatalf("MESSAGE headers %v", m.Headers)
	}
	var pushed map[string]any
	testenv.Must(t, json.Unmarshal(m.Body, &pushed), "body")
	if pushed["alertId"] != id || pushed["house"] != "101-1203" || pushed["text"] != "smoke on 12F" || pushed["lat"] != 37.51 || pushed["type"] != "alert" {
		t.Fatalf("pushed %s", m.Body)
	}

	// An acceptance right after the 202: never 404. The raiser's own: 422.
	res := app.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "101-1203"})
	res.requireError(t, http.StatusUnprocessableEntity, "cannot_accept_own_alert")
	res = app.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "102-0501"})
	if res.Status != http.StatusAccepted || string(res.Body) != `{"acceptedBy":"102-0501","alertId":"`+id+`","status":"accepted"}` {
		t.Fatalf("accept: %d %s", res.Status, res.Body)
	}
	late := app.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "103-0101"})
	late.requireError(t, http.StatusConflict, "already_accepted")
	if !strings.Contains(string(late.Body), "102-0501") {
		t.Fatalf("the 409 does not name the winner: %s", late.Body)
	}
	cancel := app.do(t, "POST", "/v1/alerts/"+id+"/cancellation", map[string]string{"house": "101-1203"})
	cancel.requireError(t, http.StatusConflict, "already_accepted")
	notRaiser := app.do(t, "POST", "/v1/alerts/"+id+"/cancellation", map[string]string{"house": "102-0501"})
	notRaiser.requireError(t, http.StatusForbidden, "not_the_raiser")

	msgs = resident.waitMessages(t, 2, 5*time.Second)
	var acc map[string]any
	testenv.Must(t, json.Unmarshal(msgs[1].Body, &acc), "accept body")
	if header(msgs[1], "type") != "accept" || header(msgs[1], "position") != "2" || acc["acceptedBy"] != "102-0501" || acc["target"] != "101-1203" {
		t.Fatalf("accept push %v %s", msgs[1].Headers, msgs[1].Body)
	}
	if n := len(other.messages()); n != 0 {
		t.Fatalf("a resident of B received %d notices of A", n)
	}

	// The read model, once the events are through.
	var v alertView
	testenv.Eventually(t, 10*time.Second, "the read model shows the acceptance", func() bool {
		app.do(t, "GET", "/v1/alerts/"+id, nil).JSON(t, &v)
		return v.Status == "accepted"
	})
	if v.AlertID != id || v.ComplexID != "A" || v.House != "101-1203" || v.AcceptedBy != "102-0501" || v.AcceptedAt == "" || v.RaisedAt == "" ||
		v.Lat == nil || *v.Lat != 37.51 || v.Lng == nil || *v.Lng != 127.02 {
		t.Fatalf("view %+v", v)
	}

	// The catch-up serves exactly the bytes that were pushed, in order.
	res = app.do(t, "GET", "/v1/complexes/A/alerts?after=0", nil)
	want := `{"events":[` + string(msgs[0].Body) + `,` + string(msgs[1].Body) + `],"position":2}`
	if res.Status != http.StatusOK || string(res.Body) != want {
		t.Fatalf("feed:\n%s\nwant\n%s", res.Body, want)
	}
	if events, pos := feedOf(t, app, "A", 1); len(events) != 1 || pos != 2 || events[0]["type"] != "accept" {
		t.Fatalf("feed after 1: %v %d", events, pos)
	}
	if events, pos := feedOf(t, app, "A", 2); len(events) != 0 || pos != 2 {
		t.Fatalf("feed after 2: %v %d", events, pos)
	}
	waitQuiet(t, app)
	var accepted, refused int
	testenv.Must(t, app.DB().QueryRow(`SELECT count(*) FILTER (WHERE event_type = 'alert.accepted.v1'), count(*) FILTER (WHERE event_type = 'alert.action_refused.v1') FROM events`).Scan(&accepted, &refused), "count")
	if accepted != 1 || refused != 0 {
		t.Fatalf("%d AlertAccepted, %d refusals; want 1 and 0", accepted, refused)
	}
}

// 50 residents accept the same alert at once, across two API instances:
// exactly one 202, 49 × 409 naming the same winner, one AlertAccepted.
func TestFirstAcceptorWinsAcrossInstances(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	second := startApp(t, cfg, apiRole)
	id := raiseAlert(t, app, "A", map[string]any{"house": "101-0101"})

	type result struct {
		status int
		body   string
		err    error
	}
	results := make([]result, 50)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			inst := []*testApp{app, second}[i%2]
			res, err := inst.try("POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": fmt.Sprintf("2%02d-0101", i)})
			results[i] = result{res.Status, string(res.Body), err}
		}()
	}
	close(start)
	wg.Wait()
	winner := ""
	var conflicts int
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("acceptance %d: %v", i, r.err)
		case r.status == http.StatusAccepted:
			if winner != "" {
				t.Fatalf("two winners: %s and %s", winner, r.body)
			}
			winner = fmt.Sprintf("2%02d-0101", i)
		case r.status == http.StatusConflict && strings.Contains(r.body, `"already_accepted"`):
			conflicts++
		default:
			t.Fatalf("acceptance %d: %d %s", i, r.status, r.body)
		}
	}
	if winner == "" || conflicts != 49 {
		t.Fatalf("winner %q, %d conflicts", winner, conflicts)
	}
	for i, r := range results {
		if r.status == http.StatusConflict && !strings.Contains(r.body, winner) {
			t.Fatalf("acceptance %d: the 409 names another winner than %s: %s", i, winner, r.body)
		}
	}
	waitQuiet(t, app)
	var accepted int
	var acceptedBy string
	testenv.Must(t, app.DB().QueryRow(`SELECT count(*), coalesce(max(payload->>'acceptedBy'), '') FROM events WHERE event_type = 'alert.accepted.v1'`).Scan(&accepted, &acceptedBy), "count")
	if accepted != 1 || acceptedBy != winner {
		t.Fatalf("%d AlertAccepted by %q, want 1 by %s", accepted, acceptedBy, winner)
	}
}

// Redis loses the alert: the next acceptance restores it from the stream
// (never 404), the read model falls back to the stream, and when Redis had
// lost a claim already granted, the stream decides: one AlertAccepted, and
// the second acceptor is told "reject" naming the winner.
func TestAlertSurvivesRedisLossAndTheStreamHasTheLastWord(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	watcher, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	watcher.connect(t)
	watcher.subscribe(t, "s", "/sub/line/A", "x-after", "0")
	id := raiseAlert(t, app, "A", map[string]any{"house": "101-0101", "text": "fall in the stairwell"})

	flush := func() {
		ctx := context.Background()
		keys, err := app.Redis().Keys(ctx, cfg.RedisPrefix+"alert:*").Result()
		testenv.Must(t, err, "keys")
		if len(keys) > 0 {
			testenv.Must(t, app.Redis().Del(ctx, keys...).Err(), "flush")
		}
	}
	flush()
	var v alertView
	app.do(t, "GET", "/v1/alerts/"+id, nil).JSON(t, &v)
	if v.Status != "raised" || v.House != "101-0101" || v.Text != "fall in the stairwell" {
		t.Fatalf("view from the stream: %+v", v)
	}
	// First acceptor; then Redis loses the claim before the stream records it.
	if res := app.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "202-0101"}); res.Status != http.StatusAccepted {
		t.Fatalf("first: %d %s", res.Status, res.Body)
	}
	waitQuiet(t, app)
	flush()
	// Restored from the stream, the claim now knows the winner.
	res := app.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "303-0101"})
	res.requireError(t, http.StatusConflict, "already_accepted")

	// Forge the race the fast path cannot see: a second acceptance command
	// for another house, as if Redis had granted two claims.
	second := startApp(t, cfg, apiRole)
	flush()
	ctx := context.Background()
	testenv.Must(t, app.Redis().HSet(ctx, cfg.RedisPrefix+"alert:{"+id+"}", "complexId", "A", "house", "101-0101", "status", "raised").Err(), "forged hash")
	if res := second.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "404-0101"}); res.Status != http.StatusAccepted {
		t.Fatalf("forged second claim: %d %s", res.Status, res.Body)
	}
	msgs := watcher.waitMessages(t, 3, 10*time.Second)
	reject := msgs[2]
	var body map[string]any
	testenv.Must(t, json.Unmarshal(reject.Body, &body), "reject body")
	if header(reject, "type") != "reject" || body["target"] != "404-0101" || body["acceptedBy"] != "202-0101" || body["reason"] != "already_accepted" {
		t.Fatalf("reject push %v %s", reject.Headers, reject.Body)
	}
	waitQuiet(t, app)
	var accepted int
	testenv.Must(t, app.DB().QueryRow(`SELECT count(*) FROM events WHERE event_type = 'alert.accepted.v1'`).Scan(&accepted), "count")
	if accepted != 1 {
		t.Fatalf("%d AlertAccepted, want 1", accepted)
	}
	testenv.Eventually(t, 10*time.Second, "the read model names the stream's winner", func() bool {
		app.do(t, "GET", "/v1/alerts/"+id, nil).JSON(t, &v)
		return v.Status == "accepted" && v.AcceptedBy == "202-0101"
	})
}

// A resident who was away resumes with x-after: exactly what they missed,
// in order, once each, then live.
func TestResidentResumesWithXAfter(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	for i := 0; i < 3; i++ {
		raiseAlert(t, app, "A", map[string]any{"house": fmt.Sprintf("10%d-0101", i)})
	}
	c, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	c.connect(t)
	c.subscribe(t, "s", "/sub/line/A", "x-after", "1")
	c.waitMessages(t, 2, 5*time.Second)
	raiseAlert(t, app, "A", map[string]any{"house": "109-0101"})
	raiseAlert(t, app, "A", map[string]any{"house": "110-0101"})
	c.waitMessages(t, 4, 5*time.Second)
	// Notices come in order: a duplicate of 2..4 would have come before 5.
	msgs := c.messages()
	var positions []string
	for _, m := range msgs {
		positions = append(positions, header(m, "position"))
	}
	if strings.Join(positions, ",") != "2,3,4,5" {
		t.Fatalf("positions %v, want 2,3,4,5", positions)
	}
}

// Bad STOMP gets an ERROR frame with a readable message and the connection
// closes; the server keeps serving the others.
func TestBadStompGetsAnErrorFrame(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Set("SURGE_STOMP_CONNECT_TIMEOUT", "1s")
	app := startApp(t, cfg, allRoles)
	good, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	good.connect(t)
	good.subscribe(t, "s", "/sub/line/A")

	for name, tc := range map[string]struct {
		connect bool
		frame   []byte
		want    string
	}{
		"subscribe before connect": {false, stomp.AppendFrame(nil, stomp.NewFrame("SUBSCRIBE", "id", "1", "destination", "/sub/line/A")), "CONNECT first"},
		"another destination":      {true, stomp.AppendFrame(nil, stomp.NewFrame("SUBSCRIBE", "id", "1", "destination", "/topic/everything")), "unknown destination"},
		"bad complex":              {true, stomp.AppendFrame(nil, stomp.NewFrame("SUBSCRIBE", "id", "1", "destination", "/sub/line/a b")), "unknown destination"},
		"no id":                    {true, stomp.AppendFrame(nil, stomp.NewFrame("SUBSCRIBE", "destination", "/sub/line/A")), "needs an id"},
		"bad x-after":              {true, stomp.AppendFrame(nil, stomp.NewFrame("SUBSCRIBE", "id", "1", "destination", "/sub/line/A", "x-after", "-3")), "x-after"},
		"garbage":                  {true, []byte("HELLO\n\n\x00"), "malformed frame"},
		"oversized frame":          {true, []byte("SEND\ndestination:/x\n\n" + strings.Repeat("x", 20<<10) + "\x00"), "malformed frame"},
		"send":                     {true, stomp.AppendFrame(nil, stomp.NewFrame("SEND", "destination", "/sub/line/A")), "not supported"},
		"server frame":             {true, stomp.AppendFrame(nil, stomp.NewFrame("MESSAGE")), "server frame"},
	} {
		t.Run(name, func(t *testing.T) {
			c, _, err := dialStomp(t, app.URL, "/ws", nil)
			testenv.Must(t, err, "dial")
			if tc.connect {
				c.connect(t)
			}
			testenv.Must(t, c.sendRaw(tc.frame), "send")
			f := c.waitFrame(t, 5*time.Second, func(f *stomp.Frame) bool { return f.Command == "ERROR" })
			if !strings.Contains(header(f, "message"), tc.want) {
				t.Fatalf("ERROR message %q, want it to say %q", header(f, "message"), tc.want)
			}
			c.waitClosed(t, 5*time.Second)
		})
	}
	// Silent after the upgrade: an ERROR frame once SURGE_STOMP_CONNECT_TIMEOUT
	// (1s here) passed, then the connection closes; a connected client
	// without heart-beats is not timed out.
	dialled := time.Now() // before the upgrade, so before the server's timer starts
	silent, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	quiet, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	quiet.connect(t) // heart-beat 0,0
	f := silent.waitFrame(t, 5*time.Second, func(f *stomp.Frame) bool { return f.Command == "ERROR" })
	if took := time.Since(dialled); !strings.Contains(header(f, "message"), "no CONNECT") || took < 900*time.Millisecond || took > 3*time.Second {
		t.Fatalf("silent client: ERROR %q after %s, want 'no CONNECT' after about 1s", header(f, "message"), took)
	}
	silent.waitClosed(t, 5*time.Second)
	quiet.subscribe(t, "q", "/sub/line/A")

	// Not a WebSocket at all: a JSON 400.
	res := app.do(t, "GET", "/ws", nil)
	res.requireError(t, http.StatusBadRequest, "websocket_required")
	// The good client was served throughout.
	raiseAlert(t, app, "A", map[string]any{"house": "101-0101"})
	good.waitMessages(t, 1, 5*time.Second)
	quiet.waitMessages(t, 1, 5*time.Second)
}

// Bad HTTP input: the documented 4xx, nothing written.
func TestAlertBadInputGetsAClearErrorAndWritesNothing(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	id := raiseAlert(t, app, "A", map[string]any{"house": "101-0101"})
	waitQuiet(t, app)
	before := snapshot(t, app, cfg.RedisPrefix)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"malformed json", "POST", "/v1/complexes/A/alerts", `{"house":`, 400, "invalid_json"},
		{"no house", "POST", "/v1/complexes/A/alerts", `{"text":"x"}`, 400, "missing_field"},
		{"long house", "POST", "/v1/complexes/A/alerts", `{"house":"` + strings.Repeat("1", 33) + `"}`, 422, "invalid_house"},
		{"long text", "POST", "/v1/complexes/A/alerts", `{"house":"1","text":"` + strings.Repeat("x", 501) + `"}`, 422, "invalid_text"},
		{"lat alone", "POST", "/v1/complexes/A/alerts", `{"house":"1","lat":1}`, 422, "invalid_location"},
		{"lat out of range", "POST", "/v1/complexes/A/alerts", `{"house":"1","lat":91,"lng":0}`, 422, "invalid_location"},
		{"lng out of range", "POST", "/v1/complexes/A/alerts", `{"house":"1","lat":0,"lng":-181}`, 422, "invalid_location"},
		{"lat as a string", "POST", "/v1/complexes/A/alerts", `{"house":"1","lat":"1","lng":2}`, 400, "invalid_type"},
		{"bad complex", "POST", "/v1/complexes/a%20b/alerts", `{"house":"1"}`, 400, "invalid_complex_id"},
		{"unknown alert", "POST", "/v1/alerts/nope/acceptances", `{"house":"1"}`, 404, "alert_not_found"},
		{"unknown alert view", "GET", "/v1/alerts/nope", nil, 404, "alert_not_found"},
		{"accept without house", "POST", "/v1/alerts/" + id + "/acceptances", `{}`, 400, "missing_field"},
		{"cancel unknown", "POST", "/v1/alerts/nope/cancellation", `{"house":"1"}`, 404, "alert_not_found"},
		{"bad after", "GET", "/v1/complexes/A/alerts?after=-1", nil, 400, "invalid_after"},
		{"bad limit", "GET", "/v1/complexes/A/alerts?limit=501", nil, 400, "invalid_limit"},
		{"unknown parameter", "GET", "/v1/complexes/A/alerts?since=1", nil, 400, "unknown_parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app.do(t, tc.method, tc.path, tc.body).requireError(t, tc.status, tc.code)
		})
	}
	if after := snapshot(t, app, cfg.RedisPrefix); after != before {
		t.Fatalf("bad requests wrote something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// With SURGE_RESIDENT_JWT_SECRET set, a resident proves who they are: no
// token, an expired one or another complex's cannot subscribe to A or
// raise there; a token of A acts as its own house only.
func TestResidentTokensGuardTheirComplex(t *testing.T) {
	const secret = "an-hs256-secret-of-at-least-32-bytes"
	cfg := testenv.Config(t)
	cfg.Set("SURGE_RESIDENT_JWT_SECRET", secret)
	app := startApp(t, cfg, allRoles)
	residents, err := auth.NewResidents(secret)
	testenv.Must(t, err, "residents")
	mint := func(complex, house string, ttl time.Duration) string {
		tok, err := residents.Mint(complex, house, ttl)
		testenv.Must(t, err, "mint")
		return tok
	}
	tokenA, tokenB, expired := mint("A", "101-1203", time.Hour), mint("B", "101-1203", time.Hour), mint("A", "101-1203", -time.Minute)
	other, _ := auth.NewResidents("another-secret-of-at-least-32-bytes!")
	forged, _ := other.Mint("A", "101-1203", time.Hour)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	// HTTP.
	raise := map[string]any{"house": "101-1203"}
	app.do(t, "POST", "/v1/complexes/A/alerts", raise).requireError(t, http.StatusUnauthorized, "token_required")
	app.do(t, "POST", "/v1/complexes/A/alerts", raise, bearer(expired)...).requireError(t, http.StatusUnauthorized, "token_expired")
	app.do(t, "POST", "/v1/complexes/A/alerts", raise, bearer(forged)...).requireError(t, http.StatusUnauthorized, "invalid_token")
	app.do(t, "POST", "/v1/complexes/A/alerts", raise, bearer(tokenB)...).requireError(t, http.StatusForbidden, "wrong_complex")
	app.do(t, "POST", "/v1/complexes/A/alerts", map[string]any{"house": "999-9999"}, bearer(tokenA)...).requireError(t, http.StatusForbidden, "house_mismatch")
	app.do(t, "GET", "/v1/complexes/A/alerts", nil, bearer(tokenB)...).requireError(t, http.StatusForbidden, "wrong_complex")
	id := raiseAlert(t, app, "A", raise, bearer(tokenA)...)
	app.do(t, "GET", "/v1/alerts/"+id, nil, bearer(tokenB)...).requireError(t, http.StatusForbidden, "wrong_complex")
	app.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "102-0101"}, bearer(tokenB)...).requireError(t, http.StatusForbidden, "house_mismatch")
	neighbour := mint("A", "102-0101", time.Hour)
	if res := app.do(t, "POST", "/v1/alerts/"+id+"/acceptances", map[string]string{"house": "102-0101"}, bearer(neighbour)...); res.Status != http.StatusAccepted {
		t.Fatalf("the neighbour's acceptance: %d %s", res.Status, res.Body)
	}

	// STOMP.
	for name, tc := range map[string]struct {
		headers []string
		want    string
	}{
		"no token":      {nil, "token_required"},
		"expired token": {[]string{"passcode", expired}, "token_expired"},
		"forged token":  {[]string{"Authorization", "Bearer " + forged}, "invalid_token"},
	} {
		t.Run(name, func(t *testing.T) {
			c, _, err := dialStomp(t, app.URL, "/ws", nil)
			testenv.Must(t, err, "dial")
			f := stomp.NewFrame("CONNECT", append([]string{"accept-version", "1.2", "host", "surge"}, tc.headers...)...)
			testenv.Must(t, c.send(f), "connect")
			got := c.waitFrame(t, 5*time.Second, func(f *stomp.Frame) bool { return f.Command == "ERROR" || f.Command == "CONNECTED" })
			if got.Command != "ERROR" || !strings.Contains(header(got, "message"), tc.want) {
				t.Fatalf("%s: %s %v", name, got.Command, got.Headers)
			}
			c.waitClosed(t, 5*time.Second)
		})
	}
	c, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	c.connect(t, "passcode", tokenB)
	c.subscribe(t, "s", "/sub/line/A")
	f := c.waitFrame(t, 5*time.Second, func(f *stomp.Frame) bool { return f.Command == "ERROR" })
	if !strings.Contains(header(f, "message"), "your own complex") {
		t.Fatalf("B subscribing to A: %v", f.Headers)
	}
	ok, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	ok.connect(t, "Authorization", "Bearer "+tokenA)
	ok.subscribe(t, "s", "/sub/line/A", "x-after", "0")
	ok.waitMessages(t, 2, 5*time.Second) // the alert and its acceptance
}

// A burst of emergency calls in one complex: 16 residents raise at once,
// 10 times each; every raise gets 202 (writers that pick the same feed
// position back off and retry), and the feed is dense: 1..160.
func TestConcurrentRaisesInOneComplexAllSucceed(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	var wg sync.WaitGroup
	failures := make(chan string, 160)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				res, err := app.try("POST", "/v1/complexes/A/alerts", map[string]any{"house": fmt.Sprintf("%d-%d", w, i)})
				if err != nil || res.Status != http.StatusAccepted {
					failures <- fmt.Sprintf("raise %d/%d: %d %s %v", w, i, res.Status, res.Body, err)
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	events, pos := feedOf(t, app, "A", 0)
	if len(events) != 160 || pos != 160 {
		t.Fatalf("feed: %d events up to %d, want 160 up to 160", len(events), pos)
	}
	for i, e := range events {
		if e["position"] != float64(i+1) {
			t.Fatalf("feed entry %d has position %v", i, e["position"])
		}
	}
}

// A notice that never reaches the push instance through Kafka (here no
// forwarder runs at all) still reaches the subscribers: the instance
// compares its feeds with their heads in the store and they read the rest.
func TestNoticesLostOnTheirWayStillArrive(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.PushWatchInterval = 200 * time.Millisecond
	app := startApp(t, cfg, Roles{API: true, Push: true, Commands: true, Projections: true})
	resident, _, err := dialStomp(t, app.URL, "/ws", nil)
	testenv.Must(t, err, "dial")
	resident.connect(t)
	resident.subscribe(t, "s", "/sub/line/A", "x-after", "0")
	createRoom(t, app, "quiet", "Quiet")
	stream := openStream(t, app.URL+"/v1/rooms/quiet/stream", 0)

	t0 := time.Now()
	id := raiseAlert(t, app, "A", map[string]any{"house": "101-0101"})
	postMessage(t, app, "quiet", "u", "nobody forwards me")
	m := resident.waitMessages(t, 1, 5*time.Second)[0]
	if header(m, "position") != "1" || !strings.Contains(string(m.Body), id) {
		t.Fatalf("notice %v %s", m.Headers, m.Body)
	}
	e := stream.wait(t, 1, 5*time.Second)[0]
	if e.ID != 1 || e.Event != "message" || !strings.Contains(e.Data, "nobody forwards me") {
		t.Fatalf("event %+v", e)
	}
	t.Logf("delivered %s after the raise, with no event through Kafka", time.Since(t0).Round(time.Millisecond))
}

// A claim with no command behind it (the API died between the Redis
// claim and the send, or Kafka lost the command) is settled: the settler
// sends the command again and the stream decides it once. Meanwhile every
// other acceptor is told who holds the claim, and nobody is left waiting
// for an "accepted" that would never come.
func TestAClaimNothingDecidedIsSettledFromTheLedger(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Set("SURGE_ALERT_CLAIM_GRACE", "2s") // a re-sent command has 2 s to be handled before it is sent again
	cfg.Set("SURGE_ALERT_CLAIM_INTERVAL", "100ms")
	app := startApp(t, cfg, allRoles)
	ctx := context.Background()
	claims := redis.NewAlerts(app.Redis(), cfg.RedisPrefix)
	accepted := raiseAlert(t, app, "A", map[string]any{"house": "101-0101", "text": "smoke on 3F"})
	cancelled := raiseAlert(t, app, "A", map[string]any{"house": "102-0101", "text": "false alarm, sorry"})
	waitQuiet(t, app)

	// The claims an API took just before it died: no command was sent.
	won, _, err := claims.ClaimAccept(ctx, accepted, "202-0101")
	testenv.Must(t, err, "claim")
	first, err := claims.ClaimCancel(ctx, cancelled, "102-0101")
	testenv.Must(t, err, "cancel claim")
	if !won || !first {
		t.Fatalf("claims: accept %v, cancel %v", won, first)
	}
	// The fast path already answers for them.
	late := app.do(t, "POST", "/v1/alerts/"+accepted+"/acceptances", map[string]string{"house": "303-0101"})
	late.requireError(t, http.StatusConflict, "already_accepted")
	if !strings.Contains(string(late.Body), "202-0101") {
		t.Fatalf("a late acceptor was not told who holds the claim: %s", late.Body)
	}
	app.do(t, "POST", "/v1/alerts/"+cancelled+"/acceptances", map[string]string{"house": "303-0101"}).requireError(t, http.StatusConflict, "alert_cancelled")

	testenv.Eventually(t, 15*time.Second, "both claims decided by their streams", func() bool {
		var a, c alertView
		app.do(t, "GET", "/v1/alerts/"+accepted, nil).JSON(t, &a)
		app.do(t, "GET", "/v1/alerts/"+cancelled, nil).JSON(t, &c)
		return a.Status == "accepted" && a.AcceptedBy == "202-0101" && c.Status == "cancelled"
	})
	waitQuiet(t, app)
	time.Sleep(time.Second) // several more passes: nothing more is sent
	counts := map[string]int{}
	rows, err := app.DB().Query(`SELECT event_type, count(*) FROM events WHERE stream_id IN ($1, $2) GROUP BY event_type`, "alert/"+accepted, "alert/"+cancelled)
	testenv.Must(t, err, "count")
	for rows.Next() {
		var typ string
		var n int
		testenv.Must(t, rows.Scan(&typ, &n), "scan")
		counts[typ] = n
	}
	testenv.Must(t, rows.Err(), "rows")
	want := map[string]int{"alert.raised.v1": 2, "alert.accepted.v1": 1, "alert.cancelled.v1": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("events of the two alerts %v, want %v", counts, want)
	}
	if n := metric(t, app, "surge_alert_claims_resent_total"); n != 2 {
		t.Fatalf("surge_alert_claims_resent_total = %d, want 2 (one command per claim)", n)
	}
	left, err := claims.StaleClaims(ctx, time.Now().Add(time.Hour), 10)
	testenv.Must(t, err, "ledger")
	if len(left) != 0 {
		t.Fatalf("the claims ledger still holds %v", left)
	}
}
