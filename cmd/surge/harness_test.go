package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/internal/app"
	"github.com/surge-platform/surge/internal/testenv"
)

// The roles the tests run (test bodies name their app "app", which hides
// the package).
var (
	allRoles = app.AllRoles
	apiRole  = app.Roles{API: true}
)

// Roles is a process's roles.
type Roles = app.Roles

// testApp is a Surge process running in the test, on real backends,
// driven over HTTP.
type testApp struct {
	*app.App
	URL    string
	stop   context.CancelFunc
	done   chan error
	client *http.Client
}

// startApp runs the app with cfg until the test ends (or Stop).
func startApp(t testing.TB, cfg config.Config, roles app.Roles) *testApp {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	surge, err := app.New(ctx, cfg, roles, logger)
	if err != nil {
		cancel()
		t.Fatalf("start app: %v", err)
	}
	ta := &testApp{App: surge, stop: cancel, done: make(chan error, 1),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}}
	if surge.Addr() != "" {
		ta.URL = "http://" + surge.Addr()
	}
	ready := make(chan struct{})
	go func() { ta.done <- surge.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-ta.done:
		t.Fatalf("app stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("app not ready after 60s")
	}
	t.Cleanup(ta.Stop)
	return ta
}

// Stop shuts the app down gracefully and waits for it.
func (a *testApp) Stop() {
	a.stop()
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
	}
}

type response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v.
func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// ErrorCode returns error.code of an error body ("" if none).
func (r response) ErrorCode() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e) //nolint:errcheck
	return e.Error.Code
}

// requireError fails unless r is the API's JSON error with this status and
// code and a readable message.
func (r response) requireError(t testing.TB, status int, code string) {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	r.JSON(t, &body)
	if body.Error.Message == "" {
		t.Fatalf("no message in %s", r.Body)
	}
}

// waitQuiet waits until everything written so far was handled (the outbox
// forwarded, every consumer group at the end of its topic), so a test can
// assert that nothing more will arrive.
func waitQuiet(t testing.TB, a *testApp) {
	t.Helper()
	ctx := context.Background()
	var lastErr error
	testenv.Eventually(t, 30*time.Second, "outbox forwarded and consumer lag zero", func() bool {
		quiet, err := a.Quiet(ctx)
		lastErr = err
		return quiet
	})
	if lastErr != nil {
		t.Fatalf("quiet: %v", lastErr)
	}
}

// try sends a request and returns what came back or why nothing did; safe
// in any goroutine (do is the test goroutine's version).
func (a *testApp) try(method, path string, body any, headers ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewBuffer(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewBuffer(buf)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	return response{Status: res.StatusCode, Body: b, Header: res.Header}, nil
}

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON). Headers are "Key", "Value" pairs.
func (a *testApp) do(t testing.TB, method, path string, body any, headers ...string) response {
	t.Helper()
	res, err := a.try(method, path, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
