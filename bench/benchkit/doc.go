// Package benchkit holds the measurement helpers shared by Surge's
// benchmarks (bench, bench/price, bench/alerts, bench/chat): environment
// knobs, latency distributions, closed- and open-loop load (ClosedLoop,
// RunLoad, Pace), the report table, Surge in this process (RunApp,
// StartApp) and, for the push benchmarks, servers in processes of their own
// (ProcessMain, StartSurge, StartBaseline, Server and its stats), the
// baselines' fan-out from memory (Hub), a Kafka tap, CPU and memory from
// /proc (SampleCPU, RSS), and the bookkeeping of what was sent and received
// (Connect, Sent, Receipts, Split).
package benchkit
