// Package poolsbench benchmarks the warm-pool flow (seed 004); run it with
// `make bench` or
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/pools
//
// BenchmarkWarmPool turns a template of 30 assets of 100 KB into designs
// through POST /v1/templates/{id}/designs on the real app (internal/app, as
// `surge serve` wires it), against one local S3 server (s3server) that adds
// 200 ms to every request, with SURGE_COPY_PARALLELISM=8. It measures, in
// one run on one machine:
//
//	baseline    one bare CopyObject (objectstore.Store.Copy) against the same server,
//	            and one bare CopyAll of the 30 assets at parallelism 8 (the floor of a cold design)
//	cold        designs of a template whose pool is always empty (an app with
//	            SURGE_WARM_POOL_SIZE=0): every design copies its 30 assets on the
//	            request path, the seed's situation
//	refill      how long the refill takes per ready copy (the pool of 4 filling up)
//	warm        designs paced (open loop) at a rate the refill keeps up with, on an
//	            app with SURGE_WARM_POOL_SIZE=4: each takes a ready copy
//	2x          the same at twice that rate: the share of designs that still find
//	            a ready copy (the warm-hit ratio)
//
// The target (issue 11) is warm p95 <= 5 % of cold p95; the benchmark fails
// (b.Errorf) if it is missed, or if the designs at the sustainable rate were
// not (nearly) all warm.
//
// It is a fixed-size experiment (request counts, each phase also capped in
// time): the body runs once whatever b.N is, and the figures are reported
// with b.ReportMetric and as a table printed to the benchmark's output.
package poolsbench
