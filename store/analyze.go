package store

import (
	"sync"

	"muster/store/pg"
)

// PostgreSQL plans a statement on the statistics of its tables, which
// autovacuum gathers some time after a large write (within a minute or
// so). Until then a table filled by a first ingest looks empty to the
// planner, and the next apply's reads by key (a few hundred keys a
// statement) were planned as a scan of every row of the organisation: 330
// ms a statement on a million recipients instead of 14. A transaction that
// copied many rows into a table therefore gathers its statistics right
// after it commits, snapshot and recipients at once (ANALYZE reads a
// sample of 30,000 rows: 0.19 to 0.31 s each at a million people). Every
// column: an ANALYZE of some columns leaves the table's count of changes
// since its last analysis, and autovacuum then analyses the whole table
// again within a minute (seen at 200k: autoanalyze_count 1), work done
// twice. SQLite plans on its own indexes, without statistics to
// go stale (and copies nothing: this is PostgreSQL's COPY path only).

// analyzeMinRows is how many rows a transaction copies into a table before
// it may be analysed; it is then when the rows copied are a tenth of the
// rows the table had at its last analysis (autovacuum's own default
// threshold), or the table was never analysed.
const analyzeMinRows = 10000

func (x *txn) countCopied(table string, n int) {
	if x.copied == nil {
		x.copied = map[string]int{}
	}
	x.copied[table] += n
}

// analyzeCopied analyses the tables the committed transaction copied
// many rows into, each on a connection of its own, at once. Statistics
// only guide plans: a failure changes no result and is left to autovacuum.
func (x *txn) analyzeCopied() {
	var wg sync.WaitGroup
	for table, n := range x.copied {
		if n < analyzeMinRows || x.conn == nil {
			continue
		}
		var before float64
		if err := x.conn.QueryRowContext(x.ctx, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&before); err != nil {
			continue
		}
		if before < 0 || float64(n) >= before/10 {
			q := `ANALYZE ` + pg.Quote(table)
			wg.Go(func() { _, _ = x.pool.ExecContext(x.ctx, q) })
		}
	}
	wg.Wait()
	x.copied = nil
}
