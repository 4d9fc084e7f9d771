package store

import (
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`a=? AND b=?`, `a=$1 AND b=$2`},
		{`a=?1 AND b=?2 AND c IN (?,?,?)`, `a=$1 AND b=$2 AND c IN ($3,$4,$5)`},
		{`(?1=0 OR s.org_id=?1) AND x=?`, `($1=0 OR s.org_id=$1) AND x=$2`},
		{`x LIKE ? ESCAPE '\' AND y='?' AND z=?`, `x LIKE $1 ESCAPE '\' AND y='?' AND z=$2`},
		{`"col?"=? -- what? no
			AND a=?`, `"col?"=$1 -- what? no
			AND a=$2`},
		{`'it''s ?'=?`, `'it''s ?'=$1`},
	} {
		if got := postgresDialect.rebind(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := sqliteDialect.rebind(c.in); got != c.in {
			t.Errorf("SQLite rebind changed %q", c.in)
		}
	}
}

// TestMigrationsInStep: both backends have the same numbered migrations,
// so a schema version means the same schema on either. A migration added
// for one backend must be written for the other too.
func TestMigrationsInStep(t *testing.T) {
	lite, err := sqliteDialect.migrations()
	if err != nil {
		t.Fatal(err)
	}
	post, err := postgresDialect.migrations()
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []migration) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return strings.Join(out, " ")
	}
	if names(lite) != names(post) {
		t.Fatalf("migrations differ:\n  sqlite:   %s\n  postgres: %s\n"+
			"write each one for both: store/migrations/NNNN_x.sql and store/migrations/postgres/NNNN_x.sql", names(lite), names(post))
	}
}
