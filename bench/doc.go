// Package bench holds Surge's benchmarks (run them with `make bench`). Each
// one measures a Surge path beside a baseline measured in the same run on the
// same machine, and reports both and their ratio:
//
//	BenchmarkApply              POST /v1/campaigns/{id}/applications vs a bare gin endpoint doing one Redis INCR
//	BenchmarkOutboxLatency      commit-to-Kafka latency of an appended event vs a raw Kafka produce->consume
//	BenchmarkOutboxThroughput   events/s through append + outbox + forwarders vs raw single-row INSERT transactions
//
// The benchmarks are fixed-size experiments (a request or event count, each
// also capped in time): they run their body once whatever b.N is, and report
// their figures with b.ReportMetric and as a table in the benchmark log.
// docs/benchmarks.md explains them and records measured figures.
package bench
