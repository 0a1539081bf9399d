package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CPU accounting from /proc (Linux; elsewhere it reports "n/a") for a
// benchmark whose servers may run in processes of their own: the server's
// processes, this process (the clients), PostgreSQL, Redis, interrupts and
// everything else.

// CPUSample is the CPU used so far, split as CPUUsage is.
type CPUSample struct {
	at                      time.Time
	tasks, irq, steal       float64 // machine-wide: user+nice+system, irq+softirq, steal
	self, server, pg, redis float64
	others                  map[int]procTicks // every other process
	ok                      bool
}

type procTicks struct {
	comm  string
	ticks float64
}

// CPUUsage is the CPU used between two samples, in cores (1.0 = one core
// busy for the whole interval).
type CPUUsage struct {
	OK     bool
	Self   float64 // this process
	Server float64 // the server's processes
	PG     float64 // PostgreSQL, backends that exited included
	Redis  float64
	IRQ    float64 // interrupts and softirqs (loopback networking lands here)
	Other  float64 // every other process
	Steal  float64 // taken by the hypervisor
	// Busiest are the other processes that used the most, "go 0.52, e2e.test 0.31".
	Busiest string
}

// SampleCPU samples the CPU used so far by this process, serverPIDs (none:
// no server process), PostgreSQL, Redis and every other process.
func SampleCPU(serverPIDs ...int) CPUSample {
	s := CPUSample{at: time.Now(), others: map[int]procTicks{}}
	if s.tasks, s.irq, s.steal, s.ok = MachineTicks(); !s.ok {
		return s
	}
	self := os.Getpid()
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		st := ReadProcStat(p)
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		switch {
		case pid == self:
			s.self = st.Ticks
		case slices.Contains(serverPIDs, pid):
			s.server += st.Ticks
		case st.Comm == "postgres":
			if st.PPID == 1 {
				// The postmaster: backends that exited are in its children's time.
				st.Ticks += st.Children
			}
			s.pg += st.Ticks
		case strings.HasPrefix(st.Comm, "redis-server"):
			s.redis += st.Ticks
		default:
			s.others[pid] = procTicks{st.Comm, st.Ticks}
		}
	}
	return s
}

// CPUBetween is the CPU used from sample a to sample b.
func CPUBetween(a, b CPUSample) CPUUsage {
	if !a.ok || !b.ok {
		return CPUUsage{}
	}
	secs := b.at.Sub(a.at).Seconds()
	per := func(d float64) float64 { return max(0, d) / ClockTicks / secs }
	u := CPUUsage{OK: true, Self: per(b.self - a.self), Server: per(b.server - a.server), PG: per(b.pg - a.pg),
		Redis: per(b.redis - a.redis), IRQ: per(b.irq - a.irq), Steal: per(b.steal - a.steal)}
	u.Other = max(0, per(b.tasks-a.tasks)-u.Self-u.Server-u.PG-u.Redis)
	byComm := map[string]float64{}
	for pid, e := range b.others {
		if d := per(e.ticks - a.others[pid].ticks); d > 0 {
			byComm[e.comm] += d
		}
	}
	type top struct {
		comm  string
		cores float64
	}
	var tops []top
	for c, v := range byComm {
		if v >= 0.02 {
			tops = append(tops, top{c, v})
		}
	}
	sort.Slice(tops, func(i, j int) bool { return tops[i].cores > tops[j].cores })
	var parts []string
	for i, t := range tops {
		if i == 4 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", t.comm, t.cores))
	}
	u.Busiest = strings.Join(parts, ", ")
	return u
}

// Short renders "server 1.21 client 0.40 pg 0.05 redis 0.01 irq 0.08 other
// 0.02", the server and this process under the names given (server "":
// without the server).
func (u CPUUsage) Short(server, self string) string {
	if !u.OK {
		return "n/a"
	}
	s := ""
	if server != "" {
		s = fmt.Sprintf("%s %.2f ", server, u.Server)
	}
	s += fmt.Sprintf("%s %.2f pg %.2f redis %.2f irq %.2f other %.2f", self, u.Self, u.PG, u.Redis, u.IRQ, u.Other)
	if u.Steal >= 0.01 {
		s += fmt.Sprintf(" steal %.2f", u.Steal)
	}
	return s
}

// Noisy says another workload used enough CPU to distort a run.
func (u CPUUsage) Noisy() bool { return u.OK && u.Other+u.Steal > 0.15 }

// Warning is the table note for a Noisy run.
func (u CPUUsage) Warning(run string) string {
	who := u.Busiest
	if who == "" {
		who = "no process visible in /proc: short-lived ones, or load from outside this PID namespace"
	}
	return fmt.Sprintf("WARNING: other processes (or the hypervisor) took %.2f cores during %q (%s): its figures are disturbed", u.Other+u.Steal, run, who)
}
