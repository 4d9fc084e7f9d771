package console_test

import (
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPageTimings is a timing harness, not a pass/fail test: over a store
// named by MUSTER_CONSOLE_TIMING_DATA (a data dir, e.g. one million
// recipients with drops of 100,000 changes, see the issue-14 note), it
// asks every page MUSTER_CONSOLE_TIMING_ROUNDS times (default 30), pages
// in turn, and reports each page's server time (the handler's, measured
// around the API server's ServeHTTP): the first (cold: caches empty), and
// the min, median, p95 and max of the rest. Skipped without the variable.
func TestPageTimings(t *testing.T) {
	data := os.Getenv("MUSTER_CONSOLE_TIMING_DATA")
	if data == "" {
		t.Skip("set MUSTER_CONSOLE_TIMING_DATA to a data dir to time the console's pages")
	}
	rounds := 30
	if n := os.Getenv("MUSTER_CONSOLE_TIMING_ROUNDS"); n != "" {
		rounds = atoi(n)
	}
	var mu sync.Mutex
	times := map[string][]time.Duration{}
	timedHook = func(r *http.Request, d time.Duration) {
		mu.Lock()
		times[r.URL.RequestURI()] = append(times[r.URL.RequestURI()], d)
		mu.Unlock()
	}
	defer func() { timedHook = nil }()
	r := MustRigAt(t, filepath.Join(data, "muster.db"))
	b := r.signIn("ada")
	pages := strings.Fields(os.Getenv("MUSTER_CONSOLE_TIMING_PAGES"))
	if len(pages) == 0 {
		pages = []string{"/", "/drops", "/drops?status=held", "/drops/4", "/drops/4?after=m", "/drops/3", "/drops/3?after=m",
			"/drops/2", "/recipients", "/recipients?after=m", "/recipients?status=all&after=t", "/recipients?q=andersson",
			"/recipients?q=Andersson.10376", "/recipients?group=Engineering", "/recipients?group=Lyon+Office&after=m",
			"/recipients/aisha.andersson.1037656@mail.northwind-traders.example", "/groups", "/sources/hr", "/sources/hr?to=1",
			"/upload"}
	}
	for range rounds + 1 {
		for _, p := range pages {
			if code, body := b.get(p); code != http.StatusOK {
				t.Fatalf("%s: %d\n%s", p, code, body)
			}
		}
	}
	t.Logf("%d rounds, GOMAXPROCS %d; load average %s", rounds, runtime.GOMAXPROCS(0), loadavg())
	t.Logf("%-72s %9s %9s %9s %9s %9s", "page", "cold", "min", "median", "p95", "max")
	for _, p := range pages {
		ds := times[p]
		if len(ds) < 2 {
			continue
		}
		cold, warm := ds[0], slices.Clone(ds[1:])
		slices.Sort(warm)
		p95 := warm[(len(warm)*95+99)/100-1]
		t.Logf("%-72s %9s %9s %9s %9s %9s", p, ms(cold), ms(warm[0]), ms(warm[len(warm)/2]), ms(p95), ms(warm[len(warm)-1]))
	}
}

func ms(d time.Duration) string { return (d.Round(100 * time.Microsecond)).String() }

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
