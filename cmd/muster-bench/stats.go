package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// sample is one measured run: wall time, CPU time (user and system) and
// peak resident memory.
type sample struct {
	wall, user, sys time.Duration
	rssKB           int64
}

func (s sample) cpu() time.Duration { return s.user + s.sys }

// measure runs cmd to the end, its output to out (nil: discarded), and
// returns what it cost.
func measure(cmd *exec.Cmd, out io.Writer) (sample, error) {
	var stderr strings.Builder
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	s := sample{wall: wall, user: cmd.ProcessState.UserTime(), sys: cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rssKB = ru.Maxrss
	}
	return s, nil
}

// spread is the min, median and max of a series.
type spread struct{ min, med, max float64 }

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{s[0], med, s[len(s)-1]}
}

func (s spread) format(unit string, prec int) string {
	return fmt.Sprintf("%.*f%s %.*f%s %.*f%s", prec, s.min, unit, prec, s.med, unit, prec, s.max, unit)
}

// series are the samples of one kind of run, one per round.
type series []sample

func (ss series) pick(f func(sample) float64) []float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	return v
}

func (ss series) wall() spread {
	return spreadOf(ss.pick(func(s sample) float64 { return s.wall.Seconds() }))
}
func (ss series) cpu() spread {
	return spreadOf(ss.pick(func(s sample) float64 { return s.cpu().Seconds() }))
}
func (ss series) rss() spread {
	return spreadOf(ss.pick(func(s sample) float64 { return float64(s.rssKB) / 1024 }))
}

// ratios divides a by b round by round (the runs of one round ran next to
// each other, so they met the same load).
func ratios(a, b series, f func(sample) float64) spread {
	var v []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d > 0 {
			v = append(v, f(a[i])/d)
		}
	}
	return spreadOf(v)
}

func wallOf(s sample) float64 { return s.wall.Seconds() }
func cpuOf(s sample) float64  { return s.cpu().Seconds() }

// loadavg returns the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// table prints rows of cells aligned in columns.
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// summary collects one line per figure for the closing Markdown table.
type summary struct{ lines [][5]string }

func (s *summary) add(work, muster, anchor, ratio, target string) {
	s.lines = append(s.lines, [5]string{work, muster, anchor, ratio, target})
}

func (s *summary) print(w io.Writer) {
	fmt.Fprintln(w, "| work | muster (median) | anchor (median) | ratio per round, median (min to max) | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, l := range s.lines {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", l[0], l[1], l[2], l[3], l[4])
	}
}

func ratioText(r spread) string {
	return fmt.Sprintf("%.2fx (%.2f to %.2f)", r.med, r.min, r.max)
}
