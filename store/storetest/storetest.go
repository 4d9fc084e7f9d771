// Package storetest gives tests a store on the backend of the run. A
// package's tests run once on SQLite and, when MUSTER_TEST_POSTGRES names
// a PostgreSQL server (`.ci/run` starts one), once more on PostgreSQL
// (Main); each test gets a fresh store: a file in its temporary folder, or
// a schema of its own in that server, dropped at its end, so tests stay
// independent and may run in parallel.
package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"muster/store"
	"muster/store/pg"
)

// Env is the environment variable naming the test PostgreSQL server
// (postgres://user@host:port/db).
const Env = "MUSTER_TEST_POSTGRES"

// Backend is the backend of the current run: "sqlite" or "postgres".
var Backend = "sqlite"

// Postgres reports whether the current run is on PostgreSQL.
func Postgres() bool { return Backend == "postgres" }

// URL returns the test server's URL, "" when none is set.
func URL() string { return os.Getenv(Env) }

// Main runs the package's tests on SQLite, then on PostgreSQL if Env is
// set, and exits: call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if URL() != "" {
		Backend = "postgres"
		fmt.Println("storetest: running the tests again on PostgreSQL (" + Env + ")")
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

// Report says, in the test's log, which backends the package's tests ran
// on, and skips (saying why) when PostgreSQL was not among them: every
// package that calls Main has a TestBackends that calls it.
func Report(t *testing.T) {
	if URL() == "" {
		t.Skip(Env + " is not set: these tests ran on SQLite only")
	}
	t.Logf("these tests run on SQLite and on PostgreSQL (this run: %s)", Backend)
}

// Target returns a fresh, migrated store target for the test: a file in a
// temporary folder, or the URL of a schema of its own.
func Target(t testing.TB) string {
	t.Helper()
	if !Postgres() {
		return filepath.Join(t.TempDir(), store.FileName)
	}
	return NewSchema(t)
}

// NewSchema returns the URL of a new, migrated schema in the test
// PostgreSQL server, dropped when the test ends. It fails the test when
// Env is not set.
func NewSchema(t testing.TB) string {
	t.Helper()
	if URL() == "" {
		t.Fatal(Env + " is not set")
	}
	ctx := context.Background()
	u, drop, err := pg.NewSchema(ctx, URL(), "t")
	if err != nil {
		t.Fatalf("test schema: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	st, err := store.OpenWith(ctx, u, store.Options{Migrate: true, IndexDir: t.TempDir()})
	if err != nil {
		t.Fatalf("migrate test schema: %v", err)
	}
	st.Close()
	return u
}

// Open opens a fresh store for the test, closed when it ends.
func Open(t testing.TB) *store.Store {
	t.Helper()
	return OpenAt(t, Target(t))
}

// OpenAt opens the store at target (another process's view of a store
// the test made), closed when the test ends.
func OpenAt(t testing.TB, target string) *store.Store {
	t.Helper()
	o := store.Options{}
	if store.IsURL(target) {
		o.IndexDir = t.TempDir()
	}
	st, err := store.OpenWith(context.Background(), target, o)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
