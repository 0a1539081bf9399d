// Package chatbench benchmarks hot chat (seed 003); run it with `make bench`
// or
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 20m ./bench/chat/
//	BENCH_CHAT_SHORT=1 go test -run '^$' -bench . -benchtime 1x ./bench/chat/   # fan-out at 500 streams for 5 s
//
// BenchmarkChatStorm is the seed's storm against one Surge instance: 700
// clients (an X-Client-ID each) fetching one room, while 10 other clients
// fetch the room next door once per 100 ms each (half the hot threshold).
// Two storms, each on a room of its own: "seed", 10 fetches per client one
// every 200 ms (the seed's JMeter plan, as e2e/chat_storm_test.go), and
// "sustained", back to back for 8 s. Both run against Surge with
// throttling on (the defaults: 1 fetch/s, burst 2, per client of a hot
// room) and off (SURGE_HOT_FETCH_RATE=0), each a fresh instance, and
// against the baseline: a bare gin endpoint doing one Redis GET of one key
// (a page of the same size). Surge and the baseline are served on
// 127.0.0.1 in this process, alike. It reports fetch p50/p90/p99/max, the
// answers by kind (2xx, 429, 5xx, timeouts), the room next door's p50/p99
// during the storm beside its quiet p99, the ratios to the baseline, and
// when the room turned hot (its stream's hot event, hotSince, the first
// page saying hot, the first 429; GET /v1/rooms/{id} and the hot list
// afterwards).
//
// BenchmarkChatFanOut holds 5,000 SSE streams (GET /v1/rooms/{id}/stream)
// on one room, posts 50 messages/s for 30 s (after 1 s of warm-up) through
// POST /v1/rooms/{id}/messages and measures, for every stream and message,
// the time from the 202 to the event's arrival (p50/p90/p99/max), and
// checks that every stream got every message once and in order (missed,
// duplicated, out of order: 0). The streams are lean HTTP/1.1 clients, one
// goroutine and two 1 KiB buffers each, that reopen a dropped stream with
// Last-Event-ID as EventSource does. Servers run in processes of their own
// (the built `surge serve`, SURGE_BENCH_BIN or built by TestMain; the
// baseline is this test binary run again): the baseline is a bare SSE
// broadcast of the same events from memory. A Kafka tap on Surge's broker
// splits its latency into 202 -> Kafka and Kafka -> first stream.
// BENCH_CHAT_FANOUT_SIDES=split adds Surge as three processes (push | api,
// commands, forwarder, projections | kafka).
//
// What must hold is asserted (b.Errorf): no storm fetch fails, the room
// turns hot, 429s only with throttling on, the room next door is never
// throttled; no stream misses a message. Each benchmark's doc comment lists
// its knobs (BENCH_CHAT_*).
package chatbench
