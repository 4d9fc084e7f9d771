package ingest

import (
	"context"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// The pipeline's tests run on SQLite, and again on PostgreSQL when
// MUSTER_TEST_POSTGRES names a server (storetest).
func TestMain(m *testing.M) { storetest.Main(m) }

func TestBackends(t *testing.T) { storetest.Report(t) }

// MustStore opens a fresh store (a file in a temp dir, or a schema of its
// own on PostgreSQL), closed at the end of the test.
func MustStore(t testing.TB) *store.Store {
	t.Helper()
	return storetest.Open(t)
}

// MustIngester returns an Ingester over a fresh store.
func MustIngester(t testing.TB) *Ingester {
	t.Helper()
	in := New(MustStore(t))
	in.TempDir = t.TempDir()
	return in
}

// rec builds a valid record: "email first last [group...]".
func rec(line int, email, first, last string, groups ...string) schema.Record {
	return schema.Record{Line: line, Email: email, Key: testKey(email), FirstName: first, LastName: last, Groups: groups}
}

// testKey is the key schema's normalisation gives plain ASCII addresses.
func testKey(email string) string {
	local, domain, _ := strings.Cut(strings.TrimSpace(email), "@")
	return strings.ToLower(local) + "@" + strings.ToLower(domain)
}

func inactive(r schema.Record) schema.Record {
	r.Status = schema.StatusInactive
	return r
}

func invalid(r schema.Record, why string) schema.Record {
	r.Problems = append(r.Problems, schema.Problem{Line: r.Line, Code: "bad", Severity: schema.SeverityError, Message: why})
	return r
}

func src(name string, priority int, authoritative bool) SourceConfig {
	// small test sources would trip the mass-deletion share: guard tests set it
	return SourceConfig{Name: name, Priority: priority, Authoritative: authoritative, MaxRemovePercent: -1}
}

// MustIngest runs a full-snapshot drop of records and returns its report.
func MustIngest(t testing.TB, in *Ingester, org string, cfg SourceConfig, name string, recs ...schema.Record) *Report {
	t.Helper()
	rep, err := in.Ingest(context.Background(), Drop{Org: org, Source: cfg, Name: name, Records: &schema.SliceStream{Records: recs}}, Options{})
	if err != nil {
		t.Fatalf("ingest %s: %v", name, err)
	}
	return rep
}

func mustDecision(t testing.TB, rep *Report, want Decision) {
	t.Helper()
	if rep.Decision != want {
		t.Fatalf("decision = %s (%s), want %s", rep.Decision, rep.Reason, want)
	}
}

// MustRecipient returns the recipient with key in org.
func MustRecipient(t testing.TB, in *Ingester, org, key string) store.Recipient {
	t.Helper()
	o, err := in.Store.LookupOrg(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	r, err := in.Store.Recipient(context.Background(), o.ID, testKey(key))
	if err != nil {
		t.Fatalf("recipient %s: %v", key, err)
	}
	return r
}

// groupsOf names a recipient's groups as "source/name".
func groupsOf(t testing.TB, in *Ingester, org string, r store.Recipient) []string {
	t.Helper()
	o, _ := in.Store.LookupOrg(context.Background(), org)
	gs, err := in.Store.GroupsByID(context.Background(), o.ID, r.GroupIDs)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range r.GroupIDs {
		out = append(out, gs[id].SourceName+"/"+gs[id].Name)
	}
	return out
}

// activeKeys lists the keys of the org's active recipients.
func activeKeys(t testing.TB, in *Ingester, org string) []string {
	t.Helper()
	o, err := in.Store.LookupOrg(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = in.Store.EachRecipient(context.Background(), o.ID, store.RecipientFilter{Status: store.StatusActive}, 0,
		func(r store.Recipient) error { out = append(out, r.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const org = schema.DefaultOrg

// storedFile is what a store keeps on disk, for tests that look for a
// value that must not be stored.
type storedFile struct {
	name string
	data []byte
}

// storedBytes returns everything the store holds: SQLite's file and WAL
// (the store closed first, so it is all written), or PostgreSQL's schema
// dumped by pg_dump, with its bytea values decoded. The first entry holds
// the snapshot rows.
func storedBytes(t testing.TB, st *store.Store) []storedFile {
	t.Helper()
	if !store.IsURL(st.Target()) {
		st.Close()
		var out []storedFile
		for _, f := range []string{st.Path(), st.Path() + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			out = append(out, storedFile{f, b})
		}
		return out
	}
	u, err := url.Parse(st.Target())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schemaName := q.Get("search_path")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	dump, err := exec.Command("pg_dump", "--data-only", "--schema="+schemaName, u.String()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	var decoded []byte
	for _, m := range regexp.MustCompile(`\\\\x([0-9a-f]+)`).FindAllSubmatch(dump, -1) {
		b, _ := hex.DecodeString(string(m[1]))
		decoded = append(append(decoded, b...), '\n')
	}
	return []storedFile{{"pg_dump of " + schemaName + " (bytea decoded)", append(decoded, dump...)}}
}
