package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"muster/samples/gen"
	"muster/store"
)

// crashRows is the size of the drop the crash test kills the binary on:
// large enough that an apply takes many statements, small enough for CI.
const crashRows = 20000

// MustBuild builds the real muster binary into a temp dir.
func MustBuild(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "muster")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build muster: %v", err)
	}
	return bin
}

// MustGen writes a generated export of rows people for day.
func MustGen(t testing.TB, dir string, rows, day int) string {
	t.Helper()
	p := filepath.Join(dir, "day"+string(rune('0'+day))+".csv")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gen.Write(f, gen.Options{Rows: rows, Seed: 1, Day: day}); err != nil {
		t.Fatal(err)
	}
	return p
}

func digest(t testing.TB, dataDir string) string {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dataDir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// copyStore copies a closed store's files, and its snapshot index files
// (a cache the next drop reads instead of the store), to a new data dir.
func copyStore(t testing.TB, from string) string {
	t.Helper()
	to := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(from, store.FileName+"-index", "*"))
	if len(files) > 0 {
		if err := os.Mkdir(filepath.Join(to, store.FileName+"-index"), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{store.FileName, store.FileName + "-wal"} {
		files = append(files, filepath.Join(from, name))
	}
	for _, p := range files {
		name, _ := filepath.Rel(from, p)
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func ingestCmd(bin, data, file string) *exec.Cmd {
	cmd := exec.Command(bin, "ingest", "-source", "hr", "-max-remove", "-1", "-max-remove-percent", "-1", "-data", data, file)
	cmd.Env = append(os.Environ(), "MUSTER_DATA=")
	return cmd
}

// TestCrashDuringApply kills the real binary with SIGKILL at several points
// of a drop's apply and shows the store is then exactly as before the drop
// (or, once committed, as after it), and that running the drop again
// applies it once.
func TestCrashDuringApply(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := MustBuild(t)
	files := t.TempDir()
	day0, day1 := MustGen(t, files, crashRows, 0), MustGen(t, files, crashRows, 1)
	base := t.TempDir()
	if out, err := ingestCmd(bin, base, day0).CombinedOutput(); err != nil {
		t.Fatalf("day0: %v\n%s", err, out)
	}
	before := digest(t, base)
	// The next day's diff reads the snapshot index file day0's apply wrote;
	// a kill after the apply wrote the next one but before it committed
	// must leave that file unused.
	if m, _ := filepath.Glob(filepath.Join(base, store.FileName+"-index", "*.idx")); len(m) != 1 {
		t.Fatalf("snapshot index files after day0: %v, want one", m)
	}
	ref := copyStore(t, base)
	if out, err := ingestCmd(bin, ref, day1).CombinedOutput(); err != nil {
		t.Fatalf("day1: %v\n%s", err, out)
	}
	after := digest(t, ref)
	if before == after {
		t.Fatal("day1 changed nothing: the test would prove nothing")
	}
	// An empty store (migrated) is the state before the first ingest.
	empty := t.TempDir()
	digest(t, empty)
	first := copyStore(t, base)
	t.Run("first-ingest", func(t *testing.T) { crashPoints(t, bin, empty, day0, digest(t, empty), digest(t, first)) })
	t.Run("next-day", func(t *testing.T) { crashPoints(t, bin, base, day1, before, after) })
}

// crashPoints kills `muster ingest file` on a copy of base at each point.
func crashPoints(t *testing.T, bin, base, file, before, after string) {
	day1 := file
	for _, point := range []string{"apply-begin", "apply-half", "apply-commit", "apply-done"} {
		t.Run(point, func(t *testing.T) {
			data := copyStore(t, base)
			killAt(t, ingestCmd(bin, data, day1), point)
			want, state := before, "before"
			if point == "apply-done" {
				want, state = after, "after"
			}
			if got := digest(t, data); got != want {
				t.Fatalf("killed at %s: the store is neither exactly the state %s the drop", point, state)
			}
			// Run again: applied exactly once.
			out, err := ingestCmd(bin, data, day1).CombinedOutput()
			if err != nil {
				t.Fatalf("re-run: %v\n%s", err, out)
			}
			wantWord := "applied"
			if point == "apply-done" {
				wantWord = "duplicate"
			}
			if !strings.Contains(string(out), ": "+wantWord) {
				t.Fatalf("re-run after a kill at %s: want %s\n%s", point, wantWord, out)
			}
			got, received, _ := storeState(t, data)
			if got != after {
				t.Fatalf("after the re-run the store differs from one clean apply")
			}
			// The killed run's drop is closed by the re-run, not left
			// "received" forever.
			if received != 0 {
				t.Fatalf("after the re-run: %d drops still received", received)
			}
		})
	}
}

// killAt runs cmd with the crash hook set to point and kills it with
// SIGKILL once it is there.
func killAt(t *testing.T, cmd *exec.Cmd, point string) {
	t.Helper()
	cmd.Env = append(cmd.Env, "MUSTER_TEST_CRASH_AT="+point)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "MUSTER_TEST_CRASH_AT "+point) {
				reached <- true
				break
			}
		}
		io.Copy(io.Discard, stderr)
		close(reached)
	}()
	select {
	case ok := <-reached:
		if !ok {
			cmd.Wait()
			t.Fatalf("the binary exited without reaching %s", point)
		}
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the binary never reached %s", point)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}
