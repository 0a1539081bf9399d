package bench

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/internal/testenv"
)

// The machine is shared by everything a benchmark measures: the bench
// process (Surge's code, the in-process kfake broker, the load generator),
// PostgreSQL and Redis. sampleCPU/cpuSince split the CPU used during a run between
// them, from /proc, so a figure can be read against what saturated, and
// flags other workloads that would make it meaningless. Linux only; on
// other systems it reports nothing. The /proc readers are benchkit's.

type cpuSample struct {
	at                time.Time
	tasks, irq, steal float64 // machine-wide ticks: user+nice+system, irq+softirq, steal
	self              float64 // ticks of this process
	procs             map[string]procTicksOf
	foreignTx         float64 // transactions so far in databases other than the benchmarks' own
	ownTx             float64 // transactions so far in the benchmarks' databases
	walSyncs          float64 // WAL flushes (fsyncs) so far, server-wide
	walBytes          float64 // WAL written so far, server-wide
	ok                bool
}

// procTicksOf is one process's CPU so far and what it counts as.
type procTicksOf struct {
	kind  string // "pg", "redis" or "foreign" (a PostgreSQL backend of someone else's database)
	ticks float64
}

// cpuUsage is in cores (1.0 = one core busy for the whole run).
type cpuUsage struct {
	ok                     bool
	self, pg, redis, other float64 // processes; other = every other process
	irq                    float64 // interrupts and softirqs (loopback networking lands here)
	steal                  float64 // taken by the hypervisor
	foreignTxPerSec        float64 // PostgreSQL transactions/s in databases other than the benchmarks' own (-1: unknown)
	ownTx, walSyncs        float64 // transactions in the benchmarks' databases and WAL flushes during the run (-1: unknown)
	walBytes               float64 // WAL written during the run
}

// ownDatabases are the databases the benchmarks created: PostgreSQL
// backends serving any other database are someone else's load.
var ownDatabases sync.Map

// ownDatabase records the database of a PostgreSQL URL as the benchmark's.
func ownDatabase(dsn string) {
	if u, err := url.Parse(dsn); err == nil {
		ownDatabases.Store(strings.TrimPrefix(u.Path, "/"), true)
	}
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), procs: map[string]procTicksOf{}}
	var ok bool
	if s.tasks, s.irq, s.steal, ok = benchkit.MachineTicks(); !ok {
		return s
	}
	s.self = benchkit.ReadProcStat("/proc/self/stat").Ticks
	pids, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range pids {
		st := benchkit.ReadProcStat(p)
		comm, ticks := st.Comm, st.Ticks
		switch {
		case comm == "postgres":
			kind := "pg"
			if st.PPID == 1 {
				// The postmaster: backends that exit are reaped into its
				// cutime/cstime, so count those for it.
				ticks += st.Children
			} else if db := backendDatabase(filepath.Dir(p)); db != "" {
				if _, own := ownDatabases.Load(db); !own {
					kind = "foreign"
				}
			}
			s.procs[p] = procTicksOf{kind, ticks}
		case strings.HasPrefix(comm, "redis-server"):
			s.procs[p] = procTicksOf{"redis", ticks}
		}
	}
	s.foreignTx, s.ownTx, s.walSyncs, s.walBytes = pgCounters()
	s.ok = true
	return s
}

var (
	statsOnce sync.Once
	statsDB   *sql.DB
)

// pgCounters returns the transactions PostgreSQL has run so far in
// databases the benchmarks did not create (another workload on the same
// server shows up here even when its CPU is counted as "pg": its backends
// exit and are reaped into the postmaster's time), those in the
// benchmarks' own databases, and the WAL flushes so far; -1 if unknown.
func pgCounters() (foreignTx, ownTx, walSyncs, walBytes float64) {
	statsOnce.Do(func() {
		if db, err := sql.Open("pgx", testenv.PostgresAdminURL()); err == nil {
			db.SetMaxOpenConns(1)
			statsDB = db
		}
	})
	if statsDB == nil {
		return -1, -1, -1, -1
	}
	if statsDB.QueryRow(`SELECT wal_sync, wal_bytes FROM pg_stat_wal`).Scan(&walSyncs, &walBytes) != nil {
		walSyncs, walBytes = -1, -1
	}
	rows, err := statsDB.Query(`SELECT datname, xact_commit + xact_rollback FROM pg_stat_database WHERE datname IS NOT NULL`)
	if err != nil {
		return -1, -1, walSyncs, walBytes
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n float64
		if rows.Scan(&name, &n) != nil {
			return -1, -1, walSyncs, walBytes
		}
		if _, own := ownDatabases.Load(name); own {
			ownTx += n
		} else if name != "postgres" {
			foreignTx += n
		}
	}
	return foreignTx, ownTx, walSyncs, walBytes
}

