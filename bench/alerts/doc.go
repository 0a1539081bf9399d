// Package alertsbench benchmarks the alert push (seed 002); run it with
// `make bench` or
//
//	go test -run '^$' -bench AlertPush -benchtime 1x -timeout 15m ./bench/alerts/
//
// BenchmarkAlertPush holds 10,000 STOMP-over-WebSocket subscribers spread
// over 100 complexes, raises 100 alerts/s for 30 s through
// POST /v1/complexes/{id}/alerts and measures, for every subscriber of the
// alert's complex, the time from the 202 to the MESSAGE frame's arrival;
// alerts missed (or received twice, or out of order) and memory per idle
// connection are reported too. Baseline, in the same run, on the same
// machine, by the same client: a bare WebSocket broadcast of the same STOMP
// frames from memory (no Kafka, no database).
//
// 10,000 client and 10,000 server connections do not fit in one process's
// file-descriptor limit, so each server runs in its own process: Surge is the
// built binary (`surge serve`, all roles, embedded Kafka; SURGE_BENCH_BIN or
// built by TestMain), and the baseline is this test binary executed again
// (TestMain's helper branch). This process holds the subscribers and the
// senders.
//
// docs/benchmarks.md ("Alert push") explains the choices and records figures.
package alertsbench
