package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Readers of Linux's /proc: memory, limits and CPU times of processes, and
// the machine's CPU times. Elsewhere they return errors or nothing.

// ClockTicks is USER_HZ: /proc reports CPU times in these units.
const ClockTicks = 100

// procField reads a "Key:   value ..." line of /proc/<pid>/status or
// limits (pid 0: this process).
func procField(pid int, file, key string) (string, error) {
	path := "/proc/self/" + file
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/%s", pid, file)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(strings.TrimPrefix(rest, ":")), nil
		}
	}
	return "", errors.New("no " + key + " in " + path)
}

// RSS is a process's VmRSS in bytes (pid 0: this process).
func RSS(pid int) (int64, error) {
	v, err := procField(pid, "status", "VmRSS")
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
	return kb << 10, err
}

// OpenFilesLimit is a process's soft RLIMIT_NOFILE, from /proc/<pid>/limits
// (pid 0: this process).
func OpenFilesLimit(pid int) (int, error) {
	v, err := procField(pid, "limits", "Max open files")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, errors.New("empty Max open files")
	}
	if f[0] == "unlimited" {
		return 1 << 30, nil
	}
	return strconv.Atoi(f[0])
}

// MachineTicks reads the machine's CPU times so far from /proc/stat:
// tasks = user+nice+system, irq = irq+softirq, and steal; ok is false if
// there is no /proc/stat.
func MachineTicks() (tasks, irq, steal float64, ok bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, false
	}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseFloat(v, 64)
		switch i {
		case 0, 1, 2:
			tasks += n
		case 5, 6:
			irq += n
		case 7:
			steal += n
		}
	}
	return tasks, irq, steal, true
}

// ProcStat is what ReadProcStat reads of a /proc/<pid>/stat.
type ProcStat struct {
	Comm     string
	Ticks    float64 // utime+stime
	PPID     int
	Children float64 // cutime+cstime: of its children that exited and were waited for
}

// ReadProcStat reads a /proc/<pid>/stat file (zero if it cannot be read:
// the process is gone).
func ReadProcStat(path string) ProcStat {
	b, err := os.ReadFile(path)
	if err != nil {
		return ProcStat{}
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcStat{}
	}
	st := ProcStat{Comm: string(b[open+1 : end])}
	f := strings.Fields(string(b[end+1:])) // f[0] = state (field 3)
	if len(f) < 15 {
		return st
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	cu, _ := strconv.ParseFloat(f[13], 64)
	cs, _ := strconv.ParseFloat(f[14], 64)
	st.PPID, _ = strconv.Atoi(f[1])
	st.Ticks, st.Children = u+s, cu+cs
	return st
}
