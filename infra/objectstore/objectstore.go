// Package objectstore is Surge's adapter to an S3-compatible object store.
// The warm pools use it to copy template assets server-side into per-design
// copies, to check and fetch objects, and to list and delete expired copies.
//
// Every call is bounded by Config.Timeout and counted in Prometheus metrics.
// Package s3server provides a local S3-compatible server to run it against.
package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("object not found")

// Config says where the store is and how to reach it.
type Config struct {
	Endpoint        string // e.g. "http://127.0.0.1:9000"; required
	Region          string // default "us-east-1"
	Bucket          string // default "surge-assets"
	AccessKeyID     string // both empty means unsigned (anonymous) requests
	SecretAccessKey string
	Timeout         time.Duration // per-call deadline, retries included; default 10s
}

// Store is an S3 client bound to one bucket. It is safe for concurrent use.
type Store struct {
	client  *s3.Client
	bucket  string
	region  string
	timeout time.Duration

	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// CopyPair is one server-side copy for CopyAll.
type CopyPair struct{ From, To string }

// Object describes a listed object.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

const (
	maxAttempts    = 3
	maxBackoff     = time.Second // keeps throttling retries well inside Timeout
	maxDeleteBatch = 1000        // the DeleteObjects limit
)

// New builds a Store. It makes no network calls; see EnsureBucket.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("objectstore: endpoint %q must be an http(s) URL", cfg.Endpoint)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "surge-assets"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	switch {
	case cfg.AccessKeyID != "" && cfg.SecretAccessKey != "":
		creds = credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	case cfg.AccessKeyID != "" || cfg.SecretAccessKey != "":
		return nil, errors.New("objectstore: set both AccessKeyID and SecretAccessKey, or neither")
	}

	// The endpoint is explicit, so HTTP_PROXY must not reroute it; CopyAll
	// runs many calls at once, so keep enough idle connections to reuse.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.MaxIdleConns = 256
	transport.MaxIdleConnsPerHost = 128

	client := s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(strings.TrimRight(cfg.Endpoint, "/")),
		UsePathStyle: true, // S3-compatible servers rarely do virtual-host buckets
		Credentials:  creds,
		HTTPClient:   &http.Client{Transport: transport},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.MaxBackoff = maxBackoff
		}),
		// By default the SDK checksums every upload (over HTTPS as an
		// aws-chunked body with a trailing CRC32) and validates downloads.
		// Many S3-compatible servers can't decode that (gofakes3 only reads
		// signed aws-chunked bodies), so only do it where the API requires.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})

	return &Store{
		client:  client,
		bucket:  cfg.Bucket,
		region:  cfg.Region,
		timeout: cfg.Timeout,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_objectstore_calls_total",
			Help: "Object store calls by operation and outcome (ok, not_found, error).",
		}, []string{"op", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "surge_objectstore_call_duration_seconds",
			Help:    "Object store call latency by operation, retries included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"op"}),
	}, nil
}

// Register registers the store's metrics with reg.
func (s *Store) Register(reg prometheus.Registerer) error {
	if err := reg.Register(s.calls); err != nil {
		return err
	}
	return reg.Register(s.duration)
}

// Bucket returns the bucket the store works in.
func (s *Store) Bucket() string { return s.bucket }

// EnsureBucket creates the bucket unless it already exists and is accessible.
func (s *Store) EnsureBucket(ctx context.Context) error {
	headBucket := func() error {
		return s.do(ctx, "head", func(ctx context.Context) error {
			_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
			return err
		})
	}
	err := headBucket()
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("objectstore: head bucket %q: %w", s.bucket, err)
	}
	err = s.do(ctx, "put", func(ctx context.Context) error {
		in := &s3.CreateBucketInput{Bucket: &s.bucket}
		if s.region != "us-east-1" { // us-east-1 rejects an explicit constraint
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
				LocationConstraint: types.BucketLocationConstraint(s.region),
			}
		}
		_, err := s.client.CreateBucket(ctx, in)
		return err
	})
	// Losing a creation race is fine as long as the bucket is now ours to use.
	if err != nil && headBucket() != nil {
		return fmt.Errorf("objectstore: create bucket %q: %w", s.bucket, err)
	}
	return nil
}

