package store

import (
	"context"
	"fmt"
	"testing"
)

// TestLargeCopyAnalysed: on PostgreSQL a transaction that copies many rows
// into a table leaves it analysed when it commits (its statistics count
// them), so the next statements are planned on what it holds; a small one
// leaves the statistics to autovacuum.
func TestLargeCopyAnalysed(t *testing.T) {
	if testBackend != "postgres" {
		t.Skip("PostgreSQL only: SQLite plans without statistics gathered by ANALYZE")
	}
	ctx := context.Background()
	s, org, src := mustOrgSource(t)
	write := func(from, n int) {
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		as := make([]Assertion, n)
		for i := range as {
			as[i] = Assertion{SourceID: src.ID, Seq: 1, DropID: 1, Key: fmt.Sprintf("p%07d@example.com", from+i)}
		}
		if err := tx.InsertAssertions(as); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	analysed := func() (float64, int) {
		var tuples float64
		var count int
		if err := s.db.QueryRow(`SELECT c.reltuples, s.analyze_count FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
			WHERE c.oid = to_regclass('snapshot')`).Scan(&tuples, &count); err != nil {
			t.Fatal(err)
		}
		return tuples, count
	}
	// analyze_count counts ANALYZE commands, not autovacuum's.
	write(0, 100)
	if _, count := analysed(); count != 0 {
		t.Fatalf("100 rows copied: the table was analysed %d times, want left to autovacuum", count)
	}
	write(100, analyzeMinRows)
	if tuples, count := analysed(); count != 1 || tuples != float64(analyzeMinRows+100) {
		t.Fatalf("%d rows copied: analysed %d times, the statistics count %v rows, want once and %d", analyzeMinRows, count, tuples, analyzeMinRows+100)
	}
}
