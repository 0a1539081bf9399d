package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/infra/objectstore"
	"github.com/surge-platform/surge/infra/objectstore/s3server"
)

const bucket = "surge-test"

func startServer(t *testing.T, opts s3server.Options) *s3server.Server {
	t.Helper()
	srv, err := s3server.Start(opts)
	if err != nil {
		t.Fatalf("start s3server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newStore(t *testing.T, endpoint string, timeout time.Duration) *objectstore.Store {
	t.Helper()
	s, err := objectstore.New(objectstore.Config{
		Endpoint:        endpoint,
		Bucket:          bucket,
		AccessKeyID:     "test",
		SecretAccessKey: "test",
		Timeout:         timeout,
	})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return s
}

// readyStore returns a store with its bucket created on a fresh server.
func readyStore(t *testing.T, opts s3server.Options) (*objectstore.Store, *s3server.Server) {
	t.Helper()
	srv := startServer(t, opts)
	// Generous: these tests are about behaviour, and a loaded machine with
	// the race detector can be slow.
	s := newStore(t, srv.URL(), 30*time.Second)
	must(t, s.EnsureBucket(context.Background()), "ensure bucket")
	return s, srv
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func putAll(t *testing.T, s *objectstore.Store, keys []string) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	sem := make(chan struct{}, 32)
	for _, k := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := s.Put(ctx, k, []byte("body of "+k), "text/plain"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("put: %v", err)
	}
}

func listKeys(t *testing.T, s *objectstore.Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(context.Background(), prefix)
	must(t, err, "list "+prefix)
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

// callCount reads surge_objectstore_calls_total{op,outcome} from reg.
func callCount(t *testing.T, reg *prometheus.Registry, op, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	must(t, err, "gather")
	for _, f := range families {
		if f.GetName() != "surge_objectstore_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["op"] == op && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestContract runs the store's contract against both server modes, so the
// on-disk backend is held to the same behaviour as the in-memory one.
func TestContract(t *testing.T) {
	for _, mode := range []string{"memory", "dir"} {
		t.Run(mode, func(t *testing.T) {
			opts := func(t *testing.T) s3server.Options {
				if mode == "dir" {
					return s3server.Options{Dir: t.TempDir()}
				}
				return s3server.Options{}
			}
			t.Run("EnsureBucketTwice", func(t *testing.T) { testEnsureBucketTwice(t, opts(t)) })
			t.Run("PutHeadGet", func(t *testing.T) { testPutHeadGet(t, opts(t)) })
			t.Run("CopyIsIndependent", func(t *testing.T) { testCopyIsIndependent(t, opts(t)) })
			t.Run("CopyMissingSource", func(t *testing.T) { testCopyMissingSource(t, opts(t)) })
			t.Run("CopyAllRollsBack", func(t *testing.T) { testCopyAllRollsBack(t, opts(t)) })
			t.Run("ListAndDeleteAllManyPages", func(t *testing.T) { testListAndDeleteAllManyPages(t, opts(t)) })
			t.Run("AwkwardKeys", func(t *testing.T) { testAwkwardKeys(t, opts(t)) })
		})
	}
}

func testEnsureBucketTwice(t *testing.T, opts s3server.Options) {
	srv := startServer(t, opts)
	s := newStore(t, srv.URL(), 5*time.Second)
	ctx := context.Background()
	must(t, s.EnsureBucket(ctx), "first ensure")
	must(t, s.EnsureBucket(ctx), "second ensure")
	must(t, s.Put(ctx, "k", []byte("v"), ""), "put after ensure")
	if s.Bucket() != bucket {
		t.Fatalf("Bucket() = %q", s.Bucket())
	}
}

func testPutHeadGet(t *testing.T, opts s3server.Options) {
	s, _ := readyStore(t, opts)
	ctx := context.Background()
	key := "templates/spring/01.png"
	body := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	must(t, s.Put(ctx, key, body, "image/png"), "put")

	size, ok, err := s.Head(ctx, key)
	if err != nil || !ok || size != int64(len(body)) {
		t.Fatalf("Head = %d, %v, %v; want %d, true, nil", size, ok, err, len(body))
	}
	got, err := s.Get(ctx, key)
	must(t, err, "get")
	if !bytes.Equal(got, body) {
		t.Fatalf("Get returned %d bytes, want %d", len(got), len(body))
	}

	size, ok, err = s.Head(ctx, "templates/spring/missing.png")
	if err != nil || ok || size != 0 {
		t.Fatalf("Head(missing) = %d, %v, %v; want 0, false, nil", size, ok, err)
	}
	if _, err := s.Get(ctx, "templates/spring/missing.png"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("Get(missing) err = %v, want ErrNotFound", err)
	}
}

func testCopyIsIndependent(t *testing.T, opts s3server.Options) {
	s, _ := readyStore(t, opts)
	ctx := context.Background()
	src, dst := "templates/spring/01.png", "copies/c1/templates/spring/01.png"
	must(t, s.Put(ctx, src, []byte("original"), "image/png"), "put")
	must(t, s.Copy(ctx, src, dst), "copy")

	must(t, s.Put(ctx, src, []byte("changed"), "image/png"), "overwrite source")
	if got, err := s.Get(ctx, dst); err != nil || string(got) != "original" {
		t.Fatalf("copy after source changed = %q, %v; want original", got, err)
	}
	must(t, s.DeleteAll(ctx, []string{src}), "delete source")
	if got, err := s.Get(ctx, dst); err != nil || string(got) != "original" {
		t.Fatalf("copy after source deleted = %q, %v; want original", got, err)
	}
}

func testCopyMissingSource(t *testing.T, opts s3server.Options) {
	s, _ := readyStore(t, opts)
	err := s.Copy(context.Background(), "templates/nope.png", "copies/c1/templates/nope.png")
	if !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if objectstore.IsUnavailable(err) {
		t.Fatalf("IsUnavailable(%v) = true for a missing source", err)
	}
}

func testCopyAllRollsBack(t *testing.T, opts s3server.Options) {
	s, _ := readyStore(t, opts)
	reg := prometheus.NewRegistry()
	must(t, s.Register(reg), "register")
	ctx := context.Background()

	var pairs []objectstore.CopyPair
	var sources []string
	for i := range 30 {
		src := fmt.Sprintf("templates/autumn/%02d.png", i)
		if i != 17 { // the one missing source
			sources = append(sources, src)
		}
		pairs = append(pairs, objectstore.CopyPair{From: src, To: "copies/c2/" + src})
	}
	putAll(t, s, sources)

	err := s.CopyAll(ctx, pairs, 4)
	if !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("CopyAll err = %v, want ErrNotFound", err)
	}
	if n := callCount(t, reg, "copy", "ok"); n == 0 {
		t.Fatal("no copy succeeded before the failure; the rollback was not exercised")
	}
	if left := listKeys(t, s, "copies/c2/"); len(left) != 0 {
		t.Fatalf("%d destinations left after a failed CopyAll: %v", len(left), left)
	}
	if got := listKeys(t, s, "templates/autumn/"); len(got) != len(sources) {
		t.Fatalf("sources: %d, want %d untouched", len(got), len(sources))
	}
}

func testListAndDeleteAllManyPages(t *testing.T, opts s3server.Options) {
	s, _ := readyStore(t, opts)
	reg := prometheus.NewRegistry()
	must(t, s.Register(reg), "register")
	ctx := context.Background()

	var keys []string
	for i := range 2500 {
		keys = append(keys, fmt.Sprintf("copies/c%d/templates/spring/%04d.png", i%7, i))
	}
	putAll(t, s, keys)
	must(t, s.Put(ctx, "templates/spring/keep.png", []byte("keep"), ""), "put outside prefix")

	objs, err := s.List(ctx, "copies/")
	must(t, err, "list")
	if len(objs) != len(keys) {
		t.Fatalf("List returned %d objects, want %d", len(objs), len(keys))
	}
	if n := callCount(t, reg, "list", "ok"); n != 3 {
		t.Fatalf("List made %v calls, want 3 pages of up to 1000", n)
	}
	want := slices.Sorted(slices.Values(keys))
	for i, o := range objs {
		if o.Key != want[i] {
			t.Fatalf("object %d = %q, want %q", i, o.Key, want[i])
		}
		if o.Size != int64(len("body of "+o.Key)) {
			t.Fatalf("%s: size %d", o.Key, o.Size)
		}
		if age := time.Since(o.LastModified); age < -time.Minute || age > time.Minute {
			t.Fatalf("%s: LastModified %v", o.Key, o.LastModified)
		}
	}

	// Missing keys in the batch are fine.
	must(t, s.DeleteAll(ctx, append(keys, "copies/never-existed.png")), "delete all")
	if n := callCount(t, reg, "delete", "ok"); n != 3 {
		t.Fatalf("DeleteAll made %v calls, want 3 batches", n)
	}
	if left := listKeys(t, s, "copies/"); len(left) != 0 {
		t.Fatalf("%d objects left after DeleteAll", len(left))
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"templates/spring/keep.png"}) {
		t.Fatalf("List(\"\") = %v", got)
	}
	must(t, s.DeleteAll(ctx, nil), "delete nothing")
}

func testAwkwardKeys(t *testing.T, opts s3server.Options) {
	s, _ := readyStore(t, opts)
	ctx := context.Background()
	// "a b" and "a+b" both exist, so decoding '+' as a space would copy the
	// wrong object rather than fail.
	keys := []string{
		"templates/my spring/a b.png",
		"templates/my spring/a+b.png",
		"templates/été/日本語 ünïcode.png",
		"templates/odd/100% & more=yes;(1)?#@!~'.png",
		"templates/odd//double slash.png",
	}
	for i, k := range keys {
		must(t, s.Put(ctx, k, []byte(fmt.Sprint("body ", i)), "image/png"), "put "+k)
	}
	var pairs []objectstore.CopyPair
	for _, k := range keys {
		pairs = append(pairs, objectstore.CopyPair{From: k, To: "copies/x y+z/" + k})
	}
	must(t, s.Copy(ctx, keys[1], "copies/single/"+keys[1]), "copy")
	if got, err := s.Get(ctx, "copies/single/"+keys[1]); err != nil || string(got) != "body 1" {
		t.Fatalf("copy of %q = %q, %v; want body 1", keys[1], got, err)
	}
	must(t, s.CopyAll(ctx, pairs, 3), "copy all")
	for i, p := range pairs {
		got, err := s.Get(ctx, p.To)
		if err != nil || string(got) != fmt.Sprint("body ", i) {
			t.Fatalf("Get(%q) = %q, %v; want body %d", p.To, got, err, i)
		}
		if _, ok, err := s.Head(ctx, p.To); err != nil || !ok {
			t.Fatalf("Head(%q) = %v, %v", p.To, ok, err)
		}
	}
	want := make([]string, len(pairs))
	for i, p := range pairs {
		want[i] = p.To
	}
	slices.Sort(want)
	if got := listKeys(t, s, "copies/x y+z/"); !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	must(t, s.DeleteAll(ctx, want), "delete")
	if got := listKeys(t, s, "copies/x y+z/"); len(got) != 0 {
		t.Fatalf("left after delete: %q", got)
	}
}

// inFlightProxy forwards to target and records the most requests it saw at
// once, which is the client's concurrency.
type inFlightProxy struct {
	now, peak atomic.Int64
	proxy     *httputil.ReverseProxy
}

func (p *inFlightProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := p.now.Add(1)
	defer p.now.Add(-1)
	for {
		peak := p.peak.Load()
		if n <= peak || p.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	p.proxy.ServeHTTP(w, r)
}

func TestCopyAllBoundsParallelism(t *testing.T) {
	srv := startServer(t, s3server.Options{Latency: 100 * time.Millisecond, Buckets: []string{bucket}})
	target, _ := url.Parse(srv.URL())
	p := &inFlightProxy{proxy: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)

	s := newStore(t, front.URL, 5*time.Second)
	reg := prometheus.NewRegistry()
	must(t, s.Register(reg), "register")
	ctx := context.Background()

	var sources []string
	var pairs []objectstore.CopyPair
	for i := range 30 {
		src := fmt.Sprintf("templates/winter/%02d.png", i)
		sources = append(sources, src)
		pairs = append(pairs, objectstore.CopyPair{From: src, To: "copies/c3/" + src})
	}
	putAll(t, s, sources)
	p.peak.Store(0)

	// 30 copies in waves of 8 at 100ms each: 4 waves. Serial would be 3s.
	timed(t, 400*time.Millisecond, 1200*time.Millisecond, func() {
		must(t, s.CopyAll(ctx, pairs, 8), "copy all")
	})
	if peak := p.peak.Load(); peak > 8 || peak < 2 {
		t.Fatalf("peak in-flight copies = %d, want 2..8", peak)
	}
	if got := listKeys(t, s, "copies/c3/"); len(got) != 30 {
		t.Fatalf("%d destinations, want 30", len(got))
	}
	if n := callCount(t, reg, "copy", "ok"); n < 30 || int(n)%30 != 0 {
		t.Fatalf("copy ok = %v, want a multiple of 30", n)
	}
}

// timed runs fn until it takes between lo and hi. A few attempts absorb a
// busy test machine; a wrong implementation misses the window every time.
func timed(t *testing.T, lo, hi time.Duration, fn func()) {
	t.Helper()
	var took []time.Duration
	for range 3 {
		start := time.Now()
		fn()
		took = append(took, time.Since(start))
		if d := took[len(took)-1]; d >= lo && d <= hi {
			t.Logf("took %v (window %v..%v, attempts %v)", d, lo, hi, took)
			return
		}
	}
	t.Fatalf("took %v, want %v..%v", took, lo, hi)
}

// Cancelling the caller's ctx mid-way must not leave copies behind either,
// including ones the server completes after the client stopped waiting.
func TestCopyAllCancelledLeavesNothing(t *testing.T) {
	srv := startServer(t, s3server.Options{Latency: 50 * time.Millisecond, Buckets: []string{bucket}})
	s := newStore(t, srv.URL(), 5*time.Second)

	var sources []string
	var pairs []objectstore.CopyPair
	for i := range 40 {
		src := fmt.Sprintf("templates/summer/%02d.png", i)
		sources = append(sources, src)
		pairs = append(pairs, objectstore.CopyPair{From: src, To: "copies/c4/" + src})
	}
	putAll(t, s, sources)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	if err := s.CopyAll(ctx, pairs, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CopyAll err = %v, want the caller's deadline", err)
	}
	if left := listKeys(t, s, "copies/c4/"); len(left) != 0 {
		t.Fatalf("%d destinations left after a cancelled CopyAll", len(left))
	}
}

func TestIsUnavailable(t *testing.T) {
	ctx := context.Background()

	t.Run("ServerClosed", func(t *testing.T) {
		srv := startServer(t, s3server.Options{Buckets: []string{bucket}})
		s := newStore(t, srv.URL(), 5*time.Second)
		must(t, s.Put(ctx, "k", []byte("v"), ""), "put")
		srv.Close()
		_, _, err := s.Head(ctx, "k")
		if err == nil || !objectstore.IsUnavailable(err) {
			t.Fatalf("Head against a closed server: err = %v, IsUnavailable = false", err)
		}
	})

	t.Run("503", func(t *testing.T) {
		var attempts atomic.Int64
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>`)
		}))
		t.Cleanup(fake.Close)
		s := newStore(t, fake.URL, 5*time.Second)
		_, err := s.Get(ctx, "k")
		if err == nil || !objectstore.IsUnavailable(err) {
			t.Fatalf("Get against a 503: err = %v, IsUnavailable = false", err)
		}
		if n := attempts.Load(); n != 3 {
			t.Fatalf("%d attempts, want 3 (standard retryer, max 3)", n)
		}
	})

	t.Run("ClientErrors", func(t *testing.T) {
		s, _ := readyStore(t, s3server.Options{})
		_, err := s.Get(ctx, "missing")
		if !errors.Is(err, objectstore.ErrNotFound) || objectstore.IsUnavailable(err) {
			t.Fatalf("missing key: err = %v, IsUnavailable = %v", err, objectstore.IsUnavailable(err))
		}

		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
		}))
		t.Cleanup(fake.Close)
		_, err = newStore(t, fake.URL, 5*time.Second).Get(ctx, "k")
		if err == nil || objectstore.IsUnavailable(err) {
			t.Fatalf("403: err = %v, IsUnavailable = %v", err, objectstore.IsUnavailable(err))
		}
	})
}

func TestTimeoutBoundsEveryCall(t *testing.T) {
	srv := startServer(t, s3server.Options{Latency: 2 * time.Second, Buckets: []string{bucket}})
	const timeout = 200 * time.Millisecond
	s := newStore(t, srv.URL(), timeout)

	start := time.Now()
	_, _, err := s.Head(context.Background(), "k")
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !objectstore.IsUnavailable(err) {
		t.Fatalf("err = %v, want a deadline error that IsUnavailable", err)
	}
	if elapsed > timeout+500*time.Millisecond {
		t.Fatalf("Head took %v with Timeout %v", elapsed, timeout)
	}
	t.Logf("Head with 2s latency and %v Timeout failed after %v", timeout, elapsed)
}

func TestMetrics(t *testing.T) {
	srv := startServer(t, s3server.Options{Buckets: []string{bucket}})
	s := newStore(t, srv.URL(), 5*time.Second)
	reg := prometheus.NewRegistry()
	must(t, s.Register(reg), "register")
	ctx := context.Background()

	must(t, s.Put(ctx, "a", []byte("1"), ""), "put")
	s.Head(ctx, "a")
	s.Head(ctx, "missing")
	s.Get(ctx, "a")
	s.Copy(ctx, "missing", "b")

	for _, c := range []struct {
		op, outcome string
		want        float64
	}{
		{"put", "ok", 1}, {"head", "ok", 1}, {"head", "not_found", 1},
		{"get", "ok", 1}, {"copy", "not_found", 1},
	} {
		if got := callCount(t, reg, c.op, c.outcome); got != c.want {
			t.Errorf("calls_total{op=%q,outcome=%q} = %v, want %v", c.op, c.outcome, got, c.want)
		}
	}
	families, err := reg.Gather()
	must(t, err, "gather")
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	if !slices.Contains(names, "surge_objectstore_call_duration_seconds") {
		t.Fatalf("metrics = %v, missing the duration histogram", names)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []objectstore.Config{
		{},
		{Endpoint: "127.0.0.1:9000"},
		{Endpoint: "http://127.0.0.1:9000", AccessKeyID: "only-id"},
	} {
		if _, err := objectstore.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
