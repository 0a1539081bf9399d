// Package benchkit holds the measurement helpers shared by Surge's
// benchmarks (bench and bench/price): environment knobs, latency
// distributions, a closed-loop load generator and the report table.
package benchkit