// backendDatabase reads the database a PostgreSQL backend serves from its
// process title ("postgres: 15/main: user db 127.0.0.1(5432) idle"); ""
// for background processes.
func backendDatabase(procDir string) string {
	b, err := os.ReadFile(procDir + "/cmdline")
	if err != nil {
		return ""
	}
	f := strings.Fields(strings.TrimPrefix(string(bytes.TrimRight(b, "\x00")), "postgres: "))
	if len(f) >= 4 && (strings.Contains(f[3], "(") || f[3] == "[local]") {
		return f[2]
	}
	return ""
}

// cpuSince returns the CPU used since start, in cores. Processes are
// compared one by one; a backend that exited during the run is counted
// (for its whole life) in the postmaster's children time, as "pg".
func cpuSince(start cpuSample) cpuUsage {
	end := sampleCPU()
	if !start.ok || !end.ok {
		return cpuUsage{}
	}
	perSec := func(ticks float64) float64 {
		return max(0, ticks) / benchkit.ClockTicks / end.at.Sub(start.at).Seconds()
	}
	u := cpuUsage{ok: true, self: perSec(end.self - start.self), irq: perSec(end.irq - start.irq), steal: perSec(end.steal - start.steal)}
	for pid, e := range end.procs {
		d := perSec(e.ticks - start.procs[pid].ticks)
		switch e.kind {
		case "pg":
			u.pg += d
		case "redis":
			u.redis += d
		}
	}
	// Everything else, foreign PostgreSQL backends included.
	u.other = max(0, perSec(end.tasks-start.tasks)-u.self-u.pg-u.redis)
	u.foreignTxPerSec, u.ownTx, u.walSyncs = -1, -1, -1
	if start.foreignTx >= 0 && end.foreignTx >= 0 {
		u.foreignTxPerSec = max(0, end.foreignTx-start.foreignTx) / end.at.Sub(start.at).Seconds()
		u.ownTx = max(0, end.ownTx-start.ownTx)
	}
	if start.walSyncs >= 0 && end.walSyncs >= 0 {
		u.walSyncs = max(0, end.walSyncs-start.walSyncs)
		u.walBytes = max(0, end.walBytes-start.walBytes)
	}
	return u
}

// short renders "bench 1.21 pg 0.55 redis 0.10 irq 0.08 other 0.02".
func (u cpuUsage) short() string {
	if !u.ok {
		return "n/a"
	}
	s := fmt.Sprintf("bench %.2f pg %.2f redis %.2f irq %.2f other %.2f", u.self, u.pg, u.redis, u.irq, u.other)
	if u.steal >= 0.01 {
		s += fmt.Sprintf(" steal %.2f", u.steal)
	}
	if u.foreignTxPerSec >= 1 {
		s += fmt.Sprintf(" (+%.0f tx/s in other databases)", u.foreignTxPerSec)
	}
	return s
}

// perOp is the CPU the system under test (this process, PostgreSQL,
// Redis, interrupts) spent per operation, in microseconds, for n operations
// in d; "-" without a measurement.
func (u cpuUsage) perOp(d time.Duration, n int) string {
	if !u.ok || n == 0 {
		return "-"
	}
	return strconv.FormatFloat((u.self+u.pg+u.redis+u.irq)*d.Seconds()/float64(n)*1e6, 'f', 0, 64)
}

// pgPerOp renders the PostgreSQL transactions, WAL flushes and WAL bytes
// per operation: "1.00 / 0.31 / 1200 B".
func (u cpuUsage) pgPerOp(n int) string {
	if !u.ok || n == 0 || u.ownTx < 0 || u.walSyncs < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f / %.0f B", u.ownTx/float64(n), u.walSyncs/float64(n), u.walBytes/float64(n))
}

// noisy says another workload used enough CPU to distort a run.
func (u cpuUsage) noisy() bool {
	return u.ok && (u.other+u.steal > 0.15 || u.foreignTxPerSec > 20)
}

// disturbance describes what made a run noisy.
func (u cpuUsage) disturbance() string {
	s := fmt.Sprintf("other processes (or the hypervisor) took %.2f cores", u.other+u.steal)
	if u.foreignTxPerSec > 20 {
		s += fmt.Sprintf(" and other databases ran %.0f tx/s on the same PostgreSQL", u.foreignTxPerSec)
	}
	return s
}

// explain is a table note on how to read the CPU column.
func (u cpuUsage) explain() string {
	return fmt.Sprintf("CPU column: cores busy during the run, of %d: bench = this process (Surge code + in-process kfake broker + load generator/consumer), pg = PostgreSQL, irq = interrupts/softirqs (loopback traffic), other = every other process", runtime.NumCPU())
}
