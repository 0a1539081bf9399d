package s3server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/infra/objectstore"
	"github.com/surge-platform/surge/infra/objectstore/s3server"
)

func start(t *testing.T, opts s3server.Options) *s3server.Server {
	t.Helper()
	srv, err := s3server.Start(opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func store(t *testing.T, srv *s3server.Server) *objectstore.Store {
	t.Helper()
	s, err := objectstore.New(objectstore.Config{Endpoint: srv.URL(), Bucket: "assets", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return s
}

func TestLatencyIsPerRequestNotSerialized(t *testing.T) {
	srv := start(t, s3server.Options{Latency: 200 * time.Millisecond, Buckets: []string{"assets"}})
	s := store(t, srv)
	ctx := context.Background()

	var pairs []objectstore.CopyPair
	var wg sync.WaitGroup
	for i := range 8 {
		src := fmt.Sprintf("templates/t/%d.png", i)
		pairs = append(pairs, objectstore.CopyPair{From: src, To: "copies/c/" + src})
		wg.Go(func() {
			if err := s.Put(ctx, src, []byte("x"), ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	// Serialized latency would take 1.6s. A few attempts absorb a busy machine.
	var took []time.Duration
	for range 3 {
		start := time.Now()
		if err := s.CopyAll(ctx, pairs, 8); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		if d := took[len(took)-1]; d >= 200*time.Millisecond && d <= 600*time.Millisecond {
			t.Logf("8 parallel copies at 200ms latency: %v (attempts %v)", d, took)
			return
		}
	}
	t.Fatalf("8 parallel copies at 200ms latency took %v, want ~200ms", took)
}

func TestRequestsCountsEveryRequest(t *testing.T) {
	srv := start(t, s3server.Options{Buckets: []string{"assets"}})
	before := srv.Requests()
	for range 3 {
		resp, err := http.Head(srv.URL() + "/assets")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HEAD bucket: %s", resp.Status)
		}
	}
	if got := srv.Requests() - before; got != 3 {
		t.Fatalf("Requests grew by %d, want 3", got)
	}
}

func TestOnlyLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "192.0.2.1:0", "example.com:0", "nonsense"} {
		if srv, err := s3server.Start(s3server.Options{Addr: addr}); err == nil {
			srv.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
	srv := start(t, s3server.Options{Addr: "localhost:0"})
	if srv.URL() == "" {
		t.Fatal("no URL")
	}
}

func TestDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	opts := s3server.Options{Dir: dir, Buckets: []string{"assets"}}
	ctx := context.Background()
	keys := []string{"templates/a b+c/01.png", "templates/日本/02.png", "templates/gone.png"}

	srv := start(t, opts)
	s := store(t, srv)
	for _, k := range keys {
		if err := s.Put(ctx, k, []byte("body "+k), "image/png"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Copy(ctx, keys[0], "copies/c1/"+keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAll(ctx, []string{"templates/gone.png"}); err != nil {
		t.Fatal(err)
	}
	before, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	time.Sleep(10 * time.Millisecond) // so a reset LastModified would show
	srv = start(t, opts)              // same Dir; "assets" already exists
	s = store(t, srv)
	after, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after restart List = %v\nbefore = %v", after, before)
	}
	if len(after) != 3 {
		t.Fatalf("want 3 objects (2 sources, 1 copy), got %v", after)
	}
	got, err := s.Get(ctx, "copies/c1/"+keys[0])
	if err != nil || string(got) != "body "+keys[0] {
		t.Fatalf("copy after restart = %q, %v", got, err)
	}
	if _, ok, err := s.Head(ctx, "templates/gone.png"); ok || err != nil {
		t.Fatalf("deleted object came back: %v, %v", ok, err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	srv, err := s3server.Start(s3server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}
