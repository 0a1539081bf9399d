package s3server

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// diskBackend persists objects under a directory. gofakes3's own persistent
// backends (s3bolt, s3afero) pull in modules this repository does not carry
// (go.etcd.io/bbolt, gopkg.in/mgo.v2, github.com/spf13/afero), so instead the
// data lives in s3mem, which does the listing, paging and copying, and every
// change is written through to one file per object:
//
//	Dir/<bucket>/<sha256(key)>.obj  (gob-encoded record)
//
// Hashing the key keeps file names short and free of '/', and avoids clashes
// between keys like "a" and "a/b". Files are replaced by rename, so a crash
// leaves either the old or the new object, never half of one.
type diskBackend struct {
	gofakes3.Backend // the s3mem backend, embedded as the interface so its versioning API stays hidden

	dir   string
	clock *pinnableClock

	// life is held shared by every change and exclusively by close, so no
	// write to dir is in flight or starts once close returns.
	life   sync.RWMutex
	closed bool
	// A key's stripe is held across its memory and disk update, so both see
	// the same last write, while different keys hit the disk in parallel.
	stripes [64]sync.Mutex
	// mem serializes s3mem writes (s3mem does anyway), so the pinned clock
	// is the time of the write being made.
	mem sync.Mutex
}

type record struct {
	Key      string
	Meta     map[string]string
	Modified time.Time
	Body     []byte
}

const objExt = ".obj"

var errClosed = errors.New("s3server: closed")

// openDisk loads everything under dir into memory.
func openDisk(dir string) (*diskBackend, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("s3server: %w", err)
	}
	clock := &pinnableClock{}
	d := &diskBackend{Backend: s3mem.New(s3mem.WithTimeSource(clock)), dir: dir, clock: clock}

	buckets, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("s3server: %w", err)
	}
	for _, b := range buckets {
		if !b.IsDir() {
			continue
		}
		if err := d.Backend.CreateBucket(b.Name()); err != nil {
			return nil, fmt.Errorf("s3server: load bucket %q: %w", b.Name(), err)
		}
		files, err := os.ReadDir(filepath.Join(dir, b.Name()))
		if err != nil {
			return nil, fmt.Errorf("s3server: %w", err)
		}
		for _, f := range files {
			path := filepath.Join(dir, b.Name(), f.Name())
			if !strings.HasSuffix(f.Name(), objExt) {
				os.Remove(path) // a temp file left by a crash mid-write
				continue
			}
			rec, err := readRecord(path)
			if err != nil {
				return nil, fmt.Errorf("s3server: load %s: %w", path, err)
			}
			if _, err := d.putMem(b.Name(), rec, nil); err != nil {
				return nil, fmt.Errorf("s3server: load %s: %w", path, err)
			}
		}
	}
	return d, nil
}

// putMem stores rec in s3mem with rec.Modified as its last-modified time.
func (d *diskBackend) putMem(bucket string, rec record, conds *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	d.mem.Lock()
	defer d.mem.Unlock()
	d.clock.pin(rec.Modified)
	defer d.clock.unpin()
	return d.Backend.PutObject(bucket, rec.Key, rec.Meta, bytes.NewReader(rec.Body), int64(len(rec.Body)), conds)
}

func (d *diskBackend) close() {
	d.life.Lock()
	d.closed = true
	d.life.Unlock()
}

// change runs fn unless closed, holding the stripe of bucket/key if key is
// not empty. fn gets the object's file path.
func (d *diskBackend) change(bucket, key string, fn func(path string) error) error {
	d.life.RLock()
	defer d.life.RUnlock()
	if d.closed {
		return errClosed
	}
	if key == "" {
		return fn("")
	}
	sum := sha256.Sum256([]byte(key))
	mu := &d.stripes[int(sum[0])%len(d.stripes)]
	mu.Lock()
	defer mu.Unlock()
	return fn(filepath.Join(d.dir, bucket, hex.EncodeToString(sum[:])+objExt))
}

func (d *diskBackend) CreateBucket(name string) error {
	return d.change(name, "", func(string) error {
		d.mem.Lock()
		defer d.mem.Unlock()
		if err := d.Backend.CreateBucket(name); err != nil {
			return err
		}
		return os.MkdirAll(filepath.Join(d.dir, name), 0o755)
	})
}

func (d *diskBackend) DeleteBucket(name string) error {
	return d.deleteBucket(name, d.Backend.DeleteBucket)
}

func (d *diskBackend) ForceDeleteBucket(name string) error {
	return d.deleteBucket(name, d.Backend.ForceDeleteBucket)
}

func (d *diskBackend) deleteBucket(name string, del func(string) error) error {
	return d.change(name, "", func(string) error {
		d.mem.Lock()
		defer d.mem.Unlock()
		if err := del(name); err != nil {
			return err
		}
		return os.RemoveAll(filepath.Join(d.dir, name))
	})
}

func (d *diskBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conds *gofakes3.PutConditions) (res gofakes3.PutObjectResult, err error) {
	body, err := gofakes3.ReadAll(input, size) // before any lock: the client may be slow
	if err != nil {
		return res, err
	}
	err = d.change(bucket, key, func(path string) error {
		rec := record{Key: key, Meta: meta, Modified: time.Now(), Body: body}
		if res, err = d.putMem(bucket, rec, conds); err != nil {
			return err
		}
		// s3mem merged any previous metadata into meta, so rec is what it stored.
		return writeRecord(path, rec)
	})
	return res, err
}

// CopyObject goes through d.PutObject so the copy is persisted too.
func (d *diskBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(d, srcBucket, srcKey, dstBucket, dstKey, meta)
}

func (d *diskBackend) DeleteObject(bucket, key string) (res gofakes3.ObjectDeleteResult, err error) {
	err = d.change(bucket, key, func(path string) error {
		d.mem.Lock()
		res, err = d.Backend.DeleteObject(bucket, key)
		d.mem.Unlock()
		if err != nil {
			return err
		}
		return removeFile(path)
	})
	return res, err
}

// DeleteMulti deletes key by key, so each holds only its own stripe.
func (d *diskBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	for _, key := range keys {
		if _, err := d.DeleteObject(bucket, key); err != nil {
			if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchBucket) || errors.Is(err, errClosed) {
				return res, err
			}
			e := gofakes3.ErrorResultFromError(err)
			e.Key = key
			res.Error = append(res.Error, e)
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: key})
	}
	return res, nil
}

func readRecord(path string) (record, error) {
	var rec record
	f, err := os.Open(path)
	if err != nil {
		return rec, err
	}
	defer f.Close()
	err = gob.NewDecoder(f).Decode(&rec)
	return rec, err
}

// writeRecord writes to a temp file and renames it over path.
func writeRecord(path string, rec record) error {
	f, err := os.CreateTemp(filepath.Dir(path), "put-*.tmp")
	if err != nil {
		return err
	}
	err = gob.NewEncoder(f).Encode(rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// pinnableClock is s3mem's time source. Pinning it lets a reloaded object keep
// its original last-modified time (the sweeper ages copies by it) and makes the
// time on disk match the time s3mem reports.
type pinnableClock struct{ pinned atomic.Pointer[time.Time] }

func (c *pinnableClock) pin(t time.Time) { c.pinned.Store(&t) }
func (c *pinnableClock) unpin()          { c.pinned.Store(nil) }

func (c *pinnableClock) Now() time.Time {
	if t := c.pinned.Load(); t != nil {
		return *t
	}
	return time.Now()
}

func (c *pinnableClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
