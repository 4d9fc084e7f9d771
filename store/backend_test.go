package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"muster/store/pg"
)

// The store's tests run on SQLite and, when MUSTER_TEST_POSTGRES names a
// server, again on PostgreSQL (as storetest.Main does for the other
// packages, which this package cannot import).

const testEnv = "MUSTER_TEST_POSTGRES"

var testBackend = "sqlite"

func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv(testEnv) != "" {
		testBackend = "postgres"
		fmt.Println("store: running the tests again on PostgreSQL (" + testEnv + ")")
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

func TestBackends(t *testing.T) {
	if os.Getenv(testEnv) == "" {
		t.Skip(testEnv + " is not set: these tests ran on SQLite only")
	}
	t.Logf("these tests run on SQLite and on PostgreSQL (this run: %s)", testBackend)
}

// testTarget returns a fresh, migrated store target: a file, or a schema
// of its own in the test PostgreSQL server, dropped at the test's end.
func testTarget(t testing.TB) string {
	t.Helper()
	if testBackend != "postgres" {
		return filepath.Join(t.TempDir(), FileName)
	}
	ctx := context.Background()
	u, drop, err := pg.NewSchema(ctx, os.Getenv(testEnv), "t")
	if err != nil {
		t.Fatalf("test schema: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	s, err := OpenWith(ctx, u, Options{Migrate: true, IndexDir: t.TempDir()})
	if err != nil {
		t.Fatalf("migrate test schema: %v", err)
	}
	s.Close()
	return u
}

// openTarget opens a store made by testTarget (a second opening is
// another process's view of it).
func openTarget(t testing.TB, target string) *Store {
	t.Helper()
	o := Options{}
	if IsURL(target) {
		o.IndexDir = t.TempDir()
	}
	s, err := OpenWith(context.Background(), target, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func skipUnlessSQLite(t *testing.T, why string) {
	t.Helper()
	if testBackend != "sqlite" {
		t.Skip("SQLite only: " + why)
	}
}
