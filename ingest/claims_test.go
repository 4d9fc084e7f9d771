package ingest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"muster/store/pg"
	"muster/store/storetest"
)

// The hourly pruning (Files.Prune, on the leader) also deletes the file
// claims an instance that died left behind (PostgreSQL), and says so.
func TestPruneDeletesStaleFileClaims(t *testing.T) {
	if !storetest.Postgres() {
		t.Skip("PostgreSQL only: SQLite keeps no file claims (one instance)")
	}
	ctx := context.Background()
	target := storetest.Target(t)
	in := New(storetest.OpenAt(t, target))
	in.TempDir = t.TempDir()
	log := &syncBuffer{}
	f := &Files{Ingester: in, Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(log, nil))}
	db, err := pg.Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO file_claims(name, claimed_ms)
		VALUES('default/hr/spool/0/dead.csv', (extract(epoch FROM clock_timestamp()) * 1000)::bigint - 3600000)`); err != nil {
		t.Fatal(err)
	}
	release, ok, err := in.Store.ClaimFile(ctx, "default/hr/spool/0/live.csv", "")
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	defer release()
	f.Prune(time.Now())
	var left string
	if err := db.QueryRowContext(ctx, `SELECT string_agg(name, ',') FROM file_claims`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != "default/hr/spool/0/live.csv" {
		t.Fatalf("claims left: %s, want only the held one", left)
	}
	if !strings.Contains(log.String(), "pruned stale file claims") || !strings.Contains(log.String(), "removed=1") {
		t.Fatalf("log: %s", log.String())
	}
}
