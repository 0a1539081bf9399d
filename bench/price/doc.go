// Package pricebench benchmarks the price-comparison flow (seed 000); run
// it with `make bench` or
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/price
//
// Each benchmark measures Surge beside a baseline measured in the same run,
// on the same machine, by the same closed-loop client:
//
//	BenchmarkPriceHit          cache-hit GET /v1/products/{id}/price-comparison
//	                           vs a bare gin endpoint doing one Redis GET (target >= 0.8x)
//	BenchmarkPriceVsSynchronous the seed's "before": the same traffic against an endpoint
//	                           that calls every vendor synchronously per request, vs Surge
//	                           (cache + single-flight command + vendors off the request path)
//
// They are fixed-size experiments (a request count, each run also capped in
// time): the body runs once whatever b.N is, and the figures are reported
// with b.ReportMetric and as a table in the benchmark log.
// docs/price-comparison.md explains them and records measured figures.
package pricebench
