package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles writes a CPU profile of the whole run to $MUSTER_CPUPROFILE
// and a heap profile at the end to $MUSTER_MEMPROFILE, when set: muster-bench
// -profile uses them to show where an ingest's time and memory go. The
// returned function finishes the profiles.
func startProfiles(getenv func(string) string) func() {
	cpu, mem := getenv("MUSTER_CPUPROFILE"), getenv("MUSTER_MEMPROFILE")
	stop := func() {}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "muster: cpu profile:", err)
		} else {
			stop = func() { pprof.StopCPUProfile(); f.Close() }
		}
	}
	if mem != "" {
		runtime.MemProfileRate = 64 << 10
	}
	return func() {
		stop()
		if mem == "" {
			return
		}
		f, err := os.Create(mem)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "muster: heap profile:", err)
		}
	}
}