// Head reports whether key exists and its size. A missing key is not an error.
func (s *Store) Head(ctx context.Context, key string) (size int64, exists bool, err error) {
	err = s.do(ctx, "head", func(ctx context.Context) error {
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
		if err == nil {
			size = aws.ToInt64(out.ContentLength)
		}
		return err
	})
	switch {
	case err == nil:
		return size, true, nil
	case isNotFound(err):
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("objectstore: head %q: %w", key, err)
	}
}

// Put stores body under key.
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string) error {
	err := s.do(ctx, "put", func(ctx context.Context) error {
		in := &s3.PutObjectInput{
			Bucket:        &s.bucket,
			Key:           &key,
			Body:          bytes.NewReader(body), // seekable, so retries can resend it
			ContentLength: aws.Int64(int64(len(body))),
		}
		if contentType != "" {
			in.ContentType = &contentType
		}
		_, err := s.client.PutObject(ctx, in)
		return err
	})
	return wrapErr("put", key, err)
}

// Get returns the object's bytes, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	var body []byte
	err := s.do(ctx, "get", func(ctx context.Context) error {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		body, err = io.ReadAll(out.Body) // inside the call, so Timeout bounds the read too
		return err
	})
	return body, wrapErr("get", key, err)
}

// Copy copies from to to inside the bucket, server-side. It returns
// ErrNotFound if from does not exist.
func (s *Store) Copy(ctx context.Context, from, to string) error {
	err := s.do(ctx, "copy", func(ctx context.Context) error {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     &s.bucket,
			Key:        &to,
			CopySource: aws.String(copySource(s.bucket, from)),
		})
		return err
	})
	return wrapErr("copy", from, err)
}

