package sftpserver

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestSpans(t *testing.T) {
	var s spans
	for _, r := range [][2]int64{{0, 10}, {20, 30}, {10, 20}, {50, 60}, {40, 45}, {44, 51}} {
		s = s.add(r[0], r[1])
	}
	want := spans{{0, 30}, {40, 60}}
	if !slicesEqual(s, want) {
		t.Fatalf("add: %v, want %v", s, want)
	}
	if g := s.gaps(70); !slicesEqual(g, spans{{30, 40}, {60, 70}}) {
		t.Errorf("gaps: %v", g)
	}
	if g := s.gaps(25); len(g) != 0 {
		t.Errorf("gaps(25): %v", g)
	}
	if !s.covers(5, 30) || s.covers(25, 41) {
		t.Errorf("covers wrong")
	}
	if c := s.clip(42); !slicesEqual(c, spans{{0, 30}, {40, 42}}) {
		t.Errorf("clip: %v", c)
	}
}

func slicesEqual(a, b spans) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The stager must leave exactly what plain pwrite would, whatever the order
// and size of writes: in order, shuffled nearby (as pkg/sftp's workers do),
// odd sizes straddling windows, overlapping rewrites, and stragglers.
func TestStagerMatchesPwrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	chunks := func(total, size int) []write {
		var ws []write
		for off := 0; off < total; off += size {
			n := min(size, total-off)
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			ws = append(ws, write{int64(off), b})
		}
		return ws
	}
	shuffleNear := func(ws []write, k int) []write {
		for i := range ws {
			j := min(len(ws)-1, i+rng.IntN(k))
			ws[i], ws[j] = ws[j], ws[i]
		}
		return ws
	}
	cases := map[string][]write{
		"sequential 32k":    chunks(5<<20+123, 32<<10),
		"shuffled by 8":     shuffleNear(chunks(6<<20, 32<<10), 8),
		"shuffled by 200":   shuffleNear(chunks(4<<20, 32<<10), 200),
		"odd sizes":         shuffleNear(chunks(3<<20+7, 30_001), 4),
		"large writes":      chunks(5<<20, 3<<20),
		"rewrite overlap":   append(chunks(2<<20, 32<<10), shuffleNear(chunks(1<<20+5000, 7000), 3)...),
		"backwards":         reverse(chunks(3<<20, 32<<10)),
		"sparse far writes": {{0, []byte("head")}, {9 << 20, []byte("tail")}, {5 << 20, []byte("middle")}},
	}
	// With a server-wide budget of one window (or none left), some or all
	// writes bypass the windows; the result must not change.
	budgets := map[string]*windowBudget{"": nil, " budget 1": {max: 1}, " budget 0": {max: 0}}
	for name, ws := range cases {
		for bname, budget := range budgets {
			t.Run(name+bname, func(t *testing.T) {
				stagerMatchesPwrite(t, ws, budget)
			})
		}
	}
}

type write struct {
	off  int64
	data []byte
}

// stagerMatchesPwrite applies ws with pwrite and through a stager and
// compares the two files.
func stagerMatchesPwrite(t *testing.T, ws []write, budget *windowBudget) {
	dir := t.TempDir()
	want, err := os.Create(filepath.Join(dir, "want"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := os.Create(filepath.Join(dir, "got"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	st := stager{f: got, budget: budget}
	for _, w := range ws {
		if _, err := want.WriteAt(w.data, w.off); err != nil {
			t.Fatal(err)
		}
		if err := st.writeAt(w.data, w.off); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.flushAll(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(want.Name())
	b, _ := os.ReadFile(got.Name())
	if !bytes.Equal(a, b) {
		t.Errorf("staged file differs from pwrite (%d vs %d bytes)", len(b), len(a))
	}
	if budget != nil && (budget.used.Load() != 0 || budget.peak.Load() > budget.max) {
		t.Errorf("budget: %d windows still held, peak %d of %d", budget.used.Load(), budget.peak.Load(), budget.max)
	}
}

func reverse[T any](s []T) []T {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

// BenchmarkStager compares gathering 32 KiB writes into windows with one
// pwrite per write, for a 64 MiB upload in slightly shuffled order.
func BenchmarkStager(b *testing.B) {
	const total = 64 << 20
	chunk := make([]byte, 32<<10)
	order := make([]int64, 0, total/len(chunk))
	for off := int64(0); off < total; off += int64(len(chunk)) {
		order = append(order, off)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range order {
		j := min(len(order)-1, i+rng.IntN(8))
		order[i], order[j] = order[j], order[i]
	}
	for _, mode := range []string{"pwrite", "stager"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "f"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(total)
			for b.Loop() {
				if err := f.Truncate(0); err != nil { // a new file each time, as for an upload
					b.Fatal(err)
				}
				st := stager{f: f}
				for _, off := range order {
					if mode == "pwrite" {
						_, err = f.WriteAt(chunk, off)
					} else {
						err = st.writeAt(chunk, off)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := st.flushAll(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
