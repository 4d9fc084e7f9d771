package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"muster/store/pg"
)

// CPU time is less noisy than wall time on a shared machine: a step's
// wall time is mostly waiting for a core there, its CPU time is the work
// it did. A step's CPU is its client's (psql's or muster's rusage) plus
// the server's: every process of the cluster (the postmaster's children,
// live or reaped), read from /proc, so only when the server runs on this
// machine and its processes can be read.

// clkTck is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clkTck = 100

// timing is a step's wall time and CPU time (client and server); cpu is 0
// when the server's could not be read.
type timing struct {
	wall, cpu time.Duration
}

// postmaster returns the pid of the server's postmaster (the parent of a
// backend), or 0 when it is not on this machine.
func postmaster(url string) int {
	ctx := context.Background()
	db, err := pg.Open(ctx, url)
	if err != nil {
		return 0
	}
	defer db.Close()
	var pid int
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return 0
	}
	f, err := procStat(pid)
	if err != nil || len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pp)); err != nil || !strings.HasPrefix(string(comm), "postgres") {
		return 0
	}
	return pp
}

// procStat returns the fields of /proc/pid/stat after the command's name:
// [0] state, [1] ppid, ... [11] utime, [12] stime, [13] cutime, [14] cstime.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(s[i+1:]), nil
}

func ticks(f []string, idx ...int) int64 {
	var n int64
	for _, i := range idx {
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			n += v
		}
	}
	return n
}

// serverCPU returns the CPU time the cluster's processes have used: the
// postmaster's own and its reaped children's, and its live children's.
func serverCPU(pm int) time.Duration {
	if pm == 0 {
		return 0
	}
	f, err := procStat(pm)
	if err != nil {
		return 0
	}
	n := ticks(f, 11, 12, 13, 14)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == pm {
			continue
		}
		if c, err := procStat(pid); err == nil && len(c) > 12 && c[1] == strconv.Itoa(pm) {
			n += ticks(c, 11, 12)
		}
	}
	return time.Duration(n) * time.Second / clkTck
}

// timed runs c and returns its wall time and its CPU time with the
// server's beside it (0 when the server's cannot be read). The server's
// is read a moment after c ends, so its last backend has exited and been
// counted.
func timed(c *exec.Cmd, pm int) (timing, []byte, error) {
	s0 := serverCPU(pm)
	start := time.Now()
	out, err := c.CombinedOutput()
	wall := time.Since(start)
	if err != nil || pm == 0 {
		return timing{wall: wall}, out, err
	}
	time.Sleep(200 * time.Millisecond)
	client := c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	return timing{wall: wall, cpu: client + serverCPU(pm) - s0}, out, nil
}
