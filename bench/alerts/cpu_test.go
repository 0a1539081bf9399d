package alertsbench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CPU accounting from /proc (Linux; elsewhere it reports "n/a"), in the
// manner of bench/cpu_test.go but for processes of our own: the server
// process (Surge or the baseline), this process (the subscribers and
// senders), PostgreSQL, Redis, interrupts and everything else.

const clockTicks = 100 // USER_HZ

type cpuSample struct {
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

// cpuUsage is in cores (1.0 = one core busy for the whole interval).
type cpuUsage struct {
	ok                                         bool
	self, server, pg, redis, irq, other, steal float64
	busiest                                    string // the other processes that used the most, "go 0.52, e2e.test 0.31"
}

func sampleCPU(serverPID int) cpuSample {
	s := cpuSample{at: time.Now(), others: map[int]procTicks{}}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseFloat(v, 64)
		switch i {
		case 0, 1, 2:
			s.tasks += n
		case 5, 6:
			s.irq += n
		case 7:
			s.steal += n
		}
	}
	_, s.self, _ = procStat("/proc/self/stat")
	_, s.server, _ = procStat(fmt.Sprintf("/proc/%d/stat", serverPID))
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	self := os.Getpid()
	for _, p := range paths {
		comm, ticks, ppid := procStat(p)
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		switch {
		case pid == self || pid == serverPID:
		case comm == "postgres":
			if ppid == 1 {
				// The postmaster: backends that exited are in its children's time.
				ticks += childTicks(p)
			}
			s.pg += ticks
		case strings.HasPrefix(comm, "redis-server"):
			s.redis += ticks
		default:
			s.others[pid] = procTicks{comm, ticks}
		}
	}
	s.ok = true
	return s
}

// procStat reads comm, utime+stime and the parent's pid.
func procStat(path string) (comm string, ticks float64, ppid int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, 0
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, 0
	}
	f := strings.Fields(string(b[end+1:])) // f[0] = state (field 3)
	if len(f) < 15 {
		return string(b[open+1 : end]), 0, 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	ppid, _ = strconv.Atoi(f[1])
	return string(b[open+1 : end]), u + st, ppid
}

func childTicks(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseFloat(f[13], 64)
	cs, _ := strconv.ParseFloat(f[14], 64)
	return cu + cs
}

func cpuBetween(a, b cpuSample) cpuUsage {
	if !a.ok || !b.ok {
		return cpuUsage{}
	}
	secs := b.at.Sub(a.at).Seconds()
	per := func(d float64) float64 { return max(0, d) / clockTicks / secs }
	u := cpuUsage{ok: true, self: per(b.self - a.self), server: per(b.server - a.server), pg: per(b.pg - a.pg),
		redis: per(b.redis - a.redis), irq: per(b.irq - a.irq), steal: per(b.steal - a.steal)}
	u.other = max(0, per(b.tasks-a.tasks)-u.self-u.server-u.pg-u.redis)
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
	u.busiest = strings.Join(parts, ", ")
	return u
}

// short renders "server 1.21 client 0.40 pg 0.05 redis 0.01 irq 0.08 other 0.02".
func (u cpuUsage) short() string {
	if !u.ok {
		return "n/a"
	}
	s := fmt.Sprintf("server %.2f client %.2f pg %.2f redis %.2f irq %.2f other %.2f", u.server, u.self, u.pg, u.redis, u.irq, u.other)
	if u.steal >= 0.01 {
		s += fmt.Sprintf(" steal %.2f", u.steal)
	}
	return s
}

// noisy says another workload used enough CPU to distort a run.
func (u cpuUsage) noisy() bool { return u.ok && u.other+u.steal > 0.15 }
