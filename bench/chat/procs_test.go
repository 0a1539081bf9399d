package chatbench

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/internal/testenv"
)

// server is BenchmarkChatFanOut's server: Surge (`surge serve`, one process
// or a split deployment) or the SSE baseline (this test binary run again).
type server struct {
	*benchkit.Server // where the streams are
	// postURL is where messages are posted ("": URL); others are the
	// processes of a split deployment other than this one (the push).
	postURL string
	others  []*benchkit.Server
}

// startSurge runs `surge serve` (all roles, embedded Kafka broker) on a
// fresh database and Redis prefix.
func startSurge(tb testing.TB) *server { return &server{Server: benchkit.StartSurge(tb)} }

// startBaseline runs this test binary again as the SSE baseline server.
func startBaseline(tb testing.TB) *server { return &server{Server: benchkit.StartBaseline(tb)} }

// startSplit runs Surge as three processes on one fresh database and Redis
// prefix: a Kafka broker (`surge kafka`), `surge serve --roles
// api,commands,forwarder,projections` (where messages are posted) and
// `surge serve --roles push` (where the streams are). It returns the push
// process, which knows the others.
func startSplit(tb testing.TB) *server {
	tb.Helper()
	broker := benchkit.FreeAddr(tb)
	k := benchkit.StartProcess(tb, "kafka", benchkit.SurgeCommand(tb, "kafka", "--addr", broker))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", broker, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if k.Exited() || time.Now().After(deadline) {
			tb.Fatalf("the Kafka broker is not listening on %s: %v\n%s", broker, err, k.Tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	env := []string{"SURGE_KAFKA_BROKERS=" + broker, "SURGE_DATABASE_URL=" + testenv.Database(tb), "SURGE_REDIS_PREFIX=" + testenv.RedisPrefix(tb)}
	rest := benchkit.StartSurgeRoles(tb, "surge-api", "api,commands,forwarder,projections", broker, env...)
	push := benchkit.StartSurgeRoles(tb, "surge-push", "push", broker, env...)
	return &server{Server: push, postURL: rest.URL, others: []*benchkit.Server{rest, k}}
}

// post is where messages are posted.
func (s *server) post() string {
	if s.postURL != "" {
		return s.postURL
	}
	return s.URL
}

// pids are the server's processes.
func (s *server) pids() []int {
	out := []int{s.PID()}
	for _, o := range s.others {
		out = append(out, o.PID())
	}
	return out
}

// stop ends the server's processes (benchkit.Server.Stop).
func (s *server) stop() {
	for _, o := range s.others {
		defer o.Stop()
	}
	s.Stop()
}

// raiseNoFile makes this process's soft RLIMIT_NOFILE at least need (up to
// the hard limit) and returns the soft limit it ends with. Servers this
// process starts inherit it.
func raiseNoFile(need int) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < uint64(need) && lim.Max > lim.Cur {
		lim.Cur = min(lim.Max, uint64(need))
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return int(min(lim.Cur, 1<<30)), nil
}
