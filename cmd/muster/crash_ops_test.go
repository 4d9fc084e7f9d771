package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"muster/store"
)

// opCmd runs a muster command on the store in data.
func opCmd(bin, data string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append(args, "-data", data)...)
	cmd.Env = append(os.Environ(), "MUSTER_DATA=")
	return cmd
}

// storeState returns the digest of the store in data, how many of its
// drops are still "received" (recorded, never decided), and whether source
// hr is marked removed.
func storeState(t *testing.T, data string) (digest string, received int, removed bool) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if digest, err = st.Digest(ctx); err != nil {
		t.Fatal(err)
	}
	org, err := st.LookupOrg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	drops, _, err := st.Drops(ctx, org.ID, store.DropFilter{Status: store.DropReceived})
	if err != nil {
		t.Fatal(err)
	}
	src, err := st.LookupSource(ctx, org.ID, "hr")
	if err != nil {
		t.Fatal(err)
	}
	return digest, len(drops), src.RemovedAt != ""
}

// TestCrashDuringRollbackAndRemoval kills the real binary with SIGKILL at
// several points of `sources rollback` and `sources remove` and shows that
// each is held by the store exactly once or not at all: after the kill the
// store is exactly as before, with no drop left "received" forever and the
// source not half removed; run again, the operation applies once and the
// store is as after one clean run.
func TestCrashDuringRollbackAndRemoval(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := MustBuild(t)
	files := t.TempDir()
	day0, day1 := MustGen(t, files, 2000, 0), MustGen(t, files, 2000, 1)
	base := t.TempDir()
	for _, f := range []string{day0, day1} {
		if out, err := ingestCmd(bin, base, f).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", f, err, out)
		}
	}
	before, _, _ := storeState(t, base)
	for _, op := range []struct {
		name    string
		args    []string
		removed bool
	}{
		{"rollback", []string{"sources", "rollback", "-to", "1", "hr"}, false},
		{"remove", []string{"sources", "remove", "-yes", "hr"}, true},
	} {
		t.Run(op.name, func(t *testing.T) {
			ref := copyStore(t, base)
			if out, err := opCmd(bin, ref, op.args...).CombinedOutput(); err != nil {
				t.Fatalf("clean %s: %v\n%s", op.name, err, out)
			}
			after, received, removed := storeState(t, ref)
			if after == before || received != 0 || removed != op.removed {
				t.Fatalf("clean %s: changed %v, %d drops received, source removed %v (want %v)",
					op.name, after != before, received, removed, op.removed)
			}
			for _, point := range []string{"apply-begin", "apply-half", "apply-commit"} {
				t.Run(point, func(t *testing.T) {
					data := copyStore(t, base)
					killAt(t, opCmd(bin, data, op.args...), point)
					got, received, removed := storeState(t, data)
					if got != before || removed {
						t.Fatalf("killed at %s: the store is not exactly as before the %s (source removed: %v)", point, op.name, removed)
					}
					if received != 0 {
						t.Fatalf("killed at %s: %d drops left received forever", point, received)
					}
					if out, err := opCmd(bin, data, op.args...).CombinedOutput(); err != nil {
						t.Fatalf("re-run: %v\n%s", err, out)
					}
					got, received, removed = storeState(t, data)
					if got != after || received != 0 || removed != op.removed {
						t.Fatalf("after the re-run the store differs from one clean %s", op.name)
					}
				})
			}
		})
	}
}
