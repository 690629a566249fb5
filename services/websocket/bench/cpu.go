package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cpuSample is the machine's CPU time and that of the benchmark's own processes, in clock
// ticks, so that a phase can report how much CPU other work took while it ran.
type cpuSample struct {
	total, busy, ours, server int64
}

func sampleCPU(pids []int) cpuSample {
	var s cpuSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		for i, f := range strings.Fields(line)[1:] {
			n, _ := strconv.ParseInt(f, 10, 64)
			if i >= 8 { // guest time is already in user
				break
			}
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
	}
	for n, pid := range append([]int{os.Getpid()}, pids...) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64) // utime (field 14)
			k, _ := strconv.ParseInt(f[12], 10, 64) // stime (field 15)
			s.ours += u + k
			if n > 0 {
				s.server += u + k
			}
		}
	}
	return s
}

// otherCPU is the share of all cores used by processes outside the benchmark between a and b.
func otherCPU(a, b cpuSample) float64 {
	if b.total <= a.total {
		return 0
	}
	return max(0, float64((b.busy-a.busy)-(b.ours-a.ours))/float64(b.total-a.total))
}

// serverCores is how many cores the measured server processes used on average between a and b.
func serverCores(a, b cpuSample, ncpu int) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.server-a.server) / float64(b.total-a.total) * float64(ncpu)
}