// CopyAll copies every pair with at most parallelism calls in flight. On the
// first failure (or when ctx is done) it starts no more copies, waits for the
// ones in flight, deletes every destination this call may have created, and
// returns the error. On success every destination exists.
func (s *Store) CopyAll(ctx context.Context, pairs []CopyPair, parallelism int) error {
	var (
		next    atomic.Int64
		mu      sync.Mutex
		copied  int
		failure error
		created []string // destinations that may exist now
		wg      sync.WaitGroup
	)
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failure != nil || ctx.Err() != nil
	}
	for range max(1, min(parallelism, len(pairs))) {
		wg.Go(func() {
			for !stopped() {
				i := int(next.Add(1) - 1)
				if i >= len(pairs) {
					return
				}
				// In-flight copies are not cancelled: the server could still
				// complete a cancelled one after the cleanup below and leave
				// an orphan. Each is bounded by Timeout.
				err := s.Copy(context.WithoutCancel(ctx), pairs[i].From, pairs[i].To)
				mu.Lock()
				if err == nil {
					copied++
				} else if failure == nil {
					failure = err
				}
				// Only a missing source proves nothing was written; after a
				// timeout or 5xx the copy may still have happened.
				if !errors.Is(err, ErrNotFound) {
					created = append(created, pairs[i].To)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if copied == len(pairs) {
		return nil
	}
	if failure == nil { // ctx was done before all copies started
		failure = fmt.Errorf("objectstore: copy all: %w", context.Cause(ctx))
	}
	// The caller's ctx may be what stopped us; cleanup runs regardless, each
	// of its calls bounded by Timeout.
	if err := s.DeleteAll(context.WithoutCancel(ctx), created); err != nil {
		return errors.Join(failure, fmt.Errorf("objectstore: copy all: cleanup: %w", err))
	}
	return failure
}

// DeleteAll deletes keys in batches of up to 1000. Missing keys are fine.
func (s *Store) DeleteAll(ctx context.Context, keys []string) error {
	for start := 0; start < len(keys); start += maxDeleteBatch {
		batch := keys[start:min(start+maxDeleteBatch, len(keys))]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i := range batch {
			ids[i].Key = &batch[i]
		}
		err := s.do(ctx, "delete", func(ctx context.Context) error {
			out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: &s.bucket,
				Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}, // report failures only
			})
			if err != nil {
				return err
			}
			if len(out.Errors) > 0 {
				e := out.Errors[0]
				// As an API error, so IsUnavailable sees codes like SlowDown.
				return fmt.Errorf("%d of %d keys failed, first %q: %w", len(out.Errors), len(batch),
					aws.ToString(e.Key), &smithy.GenericAPIError{Code: aws.ToString(e.Code), Message: aws.ToString(e.Message)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("objectstore: delete: %w", err)
		}
	}
	return nil
}

// List returns every object under prefix, reading all pages.
func (s *Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var objects []Object
	err := s.ListPages(ctx, prefix, func(page []Object) error {
		objects = append(objects, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return objects, nil
}

// ListPages hands fn the objects under prefix a page (up to 1,000) at a
// time, in key order: a listing of millions is never held whole. An error
// from fn stops the listing and is returned.
func (s *Store) ListPages(ctx context.Context, prefix string, fn func(page []Object) error) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		var page *s3.ListObjectsV2Output
		err := s.do(ctx, "list", func(ctx context.Context) (err error) {
			page, err = pages.NextPage(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("objectstore: list %q: %w", prefix, err)
		}
		objects := make([]Object, 0, len(page.Contents))
		for _, o := range page.Contents {
			objects = append(objects, Object{
				Key:          aws.ToString(o.Key),
				Size:         aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified),
			})
		}
		if err := fn(objects); err != nil {
			return err
		}
	}
	return nil
}

// do runs one SDK call under the per-call deadline and records its metrics.
func (s *Store) do(ctx context.Context, op string, call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	err := call(ctx)
	outcome := "ok"
	switch {
	case err == nil:
	case isNotFound(err):
		outcome = "not_found"
	default:
		outcome = "error"
	}
	s.calls.WithLabelValues(op, outcome).Inc()
	s.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return err
}

func wrapErr(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case isNotFound(err):
		return fmt.Errorf("objectstore: %s %q: %w", op, key, ErrNotFound)
	default:
		return fmt.Errorf("objectstore: %s %q: %w", op, key, err)
	}
}

// isNotFound matches a missing key: NoSuchKey from GET/COPY, NotFound (all a
// body-less HEAD 404 can say) or any other 404 except a missing bucket, which
// is a misconfiguration rather than a missing object.
func isNotFound(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	var resp interface{ HTTPStatusCode() int }
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound
}

// copySource builds CopyObject's "bucket/key" source, escaping each key
// segment strictly. S3 wants it URL-encoded, and some servers (gofakes3
// among them) decode it with url.QueryUnescape, which would turn a raw '+'
// into a space, so '+' is sent as %2B and space as %20.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = strings.ReplaceAll(url.QueryEscape(seg), "+", "%20")
	}
	return bucket + "/" + strings.Join(segs, "/")
}

// transientCodes are S3 error codes for an overloaded or failing service.
var transientCodes = map[string]bool{
	"InternalError":      true,
	"ServiceUnavailable": true,
	"SlowDown":           true,
	"Throttling":         true,
	"RequestTimeout":     true,
}

// IsUnavailable reports whether err means the store could not be reached,
// did not answer in time, or answered with a 5xx or throttling error: a
// transient outage, as opposed to a client-side error such as a missing key.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && transientCodes[api.ErrorCode()] {
		return true
	}
	// A send failure comes wrapped in a response error with status 0.
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &send) || errors.As(err, &netErr) {
		return true
	}
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		code := resp.HTTPStatusCode()
		return code >= 500 || code == http.StatusTooManyRequests
	}
	return false
}
